import { describe, expect, it } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import { buildSchema, parse } from 'graphql';
import { eventOrThrow, informerStream, type WatchEvent } from '../../src/graphql/stream';
import { sharedExecutionStats, sharedSubscribe } from '../../src/graphql/shared-execution';
import { RateLimitedError } from '../../src/service/errors';
import type { Informer, InformerEvent, InformerListener } from '../../src/kube/informer';

/** An in-memory event source with the two methods informerStream uses (no Kubernetes API involved). */
function source(initial: KubernetesObject[] = []) {
  const listeners = new Set<InformerListener<KubernetesObject>>();
  return {
    informer: {
      on: (l: InformerListener<KubernetesObject>) => (listeners.add(l), () => listeners.delete(l)),
      list: () => initial,
      get: (ns: string, name: string) => initial.find((o) => o.metadata?.namespace === ns && o.metadata?.name === name),
    } as unknown as Informer<KubernetesObject>,
    emit: (e: InformerEvent<KubernetesObject>) => listeners.forEach((l) => l(e)),
    listeners,
  };
}

const obj = (name: string, rv: string): KubernetesObject => ({ apiVersion: 'v1', kind: 'X', metadata: { name, namespace: 'n', resourceVersion: rv } });

describe('informerStream', () => {
  it('starts with the current state as ADDED, then every change in order', async () => {
    const s = source([obj('a', '1')]);
    const it = informerStream(s.informer, () => true);
    s.emit({ type: 'MODIFIED', object: obj('a', '2') });
    // a's pending ADDED is replaced by its latest state, still ADDED for the subscriber.
    expect((await it.next()).value).toMatchObject({ type: 'ADDED', resourceVersion: '2' });
    s.emit({ type: 'DELETED', object: obj('a', '3') });
    expect((await it.next()).value).toMatchObject({ type: 'DELETED', resourceVersion: '3' });
    await it.return!();
    expect(s.listeners.size).toBe(0);
  });

  it('holds at most one pending event per object for a subscriber that reads nothing', async () => {
    const s = source();
    const it = informerStream(s.informer, () => true);
    for (let round = 0; round < 100; round++) for (let i = 0; i < 1000; i++) s.emit({ type: 'MODIFIED', object: obj(`o${i}`, String(round)) });
    let n = 0;
    const seen = new Set<string>();
    for await (const item of it) {
      const e = eventOrThrow(item);
      seen.add(e.object.metadata!.name!);
      expect(e.resourceVersion).toBe('99');
      if (++n === 1000) break;
    }
    expect(seen.size).toBe(1000);
  });

  it('filters and ends when aborted', async () => {
    const s = source();
    const ac = new AbortController();
    const it = informerStream(s.informer, (o) => o.metadata?.name === 'keep', ac.signal);
    s.emit({ type: 'ADDED', object: obj('drop', '1') });
    s.emit({ type: 'ADDED', object: obj('keep', '2') });
    expect((await it.next()).value?.object.metadata?.name).toBe('keep');
    ac.abort();
    expect((await it.next()).done).toBe(true);
  });

  it('serves N streams from one informer listener, offering each only the events of its route, and the same event object to all', async () => {
    const s = source();
    const a = informerStream(s.informer, () => true, { route: { namespace: 'n', name: 'a' } });
    const b = informerStream(s.informer, () => true, { route: { namespace: 'n' } });
    const c = informerStream(s.informer, () => true, { route: { namespace: 'other' } });
    const all = informerStream(s.informer, () => true);
    expect(s.listeners.size).toBe(1);
    s.emit({ type: 'MODIFIED', object: obj('a', '5') });
    const [ea, eb, eall] = [(await a.next()).value, (await b.next()).value, (await all.next()).value] as WatchEvent<KubernetesObject>[];
    expect(ea).toMatchObject({ type: 'MODIFIED', resourceVersion: '5' });
    expect(eb).toBe(ea);
    expect(eall).toBe(ea);
    // `c` (another namespace) was offered nothing: nothing is pending for it.
    const next = c.next();
    const raced = await Promise.race([next, new Promise((r) => setTimeout(() => r('nothing'), 20))]);
    expect(raced).toBe('nothing');
    for (const x of [a, b, c, all]) await x.return!();
    expect(s.listeners.size).toBe(0);
    expect((await next).done).toBe(true);
  });

  it('ends a stream that falls behind by more than maxPending distinct objects with RATE_LIMITED', async () => {
    const s = source();
    const it = informerStream(s.informer, () => true, { maxPending: 10 });
    for (let i = 0; i < 10; i++) s.emit({ type: 'MODIFIED', object: obj(`o${i}`, '1') });
    for (let i = 0; i < 10; i++) s.emit({ type: 'MODIFIED', object: obj(`o${i}`, '2') }); // coalesced: still 10
    s.emit({ type: 'MODIFIED', object: obj('o10', '1') }); // the 11th distinct object
    const last = (await it.next()).value as { type: string; error: Error };
    expect(last.type).toBe('END');
    expect(last.error).toBeInstanceOf(RateLimitedError);
    expect(last.error.message).toContain('fell behind by more than 10');
    expect((await it.next()).done).toBe(true);
    expect(s.listeners.size).toBe(0);
  });
});

describe('shared subscription execution', () => {
  it('executes an event once for every subscriber of one document, variables and identity; another identity executes its own', async () => {
    const s = source([obj('a', '1')]);
    let resolved = 0;
    const schema = buildSchema('type Query { x: Int } type Ev { type: String, name: String } type Subscription { changed(tag: String): Ev }');
    const root = {
      changed: { subscribe: () => informerStream(s.informer, () => true), resolve: (e: WatchEvent<KubernetesObject>) => (resolved++, { type: e.type, name: e.object.metadata!.name }) },
    };
    (schema.getSubscriptionType()!.getFields().changed as unknown as { subscribe: unknown }).subscribe = root.changed.subscribe;
    (schema.getSubscriptionType()!.getFields().changed as unknown as { resolve: unknown }).resolve = root.changed.resolve;
    const document = parse('subscription S($tag: String) { changed(tag: $tag) { type name } }');
    const ctx = (username: string) => ({ svc: { caller: { user: { username, groups: [] } } } });
    const sub = async (username: string, tag: string) =>
      (await sharedSubscribe({ schema, document, contextValue: ctx(username), variableValues: { tag } })) as AsyncIterableIterator<{ data?: unknown }>;
    const before = { ...sharedExecutionStats };
    const subs = [await sub('alice', 't'), await sub('alice', 't'), await sub('alice', 't'), await sub('bob', 't'), await sub('alice', 'other')];
    const firsts = await Promise.all(subs.map((x) => x.next()));
    for (const f of firsts) expect(f.value.data).toEqual({ changed: { type: 'ADDED', name: 'a' } });
    s.emit({ type: 'MODIFIED', object: obj('a', '2') });
    const seconds = await Promise.all(subs.map((x) => x.next()));
    for (const f of seconds) expect(f.value.data).toEqual({ changed: { type: 'MODIFIED', name: 'a' } });
    // Three groups (alice/t, bob/t, alice/other), two events: six executions for ten deliveries.
    expect(resolved).toBe(6);
    expect(sharedExecutionStats.executed - before.executed).toBe(6);
    expect(sharedExecutionStats.reused - before.reused).toBe(4);
    expect(seconds[0]!.value).toBe(seconds[1]!.value);
    expect(seconds[0]!.value).not.toBe(seconds[3]!.value);
    for (const x of subs) await x.return!();
    expect(s.listeners.size).toBe(0);
  });
});
