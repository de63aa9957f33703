/**
 * Probes, the 503 gate and metrics (issue 10): `/livez` and `/readyz` in the API server's format,
 * `/readyz` failing within 10 s of the API server becoming unreachable and passing again after it
 * returns, REST writes answering 503 `operator_unavailable` and GraphQL mutations
 * OPERATOR_UNAVAILABLE meanwhile (writing nothing), reads answering from the cache with how stale
 * they may be; and `/metrics` scraped, with reconcile, work-queue, API-client and GraphQL series
 * that moved.
 *
 * The outage is real at the network level: a second replica of the service talks to the API
 * server through a TCP proxy (test/support/tcp-proxy.ts) that starts refusing and cuts every
 * connection, exactly what a stopped kube-apiserver looks like from the service; the shared test
 * cluster keeps running for the other files.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { startApp, type App } from '../../src/app';
import { auditBarrier, auditWrites, eventually, testEnv, uniq } from '../support/env';
import { rest, restAt } from '../support/http';
import { TcpProxy } from '../support/tcp-proxy';
import { NS } from '../support/units';

const OPERATOR = testEnv().operatorUser;

/** The value of one sample of `/metrics` text (`name{labels} value`), 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

async function scrape(base: string): Promise<string> {
  const r = await fetch(`${base}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return await r.text();
}

describe('probes', () => {
  it('/livez and /readyz answer ok without a token; ?verbose lists every check', async () => {
    const base = testEnv().url;
    for (const p of ['/livez', '/readyz']) {
      const r = await fetch(base + p);
      expect(r.status, p).toBe(200);
      expect(await r.text()).toBe('ok');
    }
    const v = await (await fetch(`${base}/readyz?verbose`)).text();
    expect(v).toContain('[+]kube-apiserver ok');
    expect(v).toContain('[+]informers ok');
    expect(v).toContain('[+]shutdown ok');
    expect(v.trim().split('\n').at(-1)).toBe('readyz check passed');
    expect(await (await fetch(`${base}/livez?verbose`)).text()).toContain('[+]eventloop ok');
  });
});

describe('while the API server is unreachable', () => {
  let proxy: TcpProxy;
  let app: App;

  beforeAll(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(testEnv().kubeconfig);
    const url = new URL(kc.getCurrentCluster()!.server);
    proxy = new TcpProxy(url.hostname, Number(url.port));
    await proxy.start();
    kc.loadFromOptions({ clusters: [{ ...kc.getCurrentCluster()!, server: `https://127.0.0.1:${proxy.port}` }], users: kc.users, contexts: kc.contexts, currentContext: kc.currentContext });
    const file = join(tmpdir(), `${uniq('proxied')}.kubeconfig`);
    writeFileSync(file, kc.exportConfig());
    app = await startApp({
      kubeconfig: file,
      port: 0,
      controllers: false,
      installPrerequisites: false,
      availability: { intervalMs: 500, timeoutMs: 1000 },
      // Decisions cached long enough to outlive the outage: the read below is authorized before it.
      auth: { allowedTtlMs: 120_000, tokenCacheTtlMs: 120_000, requestsPerSecond: 5000 },
    });
  });
  afterAll(async () => {
    await app?.close(2000);
    await proxy?.stop();
  });

  it('/readyz turns 503 within 10 s and back to 200; writes answer 503 operator_unavailable and write nothing; reads answer from the cache, marked stale', async () => {
    const base = app.url;
    const existing = uniq('before');
    expect((await rest('POST', '/api/v1/gpu-storages', { name: existing, namespace: NS, size: '1Gi' })).status).toBe(201);
    await eventually(async () => (await restAt(base, 'GET', `/api/v1/gpu-storages/${existing}?namespace=${NS}`)).status === 200, 'the replica caches the storage');
    const q = `{ storage(name: "${existing}", namespace: "${NS}") { name } }`;
    const gql = (query: string) => fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
    expect((await gql(q)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    proxy.setRefusing(true);
    proxy.cutAll();
    const cutAt = Date.now();
    const failed = await eventually(async () => {
      const r = await fetch(`${base}/readyz?verbose`);
      return r.status === 503 ? await r.text() : undefined;
    }, '/readyz 503', 10_000, 200);
    console.log(`/readyz failed ${Date.now() - cutAt} ms after the API server became unreachable`);
    expect(failed).toMatch(/\[-\]kube-apiserver failed: kube-apiserver unreachable for \d+ s/);
    expect(failed.trim().split('\n').at(-1)).toBe('readyz check failed');
    expect((await fetch(`${base}/livez`)).status).toBe(200);

    const since = Date.now();
    const refused = await restAt(base, 'POST', '/api/v1/gpu-storages', { name: uniq('during'), namespace: NS, size: '1Gi' });
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expect(refused.body?.error?.code).toBe('operator_unavailable');
    expect(refused.body?.error?.message).toMatch(/API server is unreachable/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    const del = await restAt(base, 'DELETE', `/api/v1/gpu-storages/${existing}?namespace=${NS}`);
    expect(del.status).toBe(503);

    const mutation = await gql(`mutation { createStorage(input: { name: "${uniq('during')}", namespace: "${NS}", size: "1Gi" }) { __typename } }`);
    expect(mutation.status).toBe(503);
    const mBody = (await mutation.json()) as { errors: { extensions: { code: string } }[] };
    expect(mBody.errors[0]!.extensions.code).toBe('OPERATOR_UNAVAILABLE');

    const read = await restAt(base, 'GET', `/api/v1/gpu-storages/${existing}?namespace=${NS}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('warning')).toMatch(/^110 - "Response is Stale: .*has not answered for \d+ s"$/);
    const qr = (await (await gql(q)).json()) as { data: { storage: { name: string } }; extensions?: { staleSeconds?: number } };
    expect(qr.data.storage.name).toBe(existing);
    expect(qr.extensions?.staleSeconds).toBeGreaterThanOrEqual(0);
    const health = await restAt(base, 'GET', '/api/v1/health');
    expect(health.body!.data).toMatchObject({ kubernetesConnected: false, kubeError: expect.stringMatching(/kube-apiserver unreachable/) });

    proxy.setRefusing(false);
    await eventually(async () => (await fetch(`${base}/readyz`)).status === 200, '/readyz 200 again', 20_000, 200);
    const after = uniq('after');
    const made = await restAt(base, 'POST', '/api/v1/gpu-storages', { name: after, namespace: NS, size: '1Gi' });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    await auditBarrier();
    // Only the write after recovery reached the API server.
    const writes = auditWrites(OPERATOR, since).filter((w) => w.objectRef?.resource === 'gpustorages' && w.verb === 'create');
    expect(writes.map((w) => w.objectRef?.name)).toEqual([after]);
    expect(auditWrites(OPERATOR, since).filter((w) => w.objectRef?.name === existing)).toEqual([]);
    for (const n of [existing, after]) expect((await rest('DELETE', `/api/v1/gpu-storages/${n}?namespace=${NS}`)).status).toBe(204);
  });
});

describe('/metrics', () => {
  it('serves controller-runtime, work-queue, client and GraphQL series that move with the work', async () => {
    const base = testEnv().url;
    const before = await scrape(base);
    const name = uniq('metered');
    expect((await rest('POST', '/api/v1/gpu-storages', { name, namespace: NS, size: '1Gi', prepare: { fromImage: 'busybox:1.36', command: ['sh', '-c', 'true'] } })).status).toBe(201);
    await eventually(async () => (await rest('GET', `/api/v1/gpu-storages/${name}?namespace=${NS}`)).body?.data?.phase === 'Ready', 'storage Ready', 90_000);
    await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ storages(first: 1) { edges { node { name } } } }' }) });
    const after = await scrape(base);


    const moved = (n: string, labels: Record<string, string> = {}) => sample(after, n, labels) - sample(before, n, labels);
    expect(moved('controller_runtime_reconcile_total', { controller: 'gpustorage', result: 'success' })).toBeGreaterThan(0);
    expect(moved('controller_runtime_reconcile_time_seconds_count', { controller: 'gpustorage' })).toBeGreaterThan(0);
    expect(moved('workqueue_adds_total', { name: 'gpustorage' })).toBeGreaterThan(0);
    expect(moved('workqueue_queue_duration_seconds_count', { name: 'gpustorage' })).toBeGreaterThan(0);
    expect(moved('workqueue_work_duration_seconds_count', { name: 'gpustorage' })).toBeGreaterThan(0);
    expect(moved('rest_client_requests_total', { method: 'POST', code: '201' })).toBeGreaterThan(0);
    expect(moved('http_request_duration_seconds_count', { route: '/api/v1/gpu-storages', method: 'POST', status_code: '201' })).toBe(1);
    expect(moved('graphql_envelop_phase_execute_count', { operationType: 'query' })).toBeGreaterThan(0);
    expect(moved('graphql_yoga_http_duration_count', { method: 'POST', statusCode: '200' })).toBeGreaterThan(0);
    expect(after).not.toMatch(/graphql_yoga_http_duration_count\{[^}]*url=/);
    expect(sample(after, 'leader_election_master_status', { name: 'gpu-runtime-operator' })).toBe(1);
    expect(sample(after, 'gpu_runtime_informer_synced', { kind: 'GPUStorage' })).toBe(1);
    expect(after).toMatch(/^workqueue_depth\{name="gpustorage"\} \d+$/m);
    expect(after).toMatch(/^gpu_runtime_informer_last_event_age_seconds\{kind="GPUStorage"\} [\d.e-]+$/m);
    expect(after).toContain('process_resident_memory_bytes');
    expect((await rest('DELETE', `/api/v1/gpu-storages/${name}?namespace=${NS}`)).status).toBe(204);
  });
});
