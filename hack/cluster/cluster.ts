/**
 * The project's local Kubernetes control plane, started on loopback from binaries built by
 * hack/build-tools.sh: etcd → kube-apiserver (TLS, client-cert admin, RBAC) →
 * kube-controller-manager (with the hostpath provisioner for the Immediate classes) and
 * kube-scheduler → kwok with simulated GPU nodes → rancher's local-path-provisioner for the
 * WaitForFirstConsumer class `local-path` → with `realNode`, a real kubelet node on containerd
 * (hack/node/node.ts). No Docker, no fakes: a real API server with real controllers.
 *
 * Layout under the state directory (default `$GPU_RUNTIME_CACHE/cluster/<name>`, where
 * GPU_RUNTIME_CACHE defaults to ~/.cache/gpu-runtime):
 *   kubeconfig      admin kubeconfig for the cluster (fixed path, printed at start)
 *   kubectl         symlink to the kubectl of the same build
 *   pki/            CA, serving and client certificates, service-account key
 *   etcd/           etcd data (kept between starts of a persistent cluster)
 *   local-path.json the local-path-provisioner's config (where volumes go on each node)
 *   logs/<component>.log
 *   pids            processes of the running cluster, so a later start can reap leftovers
 *   node/           the real node's kubelet, containerd root, pod logs and local-path volumes
 *                   (node.json records what cleanupRealNode undoes)
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  GPU_NODE_TAINT,
  REAL_NODE_NAME,
  cleanupRealNode,
  ensureNodeBinaries,
  realNodeUnavailable,
  startRealNode,
  type RealNode,
} from '../node/node';

const execFileAsync = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');

/** Options for {@link startLocalCluster}. */
export interface LocalClusterOptions {
  /** State directory name under `$GPU_RUNTIME_CACHE/cluster/` (default `dev`). */
  name?: string;
  /** Keep etcd data and certificates from an earlier start (default true). Tests pass false. */
  persistent?: boolean;
  /** Number of simulated nodes (default 4), each advertising `gpusPerNode` `nvidia.com/gpu`. */
  nodes?: number;
  /** GPUs per simulated node (default 8). */
  gpusPerNode?: number;
  /** How long a Job pod stays Running before it completes, in ms (default 2000; env KWOK_POD_RUN_MS). */
  podRunMs?: number;
  /** The same for Job pods whose image starts with `example.invalid/slow`, in ms (default 8000). */
  slowPodRunMs?: number;
  /**
   * Built-in resources (lowercase plural, group omitted for core, e.g. `configmaps`) the API
   * server serves without its watch cache (`--watch-cache-sizes=<resource>#0`): their watches go
   * to etcd, so an etcd compaction expires old resourceVersions (410 Gone) as on a long-running
   * cluster. Tests use it to provoke W3; default none.
   */
  uncachedWatches?: string[];
  /**
   * Start a real kubelet node beside the simulated ones (hack/node/node.ts): containerd, runc and
   * CNI from Debian, the kubelet of the same Kubernetes build; prepare and copy Jobs, accessors and
   * the provisioner's helper pods then run there for real, GPU pods stay on the simulated nodes
   * (tainted `nvidia.com/gpu=present:NoSchedule`, tolerated by the ExtendedResourceToleration
   * admission plugin). Needs root. Default: env `GPU_RUNTIME_REAL_NODE=1`, else off.
   */
  realNode?: boolean;
  /**
   * Client-side rate limit (`--kube-api-qps` and `--kube-api-burst`, both set to this value) of
   * kube-controller-manager and kube-scheduler. Their defaults (20/30 and 50/100) make the cluster
   * itself the bottleneck for a burst of hundreds of PVCs and Jobs (the PV binder and the Job
   * controller wait on their own limiter), so benchmarks raise it to 1000 to measure the
   * controller instead (issue 14). Default: the components' own defaults (env
   * `LOCAL_CLUSTER_KUBE_API_QPS`).
   */
  componentQps?: number;
  /** Bound for each component to come up, in ms (default 90000). */
  componentTimeoutMs?: number;
  /** Progress lines go here (default: stderr). */
  log?: (line: string) => void;
}

/** A running local cluster. `stop()` terminates every process it started. */
export interface LocalCluster {
  /** Admin kubeconfig path (fixed for a given name). */
  kubeconfig: string;
  /** Kubeconfig for the service itself: user `gpu-runtime-operator` (system:masters), so its writes can be told apart. */
  operatorKubeconfig: string;
  /** kubectl from the same build (a symlink beside the kubeconfig). */
  kubectl: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** State directory. */
  dir: string;
  /** Audit log of the API server (JSON lines, writes only). */
  auditLog: string;
  /** etcd's client URL (plain HTTP on loopback), e.g. for a test that compacts it. */
  etcd: string;
  /** The real node, when started with `realNode`. */
  realNode?: RealNode;
  /**
   * Stops one component (SIGTERM, then SIGKILL after 5 s), waits `downMs` (default 0), and
   * starts it again with the same flags, data and port; resolves when it is healthy again.
   * Fault tests use it: the service must survive an API server or etcd restart (issue 12).
   * @throws when the component does not come back within the component timeout.
   */
  restart(component: 'etcd' | 'kube-apiserver', opts?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

/** Cache root shared by binaries and cluster state; `GPU_RUNTIME_CACHE` overrides it. */
export function cacheRoot(): string {
  return process.env.GPU_RUNTIME_CACHE ?? path.join(os.homedir(), '.cache', 'gpu-runtime');
}

/** Where the built binaries are: the Kubernetes/kwok directory and the provisioner's own. */
export interface ToolBinaries {
  /** etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok. */
  bin: string;
  /** local-path-provisioner (its own module and cache key: hack/local-path). */
  localPathBin: string;
}

/**
 * Builds (when missing) and returns the directories holding etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kubectl, kwok and local-path-provisioner
 * (hack/build-tools.sh). Build progress goes to `log`.
 * @throws Error when the build fails (its output names the failing module).
 */
export async function ensureToolBinaries(log: (line: string) => void = defaultLog): Promise<ToolBinaries> {
  const script = path.join(repoRoot, 'hack', 'build-tools.sh');
  return await new Promise<ToolBinaries>((resolve, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line.trim()) log(line);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const lines = out.trim().split('\n');
      const bin = lines.pop() ?? '';
      const localPathBin = lines.find((l) => l.startsWith('local-path-bin='))?.slice('local-path-bin='.length) ?? '';
      if (code === 0 && bin && localPathBin) resolve({ bin, localPathBin });
      else reject(new Error(`hack/build-tools.sh failed with exit code ${code}; see the lines above`));
    });
  });
}

/**
 * Builds (when missing) and returns the directory holding etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kubectl and kwok. See {@link ensureToolBinaries}.
 */
export async function ensureBinaries(log: (line: string) => void = defaultLog): Promise<string> {
  return (await ensureToolBinaries(log)).bin;
}

function defaultLog(line: string): void {
  process.stderr.write(`[cluster] ${line}\n`);
}

/** A free TCP port on loopback (the kernel picks it; closed again before it is returned). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Kills processes recorded by an earlier run that did not stop cleanly. */
function reapLeftovers(pidFile: string): void {
  if (!fs.existsSync(pidFile)) return;
  for (const line of fs.readFileSync(pidFile, 'utf8').split('\n')) {
    const pid = Number(line.trim());
    if (!pid) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  fs.rmSync(pidFile, { force: true });
}

/**
 * Stops and removes the state of test clusters (`cluster/test-<pid>` and `cluster/test-<pid>-<suffix>`,
 * a test's own second cluster) whose test process is gone,
 * e.g. after a runner was killed. A live runner's cluster is left alone.
 * @returns the names of the clusters reaped.
 */
export function reapStaleTestClusters(): string[] {
  const root = path.join(cacheRoot(), 'cluster');
  if (!fs.existsSync(root)) return [];
  const reaped: string[] = [];
  for (const name of fs.readdirSync(root)) {
    const m = /^test-(\d+)(?:-[a-z0-9-]+)?$/.exec(name);
    if (!m) continue;
    let alive = true;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      alive = false;
    }
    if (alive) continue;
    reapLeftovers(path.join(root, name, 'pids'));
    cleanupRealNode(path.join(root, name));
    fs.rmSync(path.join(root, name), { recursive: true, force: true });
    reaped.push(name);
  }
  return reaped;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await execFileAsync('openssl', args, { cwd });
}

/** CA, API server serving certificate, admin client certificate and service-account key pair. */
async function makePki(pki: string): Promise<void> {
  if (fs.existsSync(path.join(pki, 'admin.crt'))) return;
  fs.mkdirSync(pki, { recursive: true });
  const days = '3650';
  await openssl(['genrsa', '-out', 'ca.key', '2048'], pki);
  await openssl(['req', '-x509', '-new', '-nodes', '-key', 'ca.key', '-subj', '/CN=gpu-runtime-local-ca', '-days', days, '-out', 'ca.crt'], pki);
  fs.writeFileSync(
    path.join(pki, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n',
  );
  fs.writeFileSync(path.join(pki, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  const issue = async (name: string, subj: string, ext: string) => {
    await openssl(['genrsa', '-out', `${name}.key`, '2048'], pki);
    await openssl(['req', '-new', '-key', `${name}.key`, '-subj', subj, '-out', `${name}.csr`], pki);
    await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', days, '-extfile', ext, '-out', `${name}.crt`], pki);
  };
  await issue('server', '/CN=kube-apiserver', 'server.ext');
  await issue('admin', '/O=system:masters/CN=kubernetes-admin', 'client.ext');
  // The service's own identity, so that the audit log tells its writes from the controllers'.
  await issue('operator', '/O=system:masters/CN=gpu-runtime-operator', 'client.ext');
  await openssl(['genrsa', '-out', 'sa.key', '2048'], pki);
  await openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], pki);
}

function writeKubeconfig(file: string, server: string, pki: string, user: 'admin' | 'operator'): void {
  const b64 = (f: string) => fs.readFileSync(path.join(pki, f)).toString('base64');
  fs.writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
- name: gpu-runtime-local
  cluster:
    server: ${server}
    certificate-authority-data: ${b64('ca.crt')}
users:
- name: admin
  user:
    client-certificate-data: ${b64(`${user}.crt`)}
    client-key-data: ${b64(`${user}.key`)}
contexts:
- name: gpu-runtime-local
  context:
    cluster: gpu-runtime-local
    user: admin
current-context: gpu-runtime-local
`,
    { mode: 0o600 },
  );
}

interface Proc {
  name: string;
  child: ChildProcess;
  exited: boolean;
}

/** GET url; resolves true on 200. TLS uses the admin client certificate when `pki` is given. */
function probe(url: string, pki?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const opts = pki
      ? {
          ca: fs.readFileSync(path.join(pki, 'ca.crt')),
          cert: fs.readFileSync(path.join(pki, 'admin.crt')),
          key: fs.readFileSync(path.join(pki, 'admin.key')),
          rejectUnauthorized: true,
          timeout: 2000,
        }
      : { timeout: 2000, rejectUnauthorized: false };
    const req = (url.startsWith('https') ? httpsRequest : httpRequest)(url, opts, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/**
 * Starts the local cluster and waits until it can run Jobs, Deployments and bind PVCs.
 *
 * @returns the running cluster; call `stop()` to terminate it (also on SIGINT/SIGTERM of the caller).
 * @throws Error naming the component that did not come up within `componentTimeoutMs`, with the
 *   tail of its log.
 */
export async function startLocalCluster(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  const log = opts.log ?? defaultLog;
  const name = opts.name ?? 'dev';
  const persistent = opts.persistent ?? true;
  const nodes = opts.nodes ?? 4;
  const gpusPerNode = opts.gpusPerNode ?? 8;
  const podRunMs = opts.podRunMs ?? Number(process.env.KWOK_POD_RUN_MS ?? 2000);
  const slowPodRunMs = opts.slowPodRunMs ?? 8000;
  const timeoutMs = opts.componentTimeoutMs ?? 90_000;
  const withRealNode = opts.realNode ?? process.env.GPU_RUNTIME_REAL_NODE === '1';
  const started = Date.now();

  const { bin, localPathBin } = await ensureToolBinaries(log);
  let nodeBins: ReturnType<typeof ensureNodeBinaries> | undefined;
  if (withRealNode) {
    const why = realNodeUnavailable();
    if (why) throw new Error(`cannot start the real node: ${why}`);
    nodeBins = ensureNodeBinaries(log);
  }
  const dir = path.join(cacheRoot(), 'cluster', name);
  const pidFile = path.join(dir, 'pids');
  reapLeftovers(pidFile);
  cleanupRealNode(dir);
  if (!persistent) fs.rmSync(dir, { recursive: true, force: true });
  const pki = path.join(dir, 'pki');
  const logs = path.join(dir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  await makePki(pki);

  const procs: Proc[] = [];
  let stopping: Promise<void> | undefined;
  const terminate = async (p: Proc): Promise<void> => {
    if (p.exited) return;
    try {
      process.kill(-p.child.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
    const deadline = Date.now() + 5000;
    while (!p.exited && Date.now() < deadline) await sleep(50);
    if (!p.exited) {
      try {
        process.kill(-p.child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      while (!p.exited) await sleep(20);
    }
  };
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const p of [...procs].reverse()) await terminate(p);
      // The real node's containers, shims, mounts, cgroups and bridge outlive its processes.
      cleanupRealNode(dir);
      fs.rmSync(pidFile, { force: true });
      if (!persistent) fs.rmSync(dir, { recursive: true, force: true });
    })());

  /** How each component was started, so {@link LocalCluster.restart} starts it the same way. */
  const launched = new Map<string, { args: string[]; exe: string }>();
  const launch = (component: string, args: string[], exe = path.join(bin, component)): Proc => {
    const out = fs.openSync(path.join(logs, `${component}.log`), 'a');
    // detached: its own process group, so stop() can signal the component and anything it spawned.
    const child = spawn(exe, args, {
      stdio: ['ignore', out, out],
      detached: true,
      cwd: dir,
    });
    fs.closeSync(out);
    const p: Proc = { name: component, child, exited: false };
    child.on('exit', () => (p.exited = true));
    procs.push(p);
    launched.set(component, { args, exe });
    fs.appendFileSync(pidFile, `${child.pid}\n`);
    return p;
  };

  const waitFor = async (p: Proc, what: string, check: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (p.exited) break;
      if (await check()) return;
      await sleep(250);
    }
    const tail = fs.existsSync(path.join(logs, `${p.name}.log`))
      ? fs.readFileSync(path.join(logs, `${p.name}.log`), 'utf8').split('\n').slice(-15).join('\n')
      : '';
    await stop();
    throw new Error(
      `${p.name} did not become ${what} within ${timeoutMs / 1000}s${p.exited ? ' (the process exited)' : ''}; ` +
        `log ${path.join(logs, `${p.name}.log`)} ends with:\n${tail}`,
    );
  };

  try {
    // etcd
    const etcdPort = await freePort();
    const peerPort = await freePort();
    log(`starting etcd on 127.0.0.1:${etcdPort}`);
    const etcd = launch('etcd', [
      '--name=local',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=local=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    await waitFor(etcd, 'healthy', () => probe(`http://127.0.0.1:${etcdPort}/health`));

    // kube-apiserver
    const apiPort = await freePort();
    const server = `https://127.0.0.1:${apiPort}`;
    const auditLog = path.join(logs, 'audit.log');
    const auditPolicy = path.join(dir, 'audit-policy.yaml');
    fs.copyFileSync(path.join(here, 'audit-policy.yaml'), auditPolicy);
    log(`starting kube-apiserver on ${server}`);
    const apiserver = launch('kube-apiserver', [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${path.join(pki, 'server.crt')}`,
      `--tls-private-key-file=${path.join(pki, 'server.key')}`,
      `--client-ca-file=${path.join(pki, 'ca.crt')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${path.join(pki, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(pki, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true',
      // API Priority and Fairness stays on, as on every real cluster: overload answers 429 with
      // Retry-After, which the service's client honours (src/kube/throttle.ts).
      '--profiling=false',
      `--audit-policy-file=${auditPolicy}`,
      `--audit-log-path=${auditLog}`,
      '--audit-log-format=json',
      // Rotated at 100 MB, five backups kept: tests read the backups too (test/support/audit.ts).
      '--audit-log-maxsize=100',
      '--audit-log-maxbackup=5',
      // The API server's own client certificate towards kubelets (logs, exec; the real node).
      `--kubelet-client-certificate=${path.join(pki, 'admin.crt')}`,
      `--kubelet-client-key=${path.join(pki, 'admin.key')}`,
      '--kubelet-preferred-address-types=InternalIP',
      // GPU pods tolerate the GPU nodes' taint (only the real node's clusters taint them).
      ...(withRealNode ? ['--enable-admission-plugins=ExtendedResourceToleration'] : []),
      '--v=0',
      ...(opts.uncachedWatches?.length ? [`--watch-cache-sizes=${opts.uncachedWatches.map((r) => `${r}#0`).join(',')}`] : []),
    ]);
    await waitFor(apiserver, 'ready (/readyz)', () => probe(`${server}/readyz`, pki));

    const kubeconfig = path.join(dir, 'kubeconfig');
    writeKubeconfig(kubeconfig, server, pki, 'admin');
    const operatorKubeconfig = path.join(dir, 'operator.kubeconfig');
    writeKubeconfig(operatorKubeconfig, server, pki, 'operator');
    const kubectl = path.join(dir, 'kubectl');
    fs.rmSync(kubectl, { force: true });
    fs.symlinkSync(path.join(bin, 'kubectl'), kubectl);

    // kube-controller-manager and kube-scheduler
    const kcmPort = await freePort();
    const schedPort = await freePort();
    const qps = opts.componentQps ?? (process.env.LOCAL_CLUSTER_KUBE_API_QPS ? Number(process.env.LOCAL_CLUSTER_KUBE_API_QPS) : undefined);
    if (qps !== undefined && !(Number.isInteger(qps) && qps > 0)) throw new Error(`componentQps (LOCAL_CLUSTER_KUBE_API_QPS) must be a positive integer, got ${qps}`);
    const qpsFlags = qps ? [`--kube-api-qps=${qps}`, `--kube-api-burst=${qps}`] : [];
    log('starting kube-controller-manager and kube-scheduler');
    const kcm = launch('kube-controller-manager', [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      '--leader-elect=false',
      '--controllers=*',
      '--enable-hostpath-provisioner=true',
      `--service-account-private-key-file=${path.join(pki, 'sa.key')}`,
      `--root-ca-file=${path.join(pki, 'ca.crt')}`,
      '--cluster-cidr=10.244.0.0/16',
      ...qpsFlags,
      '--v=0',
    ]);
    const scheduler = launch('kube-scheduler', [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      '--leader-elect=false',
      ...qpsFlags,
      '--v=0',
    ]);
    await waitFor(kcm, 'healthy', () => probe(`https://127.0.0.1:${kcmPort}/healthz`));
    await waitFor(scheduler, 'healthy', () => probe(`https://127.0.0.1:${schedPort}/healthz`));

    // kwok
    const stages = path.join(dir, 'kwok-stages.yaml');
    fs.writeFileSync(
      stages,
      fs.readFileSync(path.join(here, 'kwok-stages.yaml'), 'utf8').replaceAll('__POD_RUN_MS__', String(podRunMs)).replaceAll('__POD_SLOW_RUN_MS__', String(slowPodRunMs)),
    );
    const kwokPort = await freePort();
    log('starting kwok');
    const kwok = launch('kwok', [
      `--kubeconfig=${kubeconfig}`,
      `--config=${stages}`,
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--node-lease-duration-seconds=40',
      '--cidr=10.0.0.1/16',
      '--node-ip=10.0.0.1',
      `--server-address=127.0.0.1:${kwokPort}`,
    ]);

    // Cluster contents: storage class, simulated GPU nodes, namespaces, CRDs.
    const kubectlRun = async (args: string[], input?: string): Promise<string> => {
      return await new Promise((resolve, reject) => {
        const child = spawn(kubectl, [`--kubeconfig=${kubeconfig}`, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: ${err || out}`))));
        child.stdin.end(input ?? '');
      });
    };
    const nodeManifests = Array.from({ length: nodes }, (_, i) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: `kwok-gpu-node-${i}`,
          annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          labels: {
            'kubernetes.io/hostname': `kwok-gpu-node-${i}`,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            type: 'kwok',
            'nvidia.com/gpu.present': 'true',
          },
        },
        spec: withRealNode ? { taints: [GPU_NODE_TAINT] } : {},
        status: {
          allocatable: { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': String(gpusPerNode) },
          capacity: { cpu: '64', memory: '512Gi', pods: '110', 'nvidia.com/gpu': String(gpusPerNode) },
        },
      }),
    ).join('\n');
    log(`applying storage class, ${nodes} simulated GPU nodes, namespaces and CRDs`);
    await kubectlRun(['apply', '-f', path.join(here, 'manifests')]);
    await kubectlRun(['apply', '-f', path.join(repoRoot, 'crds')]);
    await kubectlRun(['apply', '-f', '-'], nodeManifests);
    await waitFor(kwok, 'ready (all simulated nodes Ready)', async () => {
      try {
        const out = await kubectlRun(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']);
        return out.split('\n').filter((s) => s === 'True').length >= nodes;
      } catch {
        return false;
      }
    });
    await waitFor(kcm, 'ready (default service accounts created)', async () => {
      try {
        await kubectlRun(['get', 'serviceaccount', 'default', '-n', 'runtime-instance']);
        await kubectlRun(['get', 'serviceaccount', 'default', '-n', 'runtime-stock']);
        return true;
      } catch {
        return false;
      }
    });
    await kubectlRun(['wait', '--for=condition=Established', '--timeout=60s', 'crd/gpustorages.runtime.lokiwager.io', 'crd/gpuunits.runtime.lokiwager.io']);

    // local-path-provisioner: the WaitForFirstConsumer class `local-path` (manifests/local-path.yaml).
    // Volumes go under /opt/local-path-provisioner on the node the first consumer lands on; on the
    // simulated nodes the helper pods that make the directory are completed by kwok.
    const localPathConfig = path.join(dir, 'local-path.json');
    fs.writeFileSync(
      localPathConfig,
      JSON.stringify(
        {
          nodePathMap: [
            { node: 'DEFAULT_PATH_FOR_NON_LISTED_NODES', paths: ['/opt/local-path-provisioner'] },
            // The real node's volumes are real directories, kept with the cluster's state.
            ...(withRealNode ? [{ node: REAL_NODE_NAME, paths: [path.join(dir, 'node', 'local-path')] }] : []),
          ],
        },
        null,
        2,
      ),
    );
    log('starting local-path-provisioner (StorageClass local-path, WaitForFirstConsumer)');
    const localPathLog = path.join(logs, 'local-path-provisioner.log');
    const localPath = launch(
      'local-path-provisioner',
      [
        'start',
        `--kubeconfig=${kubeconfig}`,
        `--config=${localPathConfig}`,
        '--namespace=local-path-storage',
        '--provisioner-name=rancher.io/local-path',
        '--helper-image=busybox:1.36',
        '--configmap-name=local-path-config',
        '--service-account-name=local-path-provisioner-service-account',
        '--worker-threads=2',
      ],
      path.join(localPathBin, 'local-path-provisioner'),
    );
    await waitFor(localPath, 'ready (provisioner controller started)', async () =>
      fs.existsSync(localPathLog) && fs.readFileSync(localPathLog, 'utf8').includes('Started provisioner controller'),
    );

    let realNode: RealNode | undefined;
    if (nodeBins) {
      const nodeStart = Date.now();
      realNode = await startRealNode(
        { name, dir, pki, server, kubeconfig, log, launch, waitFor, kubectlRun, freePort, openssl },
        nodeBins,
      );
      log(`real node ${realNode.name} Ready in ${((Date.now() - nodeStart) / 1000).toFixed(1)}s`);
    }

    log(`cluster ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    log(`  kubeconfig: ${kubeconfig}`);
    log(`  kubectl:    ${kubectl}`);
    const healthy: Record<'etcd' | 'kube-apiserver', () => Promise<boolean>> = {
      etcd: () => probe(`http://127.0.0.1:${etcdPort}/health`),
      'kube-apiserver': () => probe(`${server}/readyz`, pki),
    };
    const restart = async (component: 'etcd' | 'kube-apiserver', o: { downMs?: number } = {}): Promise<void> => {
      const i = procs.findIndex((p) => p.name === component && !p.exited);
      if (i < 0) throw new Error(`${component} is not running`);
      await terminate(procs[i]!);
      await sleep(o.downMs ?? 0);
      const spec = launched.get(component)!;
      const p = launch(component, spec.args, spec.exe);
      // Keep the start order, so stop() still ends the components in reverse of it.
      procs.splice(procs.indexOf(p), 1);
      procs.splice(i, 1, p);
      await waitFor(p, 'healthy again', healthy[component]);
    };
    return { kubeconfig, operatorKubeconfig, kubectl, server, dir, auditLog, etcd: `http://127.0.0.1:${etcdPort}`, realNode, restart, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
