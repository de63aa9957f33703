/**
 * npm run bench:auth — what authentication (TokenReview) and authorization (SubjectAccessReview)
 * add to a request, on a cached decision and on a cold one, next to an unauthenticated baseline
 * measured in the same run, against a local cluster the benchmark starts (real kube-apiserver).
 *
 * Rows (each `n` sequential requests, median and p99 in ms):
 * - `GET /api/v1/health` — the same HTTP stack, no authentication: the baseline;
 * - `GET /api/v1/gpu-storages/{name}` with a ServiceAccount token, decisions cached;
 * - the same with both caches cleared before every request (one TokenReview + one SAR each);
 * - in process, `auth.callerFor(token)` + `caller.require(get …)`: cached and cold.
 * Writes bench/results/auth.json.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { startLocalCluster } from '../hack/cluster/cluster';
import { loadKubeConfig, startApp } from '../src/app';
import { grantDevelopmentAccess } from '../src/auth/roles';
import { Kube } from '../src/kube/resources';

const n = Number(process.env.BENCH_N ?? 300);

function quantiles(ms: number[]): { p50: number; p99: number; mean: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: +at(0.5).toFixed(3), p99: +at(0.99).toFixed(3), mean: +(s.reduce((a, b) => a + b, 0) / s.length).toFixed(3) };
}

async function measure(fn: () => Promise<unknown>, before?: () => void): Promise<{ p50: number; p99: number; mean: number }> {
  for (let i = 0; i < 20; i++) await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    before?.();
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return quantiles(times);
}

const cluster = await startLocalCluster({ name: 'bench-auth', persistent: false, log: () => undefined });
try {
  const kubectl = (...args: string[]) => execFileSync(cluster.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, ...args], { encoding: 'utf8' });
  await grantDevelopmentAccess(new Kube(loadKubeConfig(cluster.kubeconfig)));
  kubectl('create', 'namespace', 'bench-tenant');
  kubectl('create', 'serviceaccount', 'app', '-n', 'bench-tenant');
  kubectl('create', 'rolebinding', 'app', '--clusterrole=gpu-runtime-tenant', '--serviceaccount=bench-tenant:app', '-n', 'bench-tenant');
  const token = kubectl('create', 'token', 'app', '-n', 'bench-tenant').trim();
  process.env.LOG_LEVEL ??= 'warn';
  const app = await startApp({ kubeconfig: cluster.operatorKubeconfig, port: 0, auth: { requestsPerSecond: 0 } });
  try {
    const headers = { authorization: `Bearer ${token}` };
    const created = await fetch(`${app.url}/api/v1/gpu-storages`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench', namespace: 'bench-tenant', size: '1Gi' }) });
    if (created.status !== 201) throw new Error(`setup: create answered ${created.status}: ${await created.text()}`);
    const get = async (path: string, h: Record<string, string> = {}) => {
      const r = await fetch(app.url + path, { headers: h });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
    };
    const clear = () => {
      app.auth.authenticator.clear();
      app.auth.authorizer.clear();
    };
    const attrs = { verb: 'get' as const, resource: 'gpustorages' as const, namespace: 'bench-tenant', name: 'bench' };
    const inProcess = async () => (await app.auth.callerFor(`Bearer ${token}`)).require(attrs);
    const rows = {
      'HTTP GET /api/v1/health (no auth: baseline)': await measure(() => get('/api/v1/health')),
      'HTTP GET storage, token, cached decisions': await measure(() => get('/api/v1/gpu-storages/bench?namespace=bench-tenant', headers)),
      'HTTP GET storage, token, cold (TokenReview + SAR)': await measure(() => get('/api/v1/gpu-storages/bench?namespace=bench-tenant', headers), clear),
      'in process: authenticate + authorize, cached': await measure(inProcess),
      'in process: authenticate + authorize, cold': await measure(inProcess, clear),
    };
    console.table(rows);
    const base = rows['HTTP GET /api/v1/health (no auth: baseline)'];
    const result = {
      benchmark: 'auth-latency',
      date: new Date().toISOString(),
      machine: '2 cores, 24 GiB (polyglot), local kube-apiserver on loopback',
      requestsPerRow: n,
      rowsMs: rows,
      addedMsCachedP50: +(rows['HTTP GET storage, token, cached decisions'].p50 - base.p50).toFixed(3),
      addedMsColdP50: +(rows['HTTP GET storage, token, cold (TokenReview + SAR)'].p50 - base.p50).toFixed(3),
      addedMsCachedP99: +(rows['HTTP GET storage, token, cached decisions'].p99 - base.p99).toFixed(3),
      addedMsColdP99: +(rows['HTTP GET storage, token, cold (TokenReview + SAR)'].p99 - base.p99).toFixed(3),
    };
    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    writeFileSync(new URL('./results/auth.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await app.close();
  }
} finally {
  await cluster.stop();
}
