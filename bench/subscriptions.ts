/**
 * npm run bench:subscriptions — report 4 of issue 13: 1,000 graphql-ws subscribers on
 * `storagesChanged(namespace)`, 100 status changes per second for 60 s, delivery latency of each
 * change to each client measured against a raw watch on the same objects in the same run, and
 * the service's RSS.
 *
 * A local cluster (real kube-apiserver); 100 real GPUStorages in one namespace; the service in a
 * process of its own (bench/serve.ts: no controllers, so only the benchmark changes
 * status); the subscribers in two worker threads of this process (bench/subscriptions/client.mjs,
 * one connection and one subscription each, all as the anonymous caller bound to
 * gpu-runtime-tenant there); the raw watch (client-node Watch, admin identity) in the main thread.
 * The driver merge-patches `status.lastSyncTime` of storage i mod 100 every 10 ms.
 *
 * Latency of a delivery = its arrival at the client − the arrival of the same resourceVersion at
 * the raw watch (both stamped with `performance.timeOrigin + now()`, one clock). The raw watch's
 * own latency from the write's answer is reported beside it. RSS and CPU of the service process
 * are sampled every second from /proc. Writes bench/results/subscriptions.json.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Watch } from '@kubernetes/client-node';
import { startLocalCluster } from '../hack/cluster/cluster';
import { loadKubeConfig } from '../src/app';
import { grantDevelopmentAccess } from '../src/auth/roles';
import { Kube, R } from '../src/kube/resources';
import { quantiles, rssMiB, seedStorages, startService, type ServiceProcess } from './seed';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const WORKERS = Number(process.env.BENCH_CLIENT_WORKERS ?? 2);
const RATE = Number(process.env.BENCH_CHANGES_PER_SECOND ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const OBJECTS = Number(process.env.BENCH_OBJECTS ?? 100);
const NS = 'bench-subs';
const now = () => performance.timeOrigin + performance.now();

/** CPU seconds (user + system) of process `pid`, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

const cluster = await startLocalCluster({ name: 'bench-subs', persistent: false, log: () => undefined });
let server: ServiceProcess | undefined;
try {
  const kc = loadKubeConfig(cluster.kubeconfig);
  const admin = new Kube(kc);
  await admin.create(R.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await grantDevelopmentAccess(admin, { tenant: [NS], stock: [] });
  const names = Array.from({ length: OBJECTS }, (_, i) => `s-${String(i).padStart(4, '0')}`);
  await seedStorages(admin, NS, names, 32);

  // The service, in its own process.
  server = await startService(cluster.operatorKubeconfig);
  const { url, pid } = server;
  const rssIdle = rssMiB(pid);

  // The raw watch: arrival time of every resourceVersion of the namespace's storages (restarted
  // from the last resourceVersion seen if it ends; client-node's 30 s inactivity abort raised).
  const raw = new Map<number, number>();
  let rawRV = '';
  let rawRestarts = 0;
  let rawStopped = false;
  let rawWatch: AbortController | undefined;
  const startRaw = async (): Promise<void> => {
    const w = new Watch(kc);
    (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 600_000;
    rawWatch = await w.watch(
      `/apis/runtime.lokiwager.io/v1alpha1/namespaces/${NS}/gpustorages`,
      { allowWatchBookmarks: true, ...(rawRV ? { resourceVersion: rawRV } : {}) },
      (type: string, obj: { metadata?: { resourceVersion?: string } }) => {
        if (obj.metadata?.resourceVersion) rawRV = obj.metadata.resourceVersion;
        if (type === 'MODIFIED') raw.set(Number(obj.metadata?.resourceVersion), now());
      },
      () => {
        if (rawStopped) return;
        rawRestarts++;
        void startRaw();
      },
    );
  };
  await startRaw();

  // The subscribers.
  const workers = Array.from({ length: WORKERS }, (_, i) => new Worker(new URL('./subscriptions/client.mjs', import.meta.url), { workerData: { url, namespace: NS, connections: Math.floor(SUBSCRIBERS / WORKERS) + (i < SUBSCRIBERS % WORKERS ? 1 : 0) } }));
  const ask = <T>(w: Worker, cmd: string) => new Promise<T>((r) => (w.once('message', r), w.postMessage({ cmd })));
  const t0 = performance.now();
  const opened = (await Promise.all(workers.map((w) => ask<{ opened: number }>(w, 'open')))).reduce((n, r) => n + r.opened, 0);
  const subscribeSeconds = (performance.now() - t0) / 1000;
  // Wait until every subscriber has its current state (OBJECTS ADDED each).
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
    const s = await Promise.all(workers.map((w) => ask<{ added: number }>(w, 'added')));
    if (s.reduce((n, x) => n + x.added, 0) >= opened * OBJECTS) break;
  }
  const initialSeconds = (performance.now() - t0) / 1000;
  const rssSubscribed = rssMiB(pid);
  console.log(`${opened} subscribers, current state delivered in ${initialSeconds.toFixed(1)} s; service RSS ${rssSubscribed} MiB`);

  // The driver: RATE status changes per second for SECONDS.
  const written = new Map<number, number>();
  let writeErrors = 0;
  const rss: number[] = [];
  const cpu0 = cpuSeconds(pid);
  const sampler = setInterval(() => rss.push(rssMiB(pid)), 1000);
  const start = performance.now();
  const total = RATE * SECONDS;
  let issued = 0;
  const errorSamples: string[] = [];
  const inflight = new Set<Promise<void>>();
  // On schedule (RATE per second), at most MAX_INFLIGHT writes in flight; the rate reached is reported.
  const MAX_INFLIGHT = 32;
  while (issued < total && performance.now() - start < SECONDS * 1000 + 30_000) {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE);
    while (issued < Math.min(due, total) && inflight.size < MAX_INFLIGHT) {
      const i = issued++;
      const p: Promise<void> = admin
        .patch(R.storage, NS, names[i % OBJECTS]!, { status: { lastSyncTime: new Date().toISOString() } }, 'merge', 'status')
        .then((o) => void written.set(Number(o.metadata?.resourceVersion), now()))
        .catch((err: unknown) => {
          writeErrors++;
          if (errorSamples.length < 5) errorSamples.push(err instanceof Error ? err.message : String(err));
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(inflight);
  const driveSeconds = (performance.now() - start) / 1000;
  await new Promise((r) => setTimeout(r, 5000)); // drain
  clearInterval(sampler);
  const cpuUsed = cpuSeconds(pid) - cpu0;
  const rssEnd = rssMiB(pid);
  rawStopped = true;
  rawWatch?.abort();

  const results = await Promise.all(workers.map((w) => ask<{ rvs: Float64Array; at: Float64Array; errors: number; cpuSeconds: number }>(w, 'stop')));
  const clientCpuSeconds = results.reduce((n, r) => n + r.cpuSeconds, 0);
  const loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  await Promise.all(workers.map((w) => w.terminate()));
  const overhead: number[] = [];
  let unmatched = 0;
  let delivered = 0;
  for (const r of results)
    for (let i = 0; i < r.rvs.length; i++) {
      delivered++;
      const base = raw.get(r.rvs[i]!);
      if (base === undefined) unmatched++;
      else overhead.push(r.at[i]! - base);
    }
  const rawFromWrite: number[] = [];
  for (const [rv, t] of written) {
    const a = raw.get(rv);
    if (a !== undefined) rawFromWrite.push(a - t);
  }
  const expected = written.size * opened;
  const table = {
    'service → client, over the raw watch (per delivery)': quantiles(overhead),
    'raw watch, from the write answered (per change)': quantiles(rawFromWrite),
  };
  console.table(table);
  const result = {
    benchmark: 'subscriptions',
    date: new Date().toISOString(),
    machine: '2 cores shared with other work (the service, 1,000 clients in 2 worker threads, kube-apiserver and etcd on them), 24 GiB',
    subscribers: opened,
    identity: 'one (anonymous, bound to gpu-runtime-tenant in the namespace): shared execution serves them as one group',
    objects: OBJECTS,
    changesPerSecondAsked: RATE,
    seconds: SECONDS,
    changesWritten: written.size,
    writeErrors,
    writeErrorSamples: errorSamples,
    changesPerSecondReached: +(written.size / driveSeconds).toFixed(1),
    rawWatchRestarts: rawRestarts,
    driveSeconds: +driveSeconds.toFixed(1),
    subscribeSeconds: +subscribeSeconds.toFixed(1),
    currentStateDeliveredSeconds: +initialSeconds.toFixed(1),
    deliveriesExpected: expected,
    deliveries: delivered,
    deliveriesUnmatched: unmatched,
    clientErrors: results.reduce((n, r) => n + r.errors, 0),
    latencyMs: table,
    overheadP99Ms: table['service → client, over the raw watch (per delivery)'].p99,
    serviceRssMiB: { idle: rssIdle, subscribed: rssSubscribed, maxWhileDriving: Math.max(...rss), end: rssEnd, endAfterGC: (await server.stats()).rssMiB },
    serviceCpuCoresWhileDriving: +(cpuUsed / (driveSeconds + 5)).toFixed(2),
    clientWorkersCpuSecondsTotal: +clientCpuSeconds.toFixed(1),
    machineLoadAverageAtEnd: loadAverage,
    benchProcessRssMiB: rssMiB(),
    targets: { overheadP99Ms: 20 },
  };
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  // BENCH_TAG: a variant's file beside the main one (subscriptions-<tag>.json).
  const tag = process.env.BENCH_TAG ? `-${process.env.BENCH_TAG}` : '';
  writeFileSync(new URL(`./results/subscriptions${tag}.json`, import.meta.url), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
} finally {
  await server?.stop();
  await cluster.stop();
}
