/**
 * SIGTERM, as a pod's kubelet sends it (issues 10 and 12): two replicas of the service run as
 * separate processes (`tsx src/main.ts`, the developer path of `npm start`, against the test
 * cluster); the leader is terminated while a graphql-ws and an SSE subscriber are connected to it.
 * Outcome: it exits 0 within the documented deadline; `/readyz` fails first; the graphql-ws
 * subscriber is told to resubscribe (an OPERATOR_UNAVAILABLE error; the server then closes with
 * 1001 Going away),
 * the SSE subscriber gets the same error and the stream completes; the Lease is released, so the
 * other replica leads within one retry period (2 s), not after the 15 s lease duration (measured).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { adminKube, eventually, testEnv, uniq } from '../support/env';
import { wsClient } from '../support/http';
import { subscribe } from '../support/subscription';
import { R } from '../../src/kube/resources';
import { startReplica, type Replica } from '../support/replica';

async function replica(leaseName: string): Promise<Replica> {
  return startReplica(testEnv().kubeconfig, { LEADER_ELECTION_NAME: leaseName, SHUTDOWN_TIMEOUT_SECONDS: '10' });
}

describe('SIGTERM', () => {
  const started: Replica[] = [];
  afterAll(() => {
    for (const r of started) r.signal('SIGKILL');
  });

  it('ends subscriptions with a reason, releases the Lease (the other replica leads at once) and exits 0 within the deadline', async () => {
    // A Lease of their own in the service's namespace (the suite's service holds the default one).
    const lease = uniq('lease');
    const holder = async () => (await adminKube().get(R.lease, 'gpu-runtime-system', lease).catch(() => undefined))?.spec?.holderIdentity ?? '';
    const a = await replica(lease);
    started.push(a);
    // (tsx runs the service in a child process, so the identity's pid is not a.proc.pid.)
    const first = await eventually(async () => (await holder()) || undefined, 'the first replica leads');
    const b = await replica(lease);
    started.push(b);
    await eventually(async () => (await fetch(`${b.url}/readyz`)).status === 200, 'the second replica is ready');

    // Subscribers on the leader: graphql-ws and SSE.
    let closeCode: number | undefined;
    const client = wsClient(undefined, a.url, { closed: (e) => (closeCode = (e as { code?: number }).code) });
    const sub = subscribe(client, 'subscription { storagesChanged(namespace: "runtime-instance") { type } }', {});
    const sse = await fetch(`${a.url}/graphql?query=${encodeURIComponent('subscription { storagesChanged(namespace: "runtime-instance") { type } }')}`, { headers: { accept: 'text/event-stream' } });
    expect(sse.status).toBe(200);
    const sseText = sse.text();
    // Both are live before the signal: the graphql-ws one has delivered (or at least acknowledged).
    await eventually(async () => (await fetch(`${a.url}/metrics`).then((r) => r.text())).match(/^gpu_runtime_subscriptions\{kind="GPUStorage"\} (\d+)/m)?.[1] === '2', 'two live subscriptions on the leader', 20_000, 100);

    const t0 = Date.now();
    a.proc.kill('SIGTERM');
    const code = await a.exited;
    const exitMs = Date.now() - t0;
    expect(code, a.log()).toBe(0);
    expect(exitMs).toBeLessThan(10_000 + 5_000);
    await eventually(async () => !['', first].includes(await holder()), 'the second replica leads', 10_000, 50);
    const failoverMs = Date.now() - t0;
    console.log(`SIGTERM: leader exited in ${exitMs} ms; the other replica led ${failoverMs} ms after the signal (lease duration 15 s, retry period 2 s)`);
    expect(failoverMs).toBeLessThan(exitMs + 2000 + 1500);

    await sub.ended;
    expect(JSON.stringify(sub.error ?? sub.results.at(-1)?.errors)).toMatch(/OPERATOR_UNAVAILABLE|shutting down/);
    await eventually(() => closeCode, 'the graphql-ws connection closed');
    // 1000 when the lazy client closed it itself after its last subscription ended with the
    // reason, 1001 (Going away) when the server's close came first.
    expect([1000, 1001]).toContain(closeCode);
    const body = await sseText;
    expect(body).toContain('the service is shutting down');
    expect(body).toMatch(/event: complete/);
    client.dispose();

    b.proc.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    expect(await holder()).toBe('');
  }, 180_000);
});
