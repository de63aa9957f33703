/**
 * A graphql-ws client that stops reading (issue 12, "Many stalled subscribers"): once its socket
 * has held unsent data for WS_STALL_SECONDS (2 s here) the server closes it with 4008
 * (src/graphql/slow-consumer.ts) and its subscription ends; a client that reads, subscribed to the
 * same events, is never dropped and receives every change. A service of its own in this
 * process (reads only: no controllers) on the suite's cluster, so the bound can be set.
 */
import { WebSocket } from 'ws';
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app';
import { R } from '../../src/kube/resources';
import type { GPUStorage } from '../../src/api/types';
import { SLOW_CONSUMER_CLOSE_CODE } from '../../src/graphql/slow-consumer';
import { adminKube, createTenantNamespace, eventually, kubectl, testEnv, uniq } from '../support/env';

const QUERY = 'subscription($ns: String) { storagesChanged(namespace: $ns) { type storage { name resourceVersion prepare { args } } } }';

/** A raw graphql-ws client: connection_init, one subscribe; counts `next` messages and records the close. */
async function client(url: string, ns: string) {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  const state = { next: 0, closeCode: undefined as number | undefined, closeReason: '' };
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as { type: string };
    if (m.type === 'connection_ack') ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: QUERY, variables: { ns } } }));
    if (m.type === 'next') state.next++;
  });
  ws.on('close', (code, reason) => {
    state.closeCode = code;
    state.closeReason = String(reason);
  });
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  return { ws, state, socket: (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket };
}

describe('a graphql-ws client that stops reading', () => {
  let app: App;
  const ns = uniq('slow');
  const saved = process.env.WS_STALL_SECONDS;

  beforeAll(async () => {
    await createTenantNamespace(ns);
    process.env.WS_STALL_SECONDS = '2';
    app = await startApp({ kubeconfig: testEnv().kubeconfig, port: 0, controllers: false, installPrerequisites: false, auth: { requestsPerSecond: 5000 } });
  }, 120_000);
  afterAll(async () => {
    if (saved === undefined) delete process.env.WS_STALL_SECONDS;
    else process.env.WS_STALL_SECONDS = saved;
    await app?.close(2000);
    await kubectl('delete', 'namespace', ns, '--wait=false');
  });

  it('is closed with 4008 past the bound; a reading client on the same events is not', async () => {
    // Ten storages whose events are about 30 KB each (a long prepare argument).
    const kube = adminKube();
    const names = Array.from({ length: 10 }, (_, i) => `big-${i}`);
    for (const name of names) {
      await kube.create(R.storage, {
        apiVersion: 'runtime.lokiwager.io/v1alpha1',
        kind: 'GPUStorage',
        metadata: { name, namespace: ns },
        spec: { size: '1Gi', prepare: { fromImage: 'example.invalid/slow:1', args: ['x'.repeat(30_000)] } },
      } as GPUStorage & KubernetesObject);
    }
    const stalled = await client(app.url, ns);
    const reading = await client(app.url, ns);
    await eventually(() => stalled.state.next >= names.length && reading.state.next >= names.length, 'both clients got the current state', 20_000, 100);
    stalled.socket.pause(); // from here on it reads nothing

    // 300 changes (about 9 MB for each subscriber): more than the kernel's socket buffers hold.
    const before = reading.state.next;
    for (let round = 0; round < 30; round++) {
      await Promise.all(names.map((name) => kube.patch(R.storage, ns, name, { metadata: { annotations: { round: String(round) } } }, 'merge')));
    }
    const dropped = async () => Number((await (await fetch(`${app.url}/metrics`)).text()).match(/^gpu_runtime_subscriptions_slow_consumers_dropped_total (\d+)/m)?.[1] ?? 0);
    await eventually(async () => (await dropped()) >= 1, 'the stalled client is dropped', 30_000, 200);
    await eventually(() => reading.state.next - before >= 300, 'the reading client got all 300 changes', 30_000, 100);
    expect(reading.state.closeCode).toBeUndefined();
    expect(await dropped()).toBe(1);

    // Reading again, the stalled client finds the close frame after what was queued.
    stalled.socket.resume();
    await eventually(() => stalled.state.closeCode, 'the stalled client sees the close', 30_000, 100);
    expect(stalled.state.closeCode).toBe(SLOW_CONSUMER_CLOSE_CODE);
    expect(stalled.state.closeReason).toMatch(/^Slow consumer: not reading for \d+ s; resubscribe$/);
    expect(stalled.state.next).toBeLessThan(reading.state.next);
    reading.ws.close();
  }, 180_000);
});
