/**
 * Subscriptions fed by the shared informers (never by polling, never a watch per subscriber):
 * the first events are the current state (as ADDED, like a Kubernetes watch started without a
 * resourceVersion), then every change with its type.
 *
 * Memory is bounded: pending events are coalesced per object key (a subscriber that falls behind
 * receives the latest state of each object, not every intermediate one), so a slow subscriber
 * holds at most one pending event per object.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Informer, InformerEventType } from '../kube/informer';
import { objectKey } from '../kube/informer';
import { Gauge } from 'prom-client';
import { metricsRegistry } from '../metrics';

/** `gpu_runtime_subscriptions{kind}`: live subscription streams (graphql-ws and SSE alike), by the kind they watch. */
const liveStreams = new Gauge({ name: 'gpu_runtime_subscriptions', help: 'Live GraphQL subscription streams (graphql-ws and SSE), by the kind they watch', labelNames: ['kind'] as const, registers: [metricsRegistry] });

export interface WatchEvent<T> {
  type: InformerEventType;
  object: T;
  resourceVersion: string;
}

/** The last item of a stream ended by the server (access revoked): the resolver throws `error`. */
export interface StreamEnd {
  type: 'END';
  error: Error;
}

/** An informer stream the server can also feed (`push`) and end with an error (`end`). */
export interface InformerStream<T> extends AsyncIterableIterator<WatchEvent<T> | StreamEnd> {
  /** Queues `object` as an event of `type` (coalesced like informer events). */
  push(type: InformerEventType, object: T): void;
  /** Delivers `error` as the last item (pending events are dropped), then ends. */
  end(error: Error): void;
  /** Called once when the stream finishes, however it finishes. */
  onFinish(fn: () => void): void;
}

/** Live streams by the informer feeding them, so a shutdown can end them (see {@link endStreams}). */
const live = new Map<Informer<KubernetesObject>, Set<InformerStream<KubernetesObject>>>();

/**
 * Ends every live stream fed by `informers` with `error` as its last item (a graceful shutdown:
 * SSE and graphql-ws subscribers are told to resubscribe instead of being cut off silently), and
 * waits until their consumers have taken it, at most `waitMs` (default 1000).
 * @returns how many streams were ended.
 */
export async function endStreams(informers: Iterable<Informer<KubernetesObject>>, error: Error, waitMs = 1000): Promise<number> {
  const finished: Promise<void>[] = [];
  for (const inf of informers)
    for (const stream of live.get(inf) ?? []) {
      finished.push(new Promise<void>((r) => stream.onFinish(r)));
      stream.end(error);
    }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(finished), new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
  clearTimeout(timer);
  // The last message is queued on each socket; let it flush before the sockets close.
  await new Promise((r) => setTimeout(r, 50));
  return finished.length;
}

/** The event itself, or throws the error a server-ended stream carries (see {@link StreamEnd}). */
export function eventOrThrow<T>(e: WatchEvent<T> | StreamEnd): WatchEvent<T> {
  if (e.type === 'END') throw e.error;
  return e;
}

/**
 * An async iterable of events of `informer` matching `filter`, starting with the current state.
 * Ends when the consumer stops (return()) or `signal` aborts.
 */
export function informerStream<T extends KubernetesObject>(
  informer: Informer<T>,
  filter: (obj: T) => boolean,
  signal?: AbortSignal,
): InformerStream<T> {
  const pending = new Map<string, WatchEvent<T>>();
  let wake: (() => void) | undefined;
  let done = false;
  let ending: StreamEnd | undefined;
  const finishers: (() => void)[] = [];
  const push = (type: InformerEventType, object: T) => {
    const key = objectKey(object);
    const prev = pending.get(key);
    // Coalesce: one pending event per object, carrying its latest state and the latest type, except
    // that an ADDED not yet delivered stays ADDED when the object is then modified.
    let t = type;
    if (prev && prev.type === 'ADDED' && type === 'MODIFIED') t = 'ADDED';
    pending.delete(key);
    pending.set(key, { type: t, object, resourceVersion: object.metadata?.resourceVersion ?? '' });
    wake?.();
  };
  const off = informer.on((e) => {
    if (filter(e.object)) push(e.type, e.object);
  });
  for (const obj of informer.list()) if (filter(obj)) push('ADDED', obj);
  const kind = informer.options?.kind ?? 'unknown';
  liveStreams.inc({ kind });
  const finish = () => {
    if (done) return;
    done = true;
    liveStreams.dec({ kind });
    off();
    wake?.();
    for (const f of finishers.splice(0)) f();
  };
  signal?.addEventListener('abort', finish, { once: true });

  const iterator: InformerStream<T> = {
    async next() {
      while (!done && !ending && pending.size === 0) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      if (ending && !done) {
        const last = ending;
        finish();
        return { done: false, value: last };
      }
      if (done) return { done: true, value: undefined };
      const [key, event] = pending.entries().next().value as [string, WatchEvent<T>];
      pending.delete(key);
      return { done: false, value: event };
    },
    async return() {
      finish();
      return { done: true, value: undefined };
    },
    push,
    end(error: Error) {
      if (done || ending) return;
      ending = { type: 'END', error };
      pending.clear();
      wake?.();
    },
    onFinish(fn: () => void) {
      if (done) fn();
      else finishers.push(fn);
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  const key = informer as unknown as Informer<KubernetesObject>;
  const streams = live.get(key) ?? new Set();
  live.set(key, streams);
  streams.add(iterator as unknown as InformerStream<KubernetesObject>);
  finishers.push(() => {
    streams.delete(iterator as unknown as InformerStream<KubernetesObject>);
    if (!streams.size) live.delete(key);
  });
  return iterator;
}
