/**
 * Shared pieces of the scale benchmarks (bench/reads.ts, bench/subscriptions.ts): quantiles,
 * memory figures, a bounded-concurrency runner, and seeding real objects into the local cluster
 * through the Kubernetes API (admin identity) with high concurrency.
 */
import { spawn } from 'node:child_process';
import { build } from 'esbuild';
import { bundleOptions } from '../hack/bundle-options.mjs';
import { readFileSync } from 'node:fs';
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, COMMON_LABELS, LABELS } from '../src/api/constants';
import type { GPUStorage, GPUUnit } from '../src/api/types';
import { R, type Kube } from '../src/kube/resources';
import { deployedNodeOptions } from './support/service';

/** p50/p99/max/mean of `ms`, rounded to µs. */
export function quantiles(ms: number[] | Float64Array): { n: number; p50: number; p99: number; max: number; mean: number } {
  const s = Float64Array.from(ms).sort();
  if (!s.length) return { n: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  const r = (x: number) => +x.toFixed(3);
  return { n: s.length, p50: r(at(0.5)), p99: r(at(0.99)), max: r(s[s.length - 1]!), mean: r(s.reduce((a, b) => a + b, 0) / s.length) };
}

/** RSS of process `pid` (default this one) in MiB, from /proc (VmRSS). */
export function rssMiB(pid: number | 'self' = 'self'): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? +(Number(m[1]) / 1024).toFixed(1) : NaN;
}

/** Runs `fn(i)` for i in [0, n) with at most `concurrency` in flight. @returns elapsed ms. */
export async function runPool(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
  return performance.now() - t0;
}

/** A Ready-looking status, as the storage controller writes one (so views and RSS are realistic). */
export function readyStatus(name: string, ns: string): GPUStorage['status'] {
  const now = new Date().toISOString();
  const cond = (type: string, reason: string, message: string) => ({ type, status: 'True', reason, message, observedGeneration: 1, lastTransitionTime: now });
  return {
    claimName: name,
    capacity: '1Gi',
    phase: 'Ready',
    observedGeneration: 1,
    lastSyncTime: now,
    prepare: { phase: 'NotRequested', recoveryPhase: 'None' },
    accessor: { phase: 'Disabled' },
    conditions: [
      cond('Ready', 'StorageReady', `PersistentVolumeClaim ${name} is Bound (1Gi)`),
      cond('Prepared', 'StoragePrepareReady', 'no prepare contract'),
      cond('AccessorReady', 'StorageAccessorReady', `accessor disabled for ${ns}/${name}`),
    ],
  } as GPUStorage['status'];
}

/** A GPUStorage as the service creates one (labels, spec), without going through the service. */
export function storageObject(ns: string, name: string): GPUStorage & KubernetesObject {
  return { apiVersion: API_VERSION, kind: 'GPUStorage', metadata: { name, namespace: ns, labels: { ...COMMON_LABELS, [LABELS.storage]: name } }, spec: { size: '1Gi', storageClassName: 'rook-ceph-block' } };
}

/** An active GPUUnit mounting `storage` (written directly: no stock is consumed). */
export function unitObject(ns: string, name: string, storage: string): GPUUnit & KubernetesObject {
  return {
    apiVersion: API_VERSION,
    kind: 'GPUUnit',
    metadata: { name, namespace: ns, labels: { ...COMMON_LABELS, [LABELS.unit]: name } },
    spec: { specName: 'g1.1', image: 'example.invalid/app:1', memory: '1Gi', gpu: 0, storageMounts: [{ name: storage, mountPath: '/data' }] },
  };
}

/**
 * Creates storages `names` in `ns` and writes a Ready status on each (two API writes per storage).
 * @returns elapsed ms.
 */
export async function seedStorages(kube: Kube, ns: string, names: string[], concurrency: number): Promise<number> {
  return runPool(names.length, concurrency, async (i) => {
    const name = names[i]!;
    await kube.create(R.storage, storageObject(ns, name));
    await kube.patch(R.storage, ns, name, { status: readyStatus(name, ns) }, 'merge', 'status');
  });
}

/** Creates a PVC per storage (the child the controller would make; a class nobody provisions, so it stays Pending). */
export async function seedClaims(kube: Kube, ns: string, names: string[], concurrency: number): Promise<number> {
  return runPool(names.length, concurrency, (i) =>
    kube.create(R.pvc, {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: names[i]!, namespace: ns, labels: { ...COMMON_LABELS, [LABELS.storage]: names[i]! } },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'bench-unprovisioned' },
    }),
  );
}

/** What bench/serve.ts reports on SIGUSR2. */
export interface ServiceStats {
  rssMiB: number;
  /** RSS that is anonymous memory (V8 heaps, malloc) and file-backed (code and data of the binary and libraries), from /proc. */
  rssAnonMiB: number;
  rssFileMiB: number;
  heapUsedMiB: number;
  /** V8's committed heap (what RSS holds for the heap, used or not). */
  heapTotalMiB: number;
  /** Memory of ArrayBuffers and other objects outside the V8 heap (process.memoryUsage().external). */
  externalMiB: number;
  cached: { storages: number; units: number; pvcs: number };
  api: Record<'probe' | 'authz' | 'watch' | 'list' | 'other', number>;
  otherPaths: Record<string, number>;
}

/** The service of bench/serve.ts running in a child process. */
export interface ServiceProcess {
  url: string;
  pid: number;
  /** Forces a GC in the service and returns its memory and API request counts. */
  stats(): Promise<ServiceStats>;
  stop(): Promise<void>;
}

/**
 * Starts bench/serve.ts against `kubeconfig`, bundled first with esbuild as `npm run build`
 * bundles the service (hack/bundle-options.mjs) and run by plain `node --expose-gc`, so its memory is
 * the deployed service's, not tsx's (its TypeScript loader alone holds tens of MiB). Resolves once
 * it serves.
 */
export async function startService(kubeconfig: string): Promise<ServiceProcess> {
  const root = new URL('..', import.meta.url).pathname;
  // In dist/ as the service bundle is: it finds crds/ at ../crds, as dist/main.js does.
  const outfile = `${root}dist/bench-serve.mjs`;
  await build({ ...bundleOptions(root), entryPoints: ['bench/serve.ts'], outfile });
  // BENCH_CPU_PROF=<dir>: the service writes a V8 CPU profile there when it stops.
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  // As deployed: deploy/deployment.yaml's NODE_OPTIONS (heap limits), plus what the caller adds.
  const nodeOptions = [deployedNodeOptions(), process.env.NODE_OPTIONS ?? ''].filter(Boolean).join(' ');
  const child = spawn(process.execPath, ['--expose-gc', ...prof, outfile, kubeconfig], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: nodeOptions } });
  let buf = '';
  const waiters: ((s: ServiceStats) => void)[] = [];
  let resolveUrl: (u: string) => void;
  const url = new Promise<string>((resolve, reject) => {
    resolveUrl = resolve;
    child.on('exit', (code) => reject(new Error(`bench/serve.ts exited with ${code}`)));
  });
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('URL ')) resolveUrl(line.slice(4).trim());
      else if (line.startsWith('STATS ')) waiters.shift()?.(JSON.parse(line.slice(6)) as ServiceStats);
    }
  });
  return {
    url: await url,
    pid: child.pid!,
    stats: () => new Promise<ServiceStats>((r) => (waiters.push(r), child.kill('SIGUSR2'))),
    stop: () => new Promise<void>((r) => (child.once('exit', () => r()), child.kill('SIGTERM'))),
  };
}
