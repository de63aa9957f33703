import { describe, expect, it } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import { eventOrThrow, informerStream } from '../../src/graphql/stream';
import type { Informer, InformerEvent, InformerListener } from '../../src/kube/informer';

/** An in-memory event source with the two methods informerStream uses (no Kubernetes API involved). */
function source(initial: KubernetesObject[] = []) {
  const listeners = new Set<InformerListener<KubernetesObject>>();
  return {
    informer: { on: (l: InformerListener<KubernetesObject>) => (listeners.add(l), () => listeners.delete(l)), list: () => initial } as unknown as Informer<KubernetesObject>,
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
});
