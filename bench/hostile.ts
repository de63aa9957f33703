/**
 * npm run bench:hostile — the hostile corpus of issue 12 at length, against the production build,
 * with the service's memory before and after: does it come back?
 *
 * A local cluster (real kube-apiserver); the service in a process of its own (bench/serve.ts, the
 * esbuild bundle on plain `node --expose-gc`, no controllers, no per-identity rate limit so every
 * request reaches the handlers); the corpus of test/support/hostile.ts (fast-check, `--seed`)
 * sent by 16 concurrent clients as the anonymous caller, bound to gpu-runtime-tenant in
 * runtime-instance as `npm start` binds it. Before the corpus, 2,000 ordinary requests and 2,000
 * hostile ones of another seed bring the service to its steady state (the code of the error paths
 * compiled, caches and the allocator's pools filled); the baseline is its RSS and heap after a
 * forced GC then (the figures before the hostile warm-up are reported beside it). After the corpus: the same, at once, and again after 30 s and 60 s idle
 * (V8 returns memory to the system only when its memory reducer runs on an idle process).
 *
 * Answers are counted by class (surface × status class; `closed` when the server closed the
 * connection without an answer, which only an oversized body may meet). Writes
 * bench/results/hostile.json with `answers5xx`, `rssAfterVsBaselinePercent` (at once, after a GC),
 * `rssAfterIdleVsBaselinePercent` (after 60 s) and the heap figures beside them.
 *
 * Options: --requests N (default 50,000), --seed S (default 20261207), --heap-snapshot DIR (the
 * service writes a V8 heap snapshot there at the baseline and after the 60 s; the result then
 * holds `heapGrowth`: the groups, by type and constructor, that grew most between the two).
 */
import { writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startLocalCluster } from '../hack/cluster/cluster';
import { loadKubeConfig } from '../src/app';
import { grantDevelopmentAccess } from '../src/auth/roles';
import { Kube } from '../src/kube/resources';
import { hostileRequests, type HostileRequest } from '../test/support/hostile';
import { quantiles, rssMiB, startService, type ServiceProcess, type ServiceStats } from './seed';
import { summariseHeapSnapshot, type HeapGroup } from './support/heap';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const REQUESTS = Number(arg('requests', '50000'));
const SEED = Number(arg('seed', '20261207'));
const CLIENTS = 16;
/** Hostile requests of another seed sent before the baseline (see the warm-up below). */
const WARMUP = 2000;
const HEAP_DIR = arg('heap-snapshot', '') && resolve(arg('heap-snapshot', ''));

/** Asks the service for a heap snapshot (SIGTTIN, see --heap-snapshot) and returns its file once written. */
async function heapSnapshot(pid: number): Promise<string> {
  const before = new Set(readdirSync(HEAP_DIR));
  process.kill(pid, 'SIGTTIN');
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const file = readdirSync(HEAP_DIR).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    // Written once the process is answering again: a stats round trip tells.
    if (file && (await server!.stats())) return join(HEAP_DIR, file);
  }
}

/** Groups that grew most from `a` to `b` (by self size), in MB. */
function growth(a: HeapGroup[], b: HeapGroup[]): { type: string; name: string; countDelta: number; selfMBDelta: number }[] {
  const key = (g: HeapGroup) => `${g.type}\0${g.name}`;
  const before = new Map(a.map((g) => [key(g), g]));
  return b
    .map((g) => ({ type: g.type, name: g.name, countDelta: g.count - (before.get(key(g))?.count ?? 0), selfMBDelta: +(g.selfMB - (before.get(key(g))?.selfMB ?? 0)).toFixed(2) }))
    .sort((x, y) => y.selfMBDelta - x.selfMBDelta)
    .slice(0, 12);
}

/** Sends one request; its status (0: the connection closed without an answer). */
async function send(base: string, req: HostileRequest): Promise<number> {
  try {
    const r = await fetch(base + req.path, { method: req.method, headers: req.headers, body: req.body, signal: AbortSignal.timeout(30_000) });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return 0;
  }
}

/** API paths with object names replaced by `{name}`, summed: what kind of request the service sent. */
function byShape(paths: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [p, n] of Object.entries(paths)) {
    const shape = p.replace(/(\/namespaces\/[^/]+\/[^/]+)\/[^/]+/, '$1/{name}');
    out[shape] = (out[shape] ?? 0) + n;
  }
  return out;
}

/** Sends `corpus` from {@link CLIENTS} concurrent clients, reporting each answer's status and time (ms). */
async function sendAll(base: string, corpus: HostileRequest[], seen: (req: HostileRequest, status: number, ms: number) => void): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < corpus.length) {
        const req = corpus[next++]!;
        const t = performance.now();
        seen(req, await send(base, req), performance.now() - t);
      }
    }),
  );
}

const memory = (s: ServiceStats) => ({ rssMiB: s.rssMiB, rssAnonMiB: s.rssAnonMiB, rssFileMiB: s.rssFileMiB, heapUsedMiB: s.heapUsedMiB, heapTotalMiB: s.heapTotalMiB, externalMiB: s.externalMiB });
const percent = (after: number, before: number) => +((100 * (after - before)) / before).toFixed(1);

const cluster = await startLocalCluster({ name: 'bench-hostile', persistent: false, log: () => undefined });
let server: ServiceProcess | undefined;
try {
  const admin = new Kube(loadKubeConfig(cluster.kubeconfig));
  await grantDevelopmentAccess(admin);
  if (HEAP_DIR) {
    mkdirSync(HEAP_DIR, { recursive: true });
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGTTIN --diagnostic-dir=${HEAP_DIR}`.trim();
  }
  server = await startService(cluster.operatorKubeconfig);
  const base = server.url;

  // Steady state: ordinary reads and writes a dashboard and a script make.
  const ordinary = ['/api/v1/health', '/api/v1/gpu-storages?namespace=runtime-instance', '/api/v1/gpu-units?namespace=runtime-instance', '/readyz'];
  for (let i = 0; i < 2000; i += CLIENTS) await Promise.all(Array.from({ length: CLIENTS }, (_, k) => fetch(base + ordinary[(i + k) % ordinary.length]!).then((r) => r.arrayBuffer())));
  await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ health { ready } }' }) }).then((r) => r.arrayBuffer());
  const cold = await server.stats();
  // Warm: the paths hostile input takes (errors, limits, parsers) run once with another seed, so
  // the baseline holds their compiled code and the allocator's pools, as any live replica's does.
  await sendAll(base, hostileRequests(SEED + 1, WARMUP), () => undefined);
  const baseline = await server.stats();
  console.error(`baseline after GC: RSS ${baseline.rssMiB} MiB, heap ${baseline.heapUsedMiB} MiB (before the warm-up: ${cold.rssMiB} MiB, ${cold.heapUsedMiB} MiB)`);
  const snapshotBefore = HEAP_DIR ? await heapSnapshot(server.pid) : undefined;

  const corpus = hostileRequests(SEED, REQUESTS);
  const byClass: Record<string, number> = {};
  const latencies: number[] = [];
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(server!.pid))), 500);
  const t0 = performance.now();
  await sendAll(base, corpus, (req, status, ms) => {
    latencies.push(ms);
    const k = `${req.surface} ${status === 0 ? 'closed' : `${Math.floor(status / 100)}xx`}`;
    byClass[k] = (byClass[k] ?? 0) + 1;
  });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const after = await server.stats();
  await new Promise((r) => setTimeout(r, 30_000));
  const after30 = await server.stats();
  await new Promise((r) => setTimeout(r, 30_000));
  const after60 = await server.stats();
  const live = (await fetch(`${base}/livez`)).status;
  const heapGrowth = snapshotBefore ? growth(summariseHeapSnapshot(snapshotBefore, 400).top, summariseHeapSnapshot(await heapSnapshot(server.pid), 400).top) : undefined;

  const answers5xx = Object.entries(byClass).filter(([k]) => k.endsWith('5xx')).reduce((n, [, v]) => n + v, 0);
  const result = {
    benchmark: 'hostile',
    date: new Date().toISOString(),
    machine: '2 cores, 24 GiB; the service, the 16 clients, kube-apiserver and etcd on them',
    seed: SEED,
    requests: corpus.length,
    seconds: +seconds.toFixed(1),
    requestsPerSecond: +(corpus.length / seconds).toFixed(0),
    answersByClass: Object.fromEntries(Object.entries(byClass).sort()),
    answers5xx,
    latencyMs: quantiles(latencies),
    livezAfter: live,
    memory: { beforeWarmup: memory(cold), baseline: memory(baseline), peakRssMiB: peak, after: memory(after), after30s: memory(after30), after60s: memory(after60) },
    rssAfterVsBaselinePercent: percent(after.rssMiB, baseline.rssMiB),
    rssAfterIdleVsBaselinePercent: percent(after60.rssMiB, baseline.rssMiB),
    heapAfterVsBaselinePercent: percent(after.heapUsedMiB, baseline.heapUsedMiB),
    apiRequestsOtherThanProbesAndAuthz: after60.api.other,
    apiRequestsOtherPaths: byShape(after60.otherPaths),
    ...(heapGrowth ? { heapGrowth } : {}),
    targets: { answers5xx: 0, rssAfterIdleVsBaselinePercent: 10 },
  };
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/hostile.json', import.meta.url), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
} finally {
  await server?.stop();
  await cluster.stop();
}
