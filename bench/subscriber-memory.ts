/**
 * Memory held by a subscription whose client reads nothing while 1,000 objects change 100 times
 * each (100,000 events): pending events are coalesced per object, so it holds 1,000.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { informerStream } from '../src/graphql/stream';
import type { Informer, InformerListener } from '../src/kube/informer';

/** An in-memory event source with the two methods informerStream uses. */
function source() {
  const listeners = new Set<InformerListener<KubernetesObject>>();
  return {
    informer: { on: (l: InformerListener<KubernetesObject>) => (listeners.add(l), () => listeners.delete(l)), list: () => [] } as unknown as Informer<KubernetesObject>,
    emit: (o: KubernetesObject) => listeners.forEach((l) => l({ type: 'MODIFIED', object: o })),
  };
}

export async function subscriberMemory(): Promise<Record<string, string | number>[]> {
  const { informer, emit } = source();
  const stream = informerStream(informer, () => true);
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  for (let round = 0; round < 100; round++) {
    for (let i = 0; i < 1000; i++) {
      emit({ apiVersion: 'v1', kind: 'X', metadata: { name: `o${i}`, namespace: 'n', resourceVersion: `${round}`, labels: { round: String(round) } } });
    }
  }
  global.gc?.();
  const after = process.memoryUsage().heapUsed;
  let pending = 0;
  const drain = (async () => {
    for await (const _ of stream) if (++pending === 1000) break;
  })();
  await drain;
  return [{ scenario: 'slow subscriber, 1,000 objects × 100 changes', eventsEmitted: 100_000, eventsHeld: pending, heapGrowthKiB: Math.round((after - before) / 1024) }];
}
