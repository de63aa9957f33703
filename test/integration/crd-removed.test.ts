/**
 * A CRD deleted while the service runs, then re-applied (issue 12; controller-runtime-notes W8):
 * the service neither crashes nor hot-loops; `/readyz` and `/api/v1/health` say what is missing;
 * REST and GraphQL answer 503 `operator_unavailable` / OPERATOR_UNAVAILABLE naming the CRD; after
 * `kubectl apply -f crds/` it works again without a restart.
 *
 * Deleting a CRD deletes every object of it cluster-wide, so this file runs on a local cluster of
 * its own (started here, about 10 s), not on the suite's shared one.
 */
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCluster, type LocalCluster } from '../../hack/cluster/cluster';
import { startApp, type App } from '../../src/app';
import { grantDevelopmentAccess } from '../../src/auth/roles';
import { Kube } from '../../src/kube/resources';
import { loadKubeConfig } from '../../src/app';
import { metricsRegistry } from '../../src/metrics';
import { eventually } from '../support/env';
import { restAt } from '../support/http';

const run = promisify(execFile);
const crds = fileURLToPath(new URL('../../crds/', import.meta.url));
const NS = 'runtime-instance';

describe('a CRD deleted while running, then re-applied', () => {
  let cluster: LocalCluster;
  let app: App;
  const kubectl = async (...args: string[]) => (await run(cluster.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, ...args])).stdout;

  beforeAll(async () => {
    cluster = await startLocalCluster({ name: `test-${process.pid}-crd`, persistent: false, nodes: 1, log: () => {} });
    await grantDevelopmentAccess(new Kube(loadKubeConfig(cluster.kubeconfig)));
    app = await startApp({ kubeconfig: cluster.operatorKubeconfig, port: 0, availability: { intervalMs: 500 }, auth: { requestsPerSecond: 5000 } });
  }, 180_000);
  afterAll(async () => {
    await app?.close(2000);
    await cluster?.stop();
  });

  it('answers 503 naming the CRD, does not hot-loop, and recovers after kubectl apply -f crds/ without a restart', async () => {
    const base = app.url;
    expect((await restAt(base, 'POST', '/api/v1/gpu-storages', { name: 'before', namespace: NS, size: '1Gi' })).status).toBe(201);

    await kubectl('delete', 'crd', 'gpustorages.runtime.lokiwager.io', '--wait=true');
    const readyz = await eventually(async () => {
      const r = await fetch(`${base}/readyz?verbose`);
      return r.status === 503 ? await r.text() : undefined;
    }, '/readyz 503', 30_000, 200);
    expect(readyz).toMatch(/\[-\]informers failed: GPUStorage: the API server does not serve this resource; is its CRD installed\? \(kubectl apply -f crds\/\)/);
    const health = await restAt(base, 'GET', '/api/v1/health');
    expect(health.status).toBe(200);
    expect(health.body?.data).toMatchObject({ kubernetesConnected: false, kubeError: expect.stringContaining('GPUStorage') });

    for (const [method, path, body] of [
      ['GET', `/api/v1/gpu-storages?namespace=${NS}`, undefined],
      ['POST', '/api/v1/gpu-storages', { name: 'during', namespace: NS, size: '1Gi' }],
      ['GET', `/api/v1/gpu-units?namespace=${NS}`, undefined],
    ] as const) {
      const r = await restAt(base, method, path, body);
      expect(r.status, `${method} ${path}`).toBe(503);
      expect(r.body?.error?.code).toBe('operator_unavailable');
      expect(r.body?.error?.message).toContain('GPUStorage');
      expect(r.body?.error?.message).toContain('kubectl apply -f crds/');
    }
    const gql = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ storages { edges { node { name } } } }' }) });
    expect(gql.status).toBe(503);
    expect(((await gql.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('OPERATOR_UNAVAILABLE');

    // No hot loop: requests the service makes to the API server over 15 s while the CRD is gone
    // (informer retries back off to one every 5-10 s; the API-server probe runs every 0.5 s here).
    const values = async () => (await metricsRegistry.getSingleMetric('rest_client_requests_total')!.get()).values as { value: number; labels: Record<string, string> }[];
    const key = (v: { labels: Record<string, string> }) => `${v.labels.method} ${v.labels.code}`;
    const v0 = new Map((await values()).map((v) => [key(v), v.value]));
    const restarts0 = app.svc.cache.storages.health().restarts;
    await new Promise((r) => setTimeout(r, 15_000));
    const delta = (await values()).map((v) => [key(v), v.value - (v0.get(key(v)) ?? 0)] as const).filter(([, d]) => d > 0);
    const made = delta.reduce((s, [, d]) => s + d, 0);
    // Watches are not in rest_client_requests_total: the informer's retries count as restarts.
    const retries = app.svc.cache.storages.health().restarts - restarts0;
    console.log(`in 15 s with the GPUStorage CRD missing: ${made} requests (${JSON.stringify(delta)}: the 0.5 s readiness probe and the leader's renewals) and ${retries} watch retries of the GPUStorage informer`);
    expect(made).toBeLessThan(30 + 20);
    expect(retries).toBeGreaterThanOrEqual(1);
    expect(retries).toBeLessThanOrEqual(4);

    await kubectl('apply', '-f', crds);
    await eventually(async () => (await fetch(`${base}/readyz`)).status === 200, '/readyz 200 again', 30_000, 250);
    const created = await restAt(base, 'POST', '/api/v1/gpu-storages', { name: 'after', namespace: NS, size: '1Gi' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await eventually(async () => (await restAt(base, 'GET', `/api/v1/gpu-storages/after?namespace=${NS}`)).body?.data?.phase === 'Ready', 'the controller reconciles the new storage', 60_000);
    // The objects of the deleted CRD went with it.
    expect((await restAt(base, 'GET', `/api/v1/gpu-storages/before?namespace=${NS}`)).status).toBe(404);
  }, 240_000);
});
