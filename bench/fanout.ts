/**
 * The service's own cost of fanning one informer event out to N subscribers, in process (no
 * sockets, no Kubernetes API): N subscriptions of one document on an in-memory informer, 100
 * events, each delivery serialized as graphql-ws would (JSON.stringify of a `next` message).
 * Shared execution (src/graphql/shared-execution.ts) against graphql-js `subscribe` (one
 * execution per subscriber), so the work saved is a measured ratio.
 */
import { buildSchema, parse, subscribe, type ExecutionResult } from 'graphql';
import type { KubernetesObject } from '@kubernetes/client-node';
import { informerStream, type WatchEvent } from '../src/graphql/stream';
import { sharedSubscribe } from '../src/graphql/shared-execution';
import type { Informer, InformerListener } from '../src/kube/informer';

function source() {
  const listeners = new Set<InformerListener<KubernetesObject>>();
  return {
    informer: { on: (l: InformerListener<KubernetesObject>) => (listeners.add(l), () => listeners.delete(l)), list: () => [], get: () => undefined } as unknown as Informer<KubernetesObject>,
    emit: (o: KubernetesObject) => listeners.forEach((l) => l({ type: 'MODIFIED', object: o })),
  };
}

const sdl = `type Query { x: Int }
type Condition { type: String, status: String, reason: String, message: String }
type Storage { name: String, namespace: String, phase: String, lastSyncTime: String, mountedBy: [String], conditions: [Condition] }
type Ev { type: String, resourceVersion: String, storage: Storage }
type Subscription { storagesChanged(namespace: String): Ev }`;
const doc = parse('subscription S($ns: String) { storagesChanged(namespace: $ns) { type resourceVersion storage { name namespace phase lastSyncTime mountedBy conditions { type status reason message } } } }');

async function run(n: number, shared: boolean, events = 100): Promise<{ msPerEvent: number; usPerDelivery: number }> {
  const s = source();
  const schema = buildSchema(sdl);
  const field = schema.getSubscriptionType()!.getFields().storagesChanged! as unknown as { subscribe: unknown; resolve: unknown };
  field.subscribe = () => informerStream(s.informer, () => true);
  field.resolve = (e: WatchEvent<KubernetesObject & { status?: Record<string, unknown> }>) => ({
    type: e.type,
    resourceVersion: e.resourceVersion,
    storage: { name: e.object.metadata!.name, namespace: e.object.metadata!.namespace, ...e.object.status },
  });
  const contextValue = { svc: { caller: { user: { username: 'bench', groups: [] } } } };
  const subs: AsyncIterableIterator<ExecutionResult>[] = [];
  for (let i = 0; i < n; i++) {
    const args = { schema, document: doc, contextValue, variableValues: { ns: 'n' } };
    subs.push((shared ? await sharedSubscribe(args) : await subscribe(args)) as AsyncIterableIterator<ExecutionResult>);
  }
  const pumps = subs.map(async (it, i) => {
    let got = 0;
    while (got < events) {
      const r = await it.next();
      if (r.done) break;
      JSON.stringify({ id: String(i), type: 'next', payload: r.value });
      got++;
    }
  });
  const t0 = performance.now();
  for (let e = 0; e < events; e++) {
    const now = new Date().toISOString();
    s.emit({ apiVersion: 'v1', kind: 'GPUStorage', metadata: { name: `s${e % 10}`, namespace: 'n', resourceVersion: String(e) }, status: { phase: 'Ready', lastSyncTime: now, mountedBy: ['u1'], conditions: [{ type: 'Ready', status: 'True', reason: 'StorageReady', message: 'PersistentVolumeClaim is Bound (1Gi)' }] } } as KubernetesObject);
    await new Promise((r) => setImmediate(r)); // let every subscriber take it (no coalescing)
  }
  await Promise.all(pumps);
  const ms = performance.now() - t0;
  for (const it of subs) await it.return?.();
  return { msPerEvent: +(ms / events).toFixed(3), usPerDelivery: +((ms * 1000) / (events * n)).toFixed(2) };
}

/** Rows for bench/run.ts. */
export async function fanout(): Promise<Record<string, string | number>[]> {
  const rows: Record<string, string | number>[] = [];
  for (const n of [100, 1000]) {
    const plain = await run(n, false);
    const shared = await run(n, true);
    rows.push({ scenario: `1 event → ${n} subscribers, graphql-js subscribe`, ...plain });
    rows.push({ scenario: `1 event → ${n} subscribers, shared execution`, ...shared, speedup: +(plain.msPerEvent / shared.msPerEvent).toFixed(2) });
  }
  return rows;
}
