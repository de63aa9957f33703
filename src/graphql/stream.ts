/**
 * Subscriptions fed by the shared informers (never by polling, never a watch per subscriber):
 * the first events are the current state (as ADDED, like a Kubernetes watch started without a
 * resourceVersion), then every change with its type.
 *
 * Fan-out: one listener per informer (a {@link Hub}) routes each event to the streams that can
 * want it, by object key, by namespace or to those watching everything, so an event costs
 * O(interested streams), not O(all streams); it builds one {@link WatchEvent} per informer event
 * and every stream queues that same object, which is what lets ./shared-execution.ts execute the
 * GraphQL selection once per event for all subscribers of one document and identity.
 *
 * Memory is bounded: pending events are coalesced per object key (a subscriber that falls behind
 * receives the latest state of each object, not every intermediate one), and the current state is
 * replayed from an array of references taken at subscribe time (not queued event by event). A
 * stream whose pending changes exceed `maxPending` distinct objects (SUBSCRIPTION_MAX_PENDING,
 * default 10,000) is ended with RATE_LIMITED ("subscribe again"), as kube-apiserver ends a watcher
 * too slow to keep up.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Informer, InformerEventType } from '../kube/informer';
import { objectKey } from '../kube/informer';
import { Gauge } from 'prom-client';
import { metricsRegistry } from '../metrics';
import { RateLimitedError } from '../service/errors';
import { envInt } from '../env';

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

/** Which events a stream can want: the hub only offers it those (its filter still decides). */
export interface StreamRoute {
  /** Only objects of this namespace. */
  namespace?: string;
  /** Only this object (with `namespace`). */
  name?: string;
}

export interface StreamOptions {
  signal?: AbortSignal;
  route?: StreamRoute;
  /** Distinct objects with undelivered changes beyond which the stream ends (default SUBSCRIPTION_MAX_PENDING or 10,000). */
  maxPending?: number;
}

type Sink<T> = (e: WatchEvent<T>) => void;

/**
 * The one informer listener serving every stream of an informer: routes each event to the sinks
 * registered for its key, its namespace, or everything. Registered while it has sinks.
 */
class Hub<T extends KubernetesObject> {
  private readonly byKey = new Map<string, Set<Sink<T>>>();
  private readonly byNamespace = new Map<string, Set<Sink<T>>>();
  private readonly everything = new Set<Sink<T>>();
  private sinks = 0;
  private off?: () => void;

  constructor(private readonly informer: Informer<T>) {}

  add(route: StreamRoute | undefined, sink: Sink<T>): () => void {
    const set = route?.namespace && route.name ? bucket(this.byKey, `${route.namespace}/${route.name}`) : route?.namespace ? bucket(this.byNamespace, route.namespace) : this.everything;
    set.add(sink);
    if (this.sinks++ === 0) this.off = this.informer.on((e) => this.dispatch(e.type, e.object));
    return () => {
      if (!set.delete(sink)) return;
      if (--this.sinks === 0) {
        this.off?.();
        this.off = undefined;
      }
    };
  }

  private dispatch(type: InformerEventType, object: T): void {
    // One event object for every stream (shared, never mutated).
    const e: WatchEvent<T> = { type, object, resourceVersion: object.metadata?.resourceVersion ?? '' };
    const ns = object.metadata?.namespace ?? '';
    for (const set of [this.byKey.get(objectKey(object)), this.byNamespace.get(ns), this.everything]) if (set) for (const sink of set) sink(e);
  }
}

function bucket<K, V>(m: Map<K, Set<V>>, k: K): Set<V> {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  return s;
}

const hubs = new WeakMap<object, Hub<KubernetesObject>>();

function hubOf<T extends KubernetesObject>(informer: Informer<T>): Hub<T> {
  let h = hubs.get(informer);
  if (!h) hubs.set(informer, (h = new Hub(informer as unknown as Informer<KubernetesObject>)));
  return h as unknown as Hub<T>;
}

/** One ADDED event per object (replays of the current state share it across streams, like hub events). */
const addedEvents = new WeakMap<object, WatchEvent<KubernetesObject>>();
function addedEvent<T extends KubernetesObject>(object: T): WatchEvent<T> {
  let e = addedEvents.get(object) as WatchEvent<T> | undefined;
  if (!e) addedEvents.set(object, (e = { type: 'ADDED', object, resourceVersion: object.metadata?.resourceVersion ?? '' }) as WatchEvent<KubernetesObject>);
  return e;
}


/**
 * An async iterable of events of `informer` matching `filter`, starting with the current state.
 * Ends when the consumer stops (return()), `signal` aborts, or it falls too far behind
 * (see the module comment). `route` narrows what the informer's hub offers it.
 */
export function informerStream<T extends KubernetesObject>(
  informer: Informer<T>,
  filter: (obj: T) => boolean,
  signalOrOptions?: AbortSignal | StreamOptions,
): InformerStream<T> {
  const opts: StreamOptions = signalOrOptions instanceof AbortSignal ? { signal: signalOrOptions } : (signalOrOptions ?? {});
  const { signal, route } = opts;
  const maxPending = opts.maxPending ?? envInt('SUBSCRIPTION_MAX_PENDING', 10_000, 1);
  const pending = new Map<string, WatchEvent<T>>();
  let wake: (() => void) | undefined;
  let done = false;
  let ending: StreamEnd | undefined;
  const finishers: (() => void)[] = [];
  const queue = (e: WatchEvent<T>) => {
    if (done || ending) return;
    const key = objectKey(e.object);
    const prev = pending.get(key);
    // Coalesce: one pending event per object, carrying its latest state and the latest type, except
    // that an ADDED not yet delivered stays ADDED when the object is then modified.
    if (prev && prev.type === 'ADDED' && e.type === 'MODIFIED') e = addedEvent(e.object);
    pending.delete(key);
    pending.set(key, e);
    if (pending.size > maxPending) {
      iterator.end(new RateLimitedError(`this subscription fell behind by more than ${maxPending} changed objects; subscribe again (the first events are the current state)`, 1));
    }
    wake?.();
  };
  const push = (type: InformerEventType, object: T) => queue({ type, object, resourceVersion: object.metadata?.resourceVersion ?? '' });
  const off = hubOf(informer).add(route, (e) => {
    if (filter(e.object)) queue(e);
  });
  // The current state: references taken now, replayed before the queued changes.
  const initial: T[] = [];
  const current = route?.namespace && route.name ? [informer.get(route.namespace, route.name)].filter((o): o is T => !!o) : route?.namespace ? informer.list(route.namespace) : informer.list();
  for (const obj of current) if (filter(obj)) initial.push(obj);
  let replayed = 0;
  const kind = informer.options?.kind ?? 'unknown';
  liveStreams.inc({ kind });
  const finish = () => {
    if (done) return;
    done = true;
    liveStreams.dec({ kind });
    off();
    initial.length = 0;
    pending.clear();
    wake?.();
    for (const f of finishers.splice(0)) f();
  };
  signal?.addEventListener('abort', finish, { once: true });

  /** The next event to deliver, if any: the current state first, then queued changes in order. */
  const take = (): WatchEvent<T> | undefined => {
    while (replayed < initial.length) {
      const obj = initial[replayed++]!;
      const key = objectKey(obj);
      const live = pending.get(key);
      if (!live) return addedEvent(obj);
      // Changed since: its latest state, still ADDED for a subscriber that has not seen it (or DELETED).
      pending.delete(key);
      return live.type === 'MODIFIED' ? addedEvent(live.object) : live;
    }
    if (replayed && replayed === initial.length) initial.length = replayed = 0;
    const first = pending.entries().next();
    if (first.done) return undefined;
    pending.delete(first.value[0]);
    return first.value[1];
  };

  const iterator: InformerStream<T> = {
    async next() {
      for (;;) {
        if (ending && !done) {
          const last = ending;
          finish();
          return { done: false, value: last };
        }
        if (done) return { done: true, value: undefined };
        const e = take();
        if (e) return { done: false, value: e };
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
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
      initial.length = replayed = 0;
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
