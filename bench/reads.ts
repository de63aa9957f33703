/**
 * npm run bench:reads — report 3 of issue 13: reads with 10,000 storages and 2,000 units cached.
 *
 * Against a local cluster the benchmark starts (real kube-apiserver), the objects are created for
 * real through the Kubernetes API (admin identity, high concurrency; 500 first, to time it):
 * 10 tenant namespaces × 1,000 GPUStorages (each with a Ready status written through the status
 * subresource, and its PVC, of a class nobody provisions), and 2,000 active GPUUnits (200 per
 * namespace, each mounting one storage). The service runs in a process of its own
 * (bench/serve.ts) without controllers (nothing reconciles: the read path alone is measured),
 * started before the objects are created (its informers take them in as they come); requests are
 * the anonymous caller's, bound to gpu-runtime-tenant in the 10 namespaces (so a list across
 * namespaces asks RBAC once per namespace, decisions cached 10 s).
 *
 * Rows: `storages(first: 100)` paged through all 10,000 (one row per page request); one GraphQL
 * query of 1,000 storages with `mountedBy` and `mountedByUnits`; the REST list of 1,000 storages
 * (mountedBy in every view); REST pages of 100 through every storage. For each: p50/p99 in ms and
 * the requests the service sent to kube-apiserver meanwhile, by kind (bench/serve.ts): `other`
 * (a read that missed the cache: goal 0), `authz` (SubjectAccessReviews of the RBAC check),
 * `probe` (the availability probe, GET /readyz every 2 s, whatever the load). The service's RSS
 * and heap (after a forced GC) before seeding and with everything cached.
 * Writes bench/results/reads.json.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { startLocalCluster } from '../hack/cluster/cluster';
import { loadKubeConfig } from '../src/app';
import { grantDevelopmentAccess } from '../src/auth/roles';
import { Kube, R } from '../src/kube/resources';
import { quantiles, rssMiB, runPool, seedClaims, seedStorages, startService, unitObject, type ServiceStats } from './seed';

const NAMESPACES = Number(process.env.BENCH_NAMESPACES ?? 10);
const PER_NS = Number(process.env.BENCH_STORAGES_PER_NS ?? 1000);
const UNITS_PER_NS = Number(process.env.BENCH_UNITS_PER_NS ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 30);

/** API requests of the service between two stats. */
function diff(a: ServiceStats, b: ServiceStats): ServiceStats['api'] {
  const out = { ...b.api };
  for (const k of Object.keys(out) as (keyof ServiceStats['api'])[]) out[k] -= a.api[k];
  return out;
}

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`);
const nsName = (i: number) => `bench-reads-${String(i).padStart(2, '0')}`;

const cluster = await startLocalCluster({ name: 'bench-reads', persistent: false, log: () => undefined });
try {
  const admin = new Kube(loadKubeConfig(cluster.kubeconfig));
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => nsName(i));
  for (const ns of namespaces) await admin.create(R.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await grantDevelopmentAccess(admin, { tenant: namespaces, stock: [] });
  const app = await startService(cluster.operatorKubeconfig);
  try {
    const empty = await app.stats();

    // How long creating objects for real takes: 500 first, then the rest.
    const first = names('s', 500);
    const first500Ms = await seedStorages(admin, namespaces[0]!, first.slice(0, Math.min(500, PER_NS)), CONCURRENCY);
    console.log(`500 storages (create + status) in ${(first500Ms / 1000).toFixed(1)} s at concurrency ${CONCURRENCY}`);
    const t0 = performance.now();
    for (const [i, ns] of namespaces.entries()) {
      const all = names('s', PER_NS);
      await seedStorages(admin, ns, i === 0 ? all.slice(500) : all, CONCURRENCY);
      await seedClaims(admin, ns, all, CONCURRENCY);
      await runPool(UNITS_PER_NS, CONCURRENCY, (u) => admin.create(R.unit, unitObject(ns, `u-${String(u).padStart(5, '0')}`, all[u * Math.floor(PER_NS / UNITS_PER_NS)]!)));
      console.log(`  ${ns}: ${PER_NS} storages, ${PER_NS} PVCs, ${UNITS_PER_NS} units (${((performance.now() - t0) / 1000).toFixed(0)} s so far)`);
    }
    const seedMs = performance.now() - t0 + first500Ms;
    const total = NAMESPACES * PER_NS;
    let st = await app.stats();
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; st = await app.stats()) {
      if (st.cached.storages >= total && st.cached.units >= NAMESPACES * UNITS_PER_NS && st.cached.pvcs >= total) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const cached = st.cached;
    const loaded = st;
    console.log('cached:', cached, `service RSS ${st.rssMiB} MiB, heap ${st.heapUsedMiB} MiB`);

    const gqlQuery = async (query: string, variables: Record<string, unknown>) => {
      const r = await fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
      const body = (await r.json()) as { data?: any; errors?: unknown[] };
      if (r.status !== 200 || body.errors) throw new Error(`GraphQL ${r.status}: ${JSON.stringify(body.errors ?? body).slice(0, 500)}`);
      return body.data;
    };
    const restGet = async (path: string) => {
      const r = await fetch(app.url + path);
      const body = (await r.json()) as { data: unknown[]; metadata?: { continue?: string } };
      if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(body).slice(0, 300)}`);
      return body;
    };

    const rows: Record<string, ReturnType<typeof quantiles> & { apiOther: number; apiAuthz: number; apiProbe: number; seconds: number }> = {};
    const measure = async (row: string, runs: () => AsyncGenerator<number>) => {
      const before = await app.stats();
      const t = performance.now();
      const times: number[] = [];
      for await (const ms of runs()) times.push(ms);
      const seconds = +((performance.now() - t) / 1000).toFixed(1);
      const d = diff(before, await app.stats());
      rows[row] = { ...quantiles(times), apiOther: d.other + d.list, apiAuthz: d.authz, apiProbe: d.probe, seconds };
    };

    const pageQuery = `query P($first: Int, $after: String) { storages(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { name namespace phase size mountedBy } } } }`;
    let walkSeen = 0;
    let walkMs = 0;
    await measure(`GraphQL storages(first: 100), paged through all ${total}`, async function* () {
      const w0 = performance.now();
      let after: string | null = null;
      const seen = new Set<string>();
      for (;;) {
        const t = performance.now();
        const d = await gqlQuery(pageQuery, { first: 100, after });
        yield performance.now() - t;
        for (const e of d.storages.edges) seen.add(`${e.node.namespace}/${e.node.name}`);
        if (!d.storages.pageInfo.hasNextPage) break;
        after = d.storages.pageInfo.endCursor;
      }
      walkMs = performance.now() - w0;
      walkSeen = seen.size;
    });
    const bigQuery = `query B($ns: String, $first: Int) { storages(namespace: $ns, first: $first) { totalCount edges { node { name namespace phase size capacity reason message mountedBy mountedByUnits { name phase image } } } } }`;
    let mountedSeen = 0;
    await measure('GraphQL 1,000 storages with mountedBy + mountedByUnits (one query)', async function* () {
      for (let i = 0; i < REPEAT; i++) {
        const t = performance.now();
        const d = await gqlQuery(bigQuery, { ns: namespaces[i % NAMESPACES], first: 1000 });
        yield performance.now() - t;
        if (d.storages.edges.length !== Math.min(PER_NS, 1000)) throw new Error(`expected ${Math.min(PER_NS, 1000)} storages, got ${d.storages.edges.length}`);
        mountedSeen = d.storages.edges.filter((e: any) => e.node.mountedBy.length === 1 && e.node.mountedByUnits.length === 1).length;
      }
    });
    await measure('REST GET /api/v1/gpu-storages?namespace= (1,000 views with mountedBy)', async function* () {
      for (let i = 0; i < REPEAT; i++) {
        const t = performance.now();
        const b = await restGet(`/api/v1/gpu-storages?namespace=${namespaces[i % NAMESPACES]}`);
        yield performance.now() - t;
        if (b.data.length !== Math.min(PER_NS, 1000)) throw new Error(`REST list: ${b.data.length}`);
      }
    });
    await measure('REST GET /api/v1/gpu-storages?limit=100 (pages, continue)', async function* () {
      let cont: string | undefined;
      for (let i = 0; i < 100; i++) {
        const t = performance.now();
        const b = await restGet(`/api/v1/gpu-storages?limit=100${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
        yield performance.now() - t;
        cont = b.metadata?.continue;
        if (!cont) break;
      }
    });
    await measure('GraphQL storage(name) (one object, for scale)', async function* () {
      for (let i = 0; i < 200; i++) {
        const t = performance.now();
        await gqlQuery(`query O($ns: String, $n: String!) { storage(namespace: $ns, name: $n) { name mountedBy } }`, { ns: namespaces[i % NAMESPACES], n: `s-${String(i).padStart(5, '0')}` });
        yield performance.now() - t;
      }
    });
    console.table(rows);
    const end = await app.stats();
    const result = {
      benchmark: 'reads',
      date: new Date().toISOString(),
      machine: '2 cores shared with other work, 24 GiB, local kube-apiserver on loopback (test cluster, kwok nodes)',
      seeded: {
        how: 'real objects through the Kubernetes API (admin client, concurrency ' + CONCURRENCY + '), not synthetic informer content',
        namespaces: NAMESPACES,
        storages: total,
        pvcs: total,
        units: NAMESPACES * UNITS_PER_NS,
        first500StoragesSeconds: +(first500Ms / 1000).toFixed(1),
        allSeconds: +(seedMs / 1000).toFixed(1),
        apiWritesPerStorage: 3,
      },
      cached,
      walk: { pages: rows[`GraphQL storages(first: 100), paged through all ${total}`]!.n, distinctSeen: walkSeen, totalMs: +walkMs.toFixed(1) },
      storagesWithMountSeenInBigQuery: mountedSeen,
      rowsMs: rows,
      listP50Ms1000WithMountedBy: rows['GraphQL 1,000 storages with mountedBy + mountedByUnits (one query)']!.p50,
      restListP50Ms1000: rows['REST GET /api/v1/gpu-storages?namespace= (1,000 views with mountedBy)']!.p50,
      apiCallsDuringReads: Object.values(rows).reduce((n, r) => n + r.apiOther, 0),
      authzCallsDuringReads: Object.values(rows).reduce((n, r) => n + r.apiAuthz, 0),
      probeCallsDuringReads: Object.values(rows).reduce((n, r) => n + r.apiProbe, 0),
      otherApiPathsSinceStart: end.otherPaths,
      serviceRssMiB: { empty: empty.rssMiB, cached: loaded.rssMiB, afterReads: end.rssMiB, note: 'the service process (bench/serve.ts), after a forced GC; /proc VmRSS now: ' + rssMiB(app.pid) },
      serviceHeapUsedMiB: { empty: empty.heapUsedMiB, cached: loaded.heapUsedMiB, afterReads: end.heapUsedMiB },
      targets: { listP50Ms: 100, apiCalls: 0, rssMiB: 300 },
    };
    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    writeFileSync(new URL('./results/reads.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await app.stop();
  }
} finally {
  await cluster.stop();
}
