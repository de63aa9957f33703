/**
 * What the cluster-level benchmarks share: a fresh local cluster tuned for measuring the
 * controller (kube-controller-manager and kube-scheduler at 1000 QPS, Job pods that complete at
 * once), the production build of the service as a child process (`node dist/main.js`, as an
 * installed replica runs), its RSS sampled from /proc, and write counts from the API server's
 * audit log.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadAllYaml } from '@kubernetes/client-node';
export { auditWritesOf, type AuditedWrite } from '../../test/support/audit';
import { freePort, startLocalCluster, type LocalCluster, type LocalClusterOptions } from '../../hack/cluster/cluster';


export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * NODE_OPTIONS of the installed replica (the container's env in deploy/deployment.yaml: heap
 * bounds), so the benchmarks measure the process as it runs in a cluster.
 */
export function deployedNodeOptions(): string {
  const docs = loadAllYaml(readFileSync(`${repoRoot}/deploy/deployment.yaml`, 'utf8')) as { kind?: string; spec?: { template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } } } }[];
  const env = docs.find((d) => d.kind === 'Deployment')?.spec?.template?.spec?.containers?.[0]?.env ?? [];
  return env.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
}

/** The local cluster's user for the service (hack/cluster/cluster.ts `operatorKubeconfig`). */
export const OPERATOR_USER = 'gpu-runtime-operator';

/**
 * A fresh, non-persistent local cluster named `bench-<name>-<pid>` for one measurement, with the
 * components' client QPS raised to 1000 and Job pods completing after `podRunMs` (default 0).
 */
export async function benchCluster(name: string, opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  return startLocalCluster({ name: `bench-${name}-${process.pid}`, persistent: false, componentQps: 1000, podRunMs: 0, log: () => undefined, ...opts });
}

/** The service as a child process, and its memory as /proc reports it. */
export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  /** The highest RSS sampled (every 200 ms) and the kernel's high-water mark (VmHWM), in MB. */
  peakRssMB(): number;
  /** Current RSS in MB. */
  rssMB(): number;
  stop(): Promise<void>;
}

function procStatusMB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Builds `dist/` (npm run build) and starts `node dist/main.js` on a free port against
 * `kubeconfig` with the NODE_OPTIONS of deploy/deployment.yaml (`env.NODE_OPTIONS` overrides
 * them); resolves when /readyz answers 200.
 * @throws when the service exits or is not ready within 60 s (its stderr is in the message).
 */
export async function startService(kubeconfig: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  execFileSync(process.execPath, ['hack/build.mjs'], { cwd: repoRoot, stdio: 'inherit' });
  const port = await freePort();
  // BENCH_SERVICE_LOG=<file>: the service's JSON log goes there (else it is discarded).
  const logFile = process.env.BENCH_SERVICE_LOG ? openSync(process.env.BENCH_SERVICE_LOG, 'a') : 'ignore';
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: repoRoot,
    env: { ...process.env, NODE_OPTIONS: deployedNodeOptions(), KUBECONFIG: kubeconfig, PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', logFile, 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`service not ready after 60 s: ${stderr}`);
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  let peak = 0;
  const pid = child.pid!;
  const sampler = setInterval(() => (peak = Math.max(peak, procStatusMB(pid, 'VmRSS'))), 200);
  return {
    url,
    child,
    rssMB: () => procStatusMB(pid, 'VmRSS'),
    peakRssMB: () => Math.max(peak, procStatusMB(pid, 'VmHWM')),
    async stop() {
      clearInterval(sampler);
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** p-th percentile (0–100) of `xs` (nearest rank); NaN for an empty list. */
export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
