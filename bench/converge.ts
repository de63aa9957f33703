/**
 * npm run bench:converge — how fast the storage controller takes a burst of storages to Ready,
 * against the cluster's own floor, with writes per storage and the service's peak RSS
 * (issues 13 and 14).
 *
 * Two fresh local clusters, one after the other, each with kube-controller-manager and
 * kube-scheduler at 1000 QPS and Job pods that complete at once:
 * 1. floor: a plain script creates the same PVCs and prepare Jobs the controller would
 *    (`desiredPVC`, `desiredPrepareJob`, no owner) with the same concurrency; time until every
 *    Job is Complete;
 * 2. the service: `node dist/main.js` (the production build) as the local cluster's operator
 *    user; `--clients` concurrent clients POST /api/v1/gpu-storages; time until every storage
 *    reports phase Ready, per-step medians seen from an admin watch (create → PVC written,
 *    PVC Bound → Job created, Job Complete → Ready written), the service's writes from the audit
 *    log, grouped and named, and its peak RSS (/proc VmHWM).
 *
 * Options: --storages N (default 200), --clients N (10), --mix simple|mixed (simple: image,
 * accessor off, as issue 14 measures; mixed: a tenth clones, a fifth with the accessor, as issue
 * 13 measures), --idle S (after convergence, force one resync and count writes for S seconds;
 * default 0: skipped), --cpu-prof DIR (the service writes a V8 CPU profile there when it stops),
 * --heap-snapshot DIR (after convergence and the idle spell, the service writes a V8 heap snapshot
 * there on SIGUSR2; the result then holds `heap`: the snapshot summed by type and constructor),
 * --out FILE (default bench/results/converge-<mix>-<N>.json).
 */
import { writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { KubeConfig, type KubernetesObject, type V1Job, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import pLimit from 'p-limit';
import { Informer, type InformerEvent } from '../src/kube/informer';
import { Kube, R } from '../src/kube/resources';
import { desiredPVC, desiredPrepareJob } from '../src/controllers/storage/children';
import { prepareDigest } from '../src/api/digest';
import { grantDevelopmentAccess } from '../src/auth/roles';
import { clientRateLimitFromEnv } from '../src/kube/throttle';
import type { GPUStorage } from '../src/api/types';
import { auditWritesOf, benchCluster, deployedNodeOptions, OPERATOR_USER, percentile, repoRoot, startService } from './support/service';
import { summariseHeapSnapshot, type HeapSummary as HeapTotals } from './support/heap';

type HeapSummary = HeapTotals & { file: string };

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const N = Number(arg('storages', '200'));
const CLIENTS = Number(arg('clients', '10'));
const MIX = arg('mix', 'simple') as 'simple' | 'mixed';
const IDLE_S = Number(arg('idle', '0'));
/** A directory for the service's V8 CPU profile (`node --cpu-prof`), written when it stops. */
const PROFILE = arg('cpu-prof', '');
/** A directory for a heap snapshot of the converged service (`--heapsnapshot-signal`). */
const HEAP_DIR = arg('heap-snapshot', '');
const OUT = arg('out', `bench/results/converge-${MIX}-${N}.json`);
const NS = 'runtime-instance';
const CLASS = 'rook-ceph-block';
const PREPARE = { fromImage: 'busybox:1.36', args: ['true'] };

/** What storage `i` of the burst looks like (REST body). */
function body(i: number): Record<string, unknown> {
  const name = `s-${String(i).padStart(5, '0')}`;
  const clone = MIX === 'mixed' && i % 10 === 9;
  return {
    name,
    namespace: NS,
    size: '1Gi',
    storageClassName: CLASS,
    prepare: clone ? { fromStorageName: `s-${String(i - 1).padStart(5, '0')}` } : PREPARE,
    accessor: { enabled: MIX === 'mixed' && i % 5 === 0 },
  };
}

function adminKube(kubeconfig: string): Kube {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return new Kube(kc);
}

function informer<T extends KubernetesObject>(kube: Kube, path: string, apiVersion: string, kind: string, on: (e: InformerEvent<T>) => void): Informer<T> {
  const i = new Informer<T>(kube.kc, { path, apiVersion, kind });
  i.on(on);
  i.start();
  return i;
}

const jobComplete = (j: V1Job) => !!j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True');

/** 1. The cluster alone: the same PVCs and Jobs, no controller. @returns seconds until all Jobs Complete. */
async function floor(): Promise<number> {
  const cluster = await benchCluster('floor');
  try {
    const kube = adminKube(cluster.kubeconfig);
    await kube.create(R.namespace, { metadata: { name: NS } }).catch(() => undefined);
    const done = new Set<string>();
    let finished!: () => void;
    const all = new Promise<void>((r) => (finished = r));
    const jobs = informer<V1Job>(kube, '/apis/batch/v1/jobs', 'batch/v1', 'Job', ({ object }) => {
      if (jobComplete(object)) done.add(object.metadata!.name!);
      if (done.size === N) finished();
    });
    await jobs.waitForSync();
    const t0 = Date.now();
    const limit = pLimit(CLIENTS);
    await Promise.all(
      Array.from({ length: N }, (_, i) =>
        limit(async () => {
          const b = body(i);
          const storage = { metadata: { name: b.name as string, namespace: NS, uid: 'floor' }, spec: { size: '1Gi', storageClassName: CLASS, prepare: PREPARE } } as GPUStorage;
          const pvc = desiredPVC(storage);
          const job = desiredPrepareJob(storage, prepareDigest(PREPARE), { ttlSecondsAfterFinished: 3600, activeDeadlineSeconds: 1800 });
          delete pvc.metadata!.ownerReferences; // no owner: the garbage collector would take them
          delete job.metadata!.ownerReferences;
          await kube.create(R.pvc, pvc);
          await kube.create(R.job, job);
        }),
      ),
    );
    await all;
    const seconds = (Date.now() - t0) / 1000;
    jobs.stop();
    return seconds;
  } finally {
    await cluster.stop();
  }
}

/**
 * Means (sum / count, in seconds) of the service's histograms that say where time goes: queue
 * wait and reconcile time per controller (client-go's workqueue_* names), API round trips per
 * verb (rest_client_request_duration_seconds), and the REST requests served.
 */
function meansFromMetrics(text: string): Record<string, { mean: number; count: number }> {
  const sums = new Map<string, { sum: number; count: number }>();
  for (const line of text.split('\n')) {
    const m = /^(workqueue_queue_duration_seconds|workqueue_work_duration_seconds|rest_client_request_duration_seconds|rest_client_rate_limiter_duration_seconds|http_request_duration_seconds)_(sum|count)\{([^}]*)\} ([\d.e+-]+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[3]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    const key = `${m[1]} ${labels.name ?? labels.verb ?? `${labels.method} ${labels.route ?? ''}`}`.trim();
    const e = sums.get(key) ?? { sum: 0, count: 0 };
    if (m[2] === 'sum') e.sum += Number(m[4]);
    else e.count += Number(m[4]);
    sums.set(key, e);
  }
  return Object.fromEntries([...sums].filter(([, e]) => e.count > 0).map(([k, e]) => [k, { mean: Number((e.sum / e.count).toFixed(4)), count: e.count }]));
}

interface Timeline {
  posted?: number;
  pvc?: number;
  bound?: number;
  job?: number;
  complete?: number;
  ready?: number;
}

/** 2. The service on a cluster of its own. */
async function service() {
  const cluster = await benchCluster('service');
  const kube = adminKube(cluster.kubeconfig);
  await grantDevelopmentAccess(kube);
  const svc = await startService(cluster.operatorKubeconfig, {
    NODE_OPTIONS: [deployedNodeOptions(), PROFILE && `--cpu-prof --cpu-prof-dir=${PROFILE}`, HEAP_DIR && `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${HEAP_DIR}`].filter(Boolean).join(' '),
    ...(process.env.SEMI_SPACE_MB ? { NODE_OPTIONS: `--max-semi-space-size=${process.env.SEMI_SPACE_MB}` } : {}),
  });
  const rssIdleMB = svc.rssMB();
  const t: Map<string, Timeline> = new Map();
  const at = (name: string | undefined): Timeline => {
    if (!t.has(name!)) t.set(name!, {});
    return t.get(name!)!;
  };
  // Every version of one storage the watch delivers: what each of its status writes changed.
  const SAMPLE = 's-00007';
  const sample: string[] = [];
  let readyCount = 0;
  let converged!: () => void;
  const allReady = new Promise<void>((r) => (converged = r));
  const watchers = [
    informer<V1PersistentVolumeClaim>(kube, '/api/v1/persistentvolumeclaims', 'v1', 'PersistentVolumeClaim', ({ object }) => {
      const e = at(object.metadata?.name);
      e.pvc ??= Date.now();
      if (object.status?.phase === 'Bound') e.bound ??= Date.now();
    }),
    informer<V1Job>(kube, '/apis/batch/v1/jobs', 'batch/v1', 'Job', ({ object }) => {
      const e = at(object.metadata?.labels?.['runtime.lokiwager.io/storage']);
      e.job ??= Date.now();
      if (jobComplete(object)) e.complete ??= Date.now();
    }),
    informer<GPUStorage & KubernetesObject>(kube, '/apis/runtime.lokiwager.io/v1alpha1/gpustorages', 'runtime.lokiwager.io/v1alpha1', 'GPUStorage', ({ object }) => {
      if (object.metadata.name === SAMPLE) {
        const st = object.status;
        const ready = st?.conditions?.find((c) => c.type === 'Ready');
        sample.push(`${st?.phase ?? '-'} prepare=${st?.prepare?.phase ?? '-'} ready=${ready?.status ?? '-'}/${ready?.reason ?? '-'} conditions=${(st?.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(',')}: ${ready?.message ?? ''}`);
      }
      if (object.status?.phase !== 'Ready') return;
      const e = at(object.metadata.name);
      if (e.ready) return;
      e.ready = Date.now();
      if (++readyCount === N) converged();
    }),
  ];
  await Promise.all(watchers.map((w) => w.waitForSync()));
  const t0 = Date.now();
  const limit = pLimit(CLIENTS);
  const failures: string[] = [];
  // The service's own per-identity limit (RATE_LIMIT_PER_SECOND, 100/s) answers a burst past it
  // with 429 and Retry-After: the clients wait as told and send again, and the count is reported.
  let createsRateLimited = 0;
  const post = (i: number) =>
    limit(async () => {
      const b = body(i);
      at(b.name as string).posted = Date.now();
      for (;;) {
        const res = await fetch(`${svc.url}/api/v1/gpu-storages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
        if (res.status === 429) {
          createsRateLimited++;
          await res.arrayBuffer();
          await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get('retry-after') ?? 1)));
          continue;
        }
        if (res.status !== 201) failures.push(`${b.name}: ${res.status} ${await res.text()}`);
        return;
      }
    });
  // Clones after their sources exist (the API refuses a clone of a missing source with 400).
  const isClone = (i: number) => 'fromStorageName' in (body(i).prepare as object);
  const all = Array.from({ length: N }, (_, i) => i);
  await Promise.all(all.filter((i) => !isClone(i)).map(post));
  await Promise.all(all.filter(isClone).map(post));
  if (failures.length) throw new Error(`${failures.length} creates failed, first: ${failures[0]}`);
  const timeout = setTimeout(() => {
    const waiting = [...t].filter(([, e]) => !e.ready).map(([n]) => n);
    console.error(`not Ready after 10 min: ${waiting.length}, e.g. ${waiting.slice(0, 5).join(', ')}`);
    process.exit(1);
  }, 600_000);
  await allReady;
  clearTimeout(timeout);
  const convergeSeconds = (Date.now() - t0) / 1000;
  const peakRssMB = svc.peakRssMB();

  let idleWrites: number | undefined;
  if (IDLE_S > 0) {
    // One forced resync: every storage touched (an annotation change is a watch event for each),
    // then count the service's writes for IDLE_S seconds.
    await new Promise((r) => setTimeout(r, 5000));
    const since = Date.now();
    await Promise.all(
      [...t.keys()].map((name) => limit(() => kube.patch(R.storage, NS, name, { metadata: { annotations: { 'bench.lokiwager.io/resync': String(since) } } }, 'merge'))),
    );
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    idleWrites = auditWritesOf(cluster.auditLog, OPERATOR_USER, since).writes.filter((w) => !w.what.endsWith(' leases')).length;
  }

  let heap: HeapSummary | undefined;
  if (HEAP_DIR) {
    mkdirSync(HEAP_DIR, { recursive: true });
    const before = new Set(readdirSync(HEAP_DIR));
    svc.child.kill('SIGUSR2');
    // The process writes the snapshot synchronously: once it answers again, the file is whole.
    await new Promise((r) => setTimeout(r, 1000));
    while (!(await fetch(`${svc.url}/livez`).then((r) => r.ok, () => false))) await new Promise((r) => setTimeout(r, 500));
    const file = readdirSync(HEAP_DIR).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) throw new Error(`no heap snapshot written in ${HEAP_DIR}`);
    heap = { file: resolve(HEAP_DIR, file), ...summariseHeapSnapshot(resolve(HEAP_DIR, file)) };
  }

  // Let the audit log catch up, then name every write.
  await new Promise((r) => setTimeout(r, 1500));
  const { writes, throttled } = auditWritesOf(cluster.auditLog, OPERATOR_USER, t0 - 1000);
  const inRun = writes.filter((w) => w.at <= t0 + convergeSeconds * 1000 + 1000);
  const byKind: Record<string, number> = {};
  for (const w of inRun) byKind[w.what] = (byKind[w.what] ?? 0) + 1;
  const leaseWrites = inRun.filter((w) => w.what.endsWith(' leases')).length;
  const perStorage = (inRun.length - leaseWrites) / N;
  const steps = [...t.values()];
  const ms = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  const median = (xs: number[]) => percentile(xs, 50) / 1000;
  const perStorageReady = ms(steps.map((e) => (e.ready ?? NaN) - (e.posted ?? NaN)));
  const metricsText = await (await fetch(`${svc.url}/metrics`)).text();
  const breakdown = meansFromMetrics(metricsText);
  // Requests our client sent again after a 429 / 5xx with Retry-After (src/kube/throttle.ts).
  const clientRetries = [...metricsText.matchAll(/^rest_client_request_retries_total\{[^}]*\} ([\d.e+-]+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  for (const w of watchers) w.stop();
  await svc.stop();
  await cluster.stop();
  return {
    convergeSeconds,
    readyP50Seconds: percentile(perStorageReady, 50) / 1000,
    readyP99Seconds: percentile(perStorageReady, 99) / 1000,
    createToPvcMedianSeconds: median(ms(steps.map((e) => (e.pvc ?? NaN) - (e.posted ?? NaN)))),
    boundToJobMedianSeconds: median(ms(steps.map((e) => (e.job ?? NaN) - (e.bound ?? NaN)))),
    completeToReadyMedianSeconds: median(ms(steps.map((e) => (e.ready ?? NaN) - (e.complete ?? NaN)))),
    writesPerStorage: perStorage,
    writesByKind: byKind,
    leaseWrites,
    conflicts409: inRun.filter((w) => w.code === 409).length,
    throttled429: throttled,
    createsRateLimited,
    clientRetries,
    /** The service's client-side rate limit (KUBE_API_QPS / KUBE_API_BURST). */
    clientRateLimit: clientRateLimitFromEnv(),
    peakRssMB,
    rssIdleMB,
    idleWrites,
    heap,
    sampleVersions: sample,
    /** Means from the service's own /metrics over the run: where a storage's time goes. */
    meanSeconds: breakdown,
  };
}

const floorSeconds = await floor();
console.error(`floor: ${floorSeconds.toFixed(1)} s`);
const s = await service();
// The minimum writes of one storage's lifecycle, named: the GPUStorage create (the REST request),
// the PVC (server-side apply), the prepare Job, two status writes (Preparing when the Job starts,
// Ready when it completes) and the two Events kubectl describe shows (PrepareStarted,
// PrepareSucceeded). With the accessor (a fifth of the mixed burst): its Deployment and Service
// (server-side apply) and one more status write (accessor Ready), per storage on average.
const withAccessor = MIX === 'mixed' ? 0.2 : 0;
const MINIMUM = {
  'create gpustorages': 1,
  'patch persistentvolumeclaims': 1,
  'create jobs': 1,
  'update gpustorages/status': 2 + withAccessor,
  'create events': 2,
  ...(withAccessor ? { 'patch deployments': withAccessor, 'patch services': withAccessor } : {}),
};
const minimumPerStorage = Object.values(MINIMUM).reduce((a, b) => a + b, 0);
const result = {
  benchmark: 'converge',
  date: new Date().toISOString(),
  machine: `${(await import('node:os')).cpus().length} cores, ${Math.round((await import('node:os')).totalmem() / 2 ** 30)} GiB, ${process.platform}`,
  node: process.version,
  storages: N,
  clients: CLIENTS,
  mix: MIX,
  floorSeconds,
  ...s,
  convergeFloorRatio: s.convergeSeconds / floorSeconds,
  minimumWritesPerStorage: MINIMUM,
  writesPerLifecycleRatio: s.writesPerStorage / minimumPerStorage,
};
mkdirSync(`${repoRoot}bench/results`, { recursive: true });
writeFileSync(resolve(repoRoot, OUT), JSON.stringify(result, null, 2) + '\n');
const { writesByKind, minimumWritesPerStorage, sampleVersions, meanSeconds, heap, clientRateLimit, ...table } = result;
console.table(Object.entries(meanSeconds).map(([what, e]) => ({ what, meanSeconds: e.mean, count: e.count })));
console.log(`versions of ${sampleVersions.length ? 's-00007' : '-'} seen by a watch:\n  ${sampleVersions.join('\n  ')}`);
console.table(Object.entries(table).map(([k, v]) => ({ figure: k, value: typeof v === 'number' ? Number(v.toFixed(3)) : v })));
console.table(Object.entries(writesByKind).map(([write, count]) => ({ write, count, perStorage: Number((count / N).toFixed(2)) })));
console.log(`client-side rate limit: ${clientRateLimit.qps}/s, burst ${clientRateLimit.burst}`);
if (heap) {
  console.log(`heap snapshot ${heap.file}: ${heap.totalMB} MB in ${heap.nodes} nodes; by type: ${JSON.stringify(heap.byType)}`);
  console.table(heap.top);
}
process.exit(0);
