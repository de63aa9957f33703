/**
 * The local cluster's real node: a kubelet (hack/node/build-kubelet.sh, the same k8s.io/kubernetes
 * release as the control plane) on containerd and runc from Debian, with pods networked by
 * Debian's CNI plugins (bridge + host-local, portmap) on a /24 of their own, and the images of
 * hack/node/images.sh imported into containerd's `k8s.io` namespace. Pods on it really run: a
 * prepare Job writes bytes into a volume, the accessor serves them, the API server's service proxy
 * reaches the accessor at its pod IP.
 *
 * One containerd per cluster, not one shared by all clusters: it starts and stops with its cluster
 * (nothing to reference-count, nothing left running when the last cluster stops), a crash or a
 * reaped test cluster cannot take another cluster's pods with it, and its content store is
 * small (three images, about 14 MB, imported in about a second at each start).
 *
 * What is per cluster (so that several clusters, of this checkout or of others, run at once):
 *   - ports: the kubelet's API and healthz ports are free ports; the read-only port is off;
 *     containerd's streaming server takes a random port on 127.0.0.1;
 *   - paths: containerd's root (images, snapshots) in `<cluster dir>/node/containerd`; its state,
 *     sockets, runc's root, the pods' network namespaces and host-local's IP leases in
 *     `/run/gpu-runtime/<id>/`; the kubelet's root dir and pod logs in `<cluster dir>/node/`;
 *     local-path volumes of this node in `<cluster dir>/node/local-path`;
 *   - cgroups: the kubelet's cgroupRoot `/gpu-runtime/<id>` in every hierarchy, so its
 *     `kubepods` tree never meets another kubelet's;
 *   - network: bridge `grt<n>` with subnet 10.222.<n>.0/24, n held by a lock file
 *     `/run/gpu-runtime/subnets/<n>` (stale locks of dead processes are taken over).
 *
 * The machine's cgroups are v1 hierarchies with cgroup2 at /sys/fs/cgroup/unified ("hybrid"):
 * kubelet 1.36 refuses cgroup v1 unless `failCgroupV1: false`; cgroupDriver is `cgroupfs` (no
 * systemd), matching containerd's runc runtime (SystemdCgroup = false). runc, not crun: Debian's
 * crun 1.8.1 refuses the hybrid layout (see README, "Install in a cluster").
 *
 * Scheduling: the node is labelled `node.gpu-runtime.local/real=true` and has no GPU and no taint;
 * the simulated GPU nodes of a cluster with a real node are tainted `nvidia.com/gpu=present:NoSchedule`
 * and the API server runs the ExtendedResourceToleration admission plugin (as GKE and EKS do for
 * GPU nodes), so pods asking for `nvidia.com/gpu` (GPU units) tolerate it and stay on the
 * simulated nodes, and every other pod (prepare and copy Jobs, accessors, the provisioner's helper
 * pods) runs on the real node.
 *
 * Everything is undone by {@link cleanupRealNode}: processes of the node's cgroups and its
 * containerd shims are killed, mounts under its directories unmounted, cgroups, bridge, subnet
 * lock and /var/log/containers links removed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The real node's name in every local cluster. */
export const REAL_NODE_NAME = 'real-node';
/** Label on the real node. */
export const REAL_NODE_LABEL = 'node.gpu-runtime.local/real';
/** Taint of the simulated GPU nodes in a cluster with a real node (tolerated through ExtendedResourceToleration). */
export const GPU_NODE_TAINT = { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' } as const;

const RUN_ROOT = '/run/gpu-runtime';
const SUBNET_LOCKS = path.join(RUN_ROOT, 'subnets');
const CGROUP_PARENT = 'gpu-runtime';
const DEBIAN_TOOLS: Record<string, string> = {
  '/usr/bin/containerd': 'containerd',
  '/usr/bin/ctr': 'containerd',
  '/usr/sbin/runc': 'runc',
  '/usr/lib/cni/bridge': 'containernetworking-plugins',
  '/usr/sbin/iptables': 'iptables',
  '/usr/bin/mmdebstrap': 'mmdebstrap',
  '/usr/bin/gcc': 'gcc',
  '/usr/lib/x86_64-linux-gnu/libc.a': 'libc6-dev',
};

/** What the cluster gives the node to start its processes with (hack/cluster/cluster.ts). */
export interface NodeContext<P extends { exited: boolean; name: string } = { exited: boolean; name: string }> {
  /** The cluster's name and state directory. */
  name: string;
  dir: string;
  pki: string;
  server: string;
  kubeconfig: string;
  log: (line: string) => void;
  /** Starts a component detached, logging to logs/<component>.log, recorded for stop(). */
  launch: (component: string, args: string[], exe: string) => P;
  /** Polls check until true; throws with the component's log tail when it exits or times out. */
  waitFor: (p: P, what: string, check: () => Promise<boolean>) => Promise<void>;
  kubectlRun: (args: string[], input?: string) => Promise<string>;
  freePort: () => Promise<number>;
  openssl: (args: string[], cwd: string) => Promise<void>;
}

/** The running real node. */
export interface RealNode {
  name: string;
  /** Where local-path volumes of this node live on the machine. */
  localPathDir: string;
  /** The pods' subnet. */
  podSubnet: string;
  /** containerd's socket (for `ctr -a <socket> -n k8s.io …`). */
  containerdSocket: string;
}

/** Where the built pieces are: the kubelet's directory and the images' OCI archives. */
export interface NodeBinaries {
  kubeletBin: string;
  images: { ref: string; archive: string }[];
}

/** Recorded in `<cluster dir>/node/node.json` at start, so that a later cleanup finds everything. */
interface NodeRecord {
  id: string;
  runDir: string;
  nodeDir: string;
  cgroup: string;
  bridge: string;
  subnetIndex: number;
  socket: string;
}

function nodeId(name: string, dir: string): string {
  return `${name}-${createHash('sha256').update(dir).digest('hex').slice(0, 6)}`;
}

/**
 * Why a real node cannot run here, or undefined when it can: not root, or a Debian package
 * missing (named, with the apt-get line that installs it).
 */
export function realNodeUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the real node needs root (containerd, runc, cgroups, CNI)';
  const missing = [...new Set(Object.entries(DEBIAN_TOOLS).filter(([f]) => !fs.existsSync(f)).map(([, p]) => p))];
  if (missing.length) return `missing Debian packages for the real node: apt-get install -y ${missing.join(' ')}`;
  return undefined;
}

/**
 * Builds (when missing) the kubelet and the node's images: hack/node/build-kubelet.sh and
 * hack/node/images.sh, both cached under $GPU_RUNTIME_CACHE. Progress goes to `log`.
 * @throws Error when a build fails.
 */
export function ensureNodeBinaries(log: (line: string) => void): NodeBinaries {
  const run = (script: string): string => {
    try {
      return execFileSync('bash', [path.join(here, script)], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    } catch (err) {
      throw new Error(`hack/node/${script} failed: ${(err as Error).message}`);
    }
  };
  log('real node: kubelet and images (built once, cached)');
  const kubeletBin = run('build-kubelet.sh').trim().split('\n').pop() ?? '';
  const images = run('images.sh')
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .filter((p) => p.length === 2)
    .map(([ref, archive]) => ({ ref: ref!, archive: archive! }));
  return { kubeletBin, images };
}

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input });
}

/** Mounted cgroup v1 hierarchies and the cgroup2 mount (hybrid layout), from /proc/self/mountinfo. */
function cgroupMounts(): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const fstype = post.split(' ')[0];
    if (fstype === 'cgroup' || fstype === 'cgroup2') out.push(pre.split(' ')[4]!);
  }
  return out;
}

/** Creates cgroupRoot `/gpu-runtime/<id>` in every hierarchy (the kubelet requires it to exist). */
function makeCgroupRoot(id: string): string {
  for (const mnt of cgroupMounts()) {
    let cur = mnt;
    for (const part of [CGROUP_PARENT, id]) {
      cur = path.join(cur, part);
      fs.mkdirSync(cur, { recursive: true });
      // cgroup v1 cpuset: a new cgroup starts with no CPUs and memory nodes; inherit the parent's.
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        const mine = path.join(cur, f);
        if (fs.existsSync(mine) && !fs.readFileSync(mine, 'utf8').trim()) fs.writeFileSync(mine, fs.readFileSync(path.join(path.dirname(cur), f), 'utf8').trim());
      }
    }
  }
  return `/${CGROUP_PARENT}/${id}`;
}

/** Takes the lowest free pod subnet index (lock file with O_EXCL; a dead owner's lock is taken over). */
function takeSubnet(owner: string): number {
  fs.mkdirSync(SUBNET_LOCKS, { recursive: true });
  const routes = sh('ip', ['-4', 'route', 'show']);
  for (let n = 0; n < 256; n++) {
    const lock = path.join(SUBNET_LOCKS, String(n));
    if (fs.existsSync(lock)) {
      const [pid] = fs.readFileSync(lock, 'utf8').split(' ');
      let alive = false;
      try {
        process.kill(Number(pid), 0);
        alive = true;
      } catch {
        /* dead owner */
      }
      if (alive) continue;
      removeBridge(`grt${n}`);
      fs.rmSync(lock, { force: true });
    }
    if (routes.includes(`10.222.${n}.0/24`) && !routes.includes(`dev grt${n} `)) continue; // someone else's network
    try {
      fs.writeFileSync(lock, `${process.pid} ${owner}\n`, { flag: 'wx' });
      return n;
    } catch {
      /* lost the race; next */
    }
  }
  throw new Error(`no free pod subnet in 10.222.0.0/16 (locks in ${SUBNET_LOCKS})`);
}

/** The machine's primary IPv4 address (the source of its default route). */
function hostAddress(): string {
  const out = sh('ip', ['-4', 'route', 'get', '1.1.1.1']);
  const ip = /\bsrc (\d+\.\d+\.\d+\.\d+)/.exec(out)?.[1];
  if (!ip) throw new Error(`the real node needs a non-loopback IPv4 address; ip route get said: ${out.trim()}`);
  return ip;
}

function removeBridge(name: string): void {
  try {
    sh('ip', ['link', 'del', name]);
  } catch {
    /* not there */
  }
}

function containerdConfig(r: NodeRecord, cniConfDir: string): string {
  return `# containerd for the real node of one local cluster (hack/node/node.ts)
version = 2
root = "${path.join(r.nodeDir, 'containerd')}"
state = "${path.join(r.runDir, 'containerd')}"
# Plugins that would need kernel features or tools this node does not use.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "${r.socket}"
[ttrpc]
  address = "${r.socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  # Built by hack/node/images.sh from pause.c of the pinned Kubernetes module, imported at start.
  sandbox_image = "registry.k8s.io/pause:3.10"
  # Network namespaces under the state dir, so that cleanup finds them with every other mount.
  netns_mounts_under_state_dir = true
  # This machine's processes may not lower their oom_score_adj (runc: "failed to update
  # /proc/self/oom_score_adj: Permission denied" for the kubelet's -998 of a pod sandbox):
  # containerd clamps the value to its own instead.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${cniConfDir}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "${path.join(r.runDir, 'runc')}"
        SystemdCgroup = false
`;
}

function cniConfig(r: NodeRecord): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: `gpu-runtime-${r.subnetIndex}`,
      plugins: [
        {
          type: 'bridge',
          bridge: r.bridge,
          isGateway: true,
          ipMasq: false, // nothing leaves the machine (no registry, no pulls); no NAT rules to leak
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: `10.222.${r.subnetIndex}.0/24` }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: path.join(r.runDir, 'cni-ipam'),
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

function kubeletConfig(r: NodeRecord, pki: string, nodeIp: string, port: number, healthzPort: number): string {
  return `# KubeletConfiguration of the local cluster's real node (hack/node/node.ts)
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${nodeIp}
port: ${port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${healthzPort}
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: ${path.join(pki, 'ca.crt')} }
authorization:
  mode: Webhook
# The machine has cgroup v1 hierarchies (cgroup2 only at /sys/fs/cgroup/unified): kubelet 1.36
# refuses to start on v1 unless told otherwise.
failCgroupV1: false
# No systemd here; containerd's runc runtime uses cgroupfs too (SystemdCgroup = false).
cgroupDriver: cgroupfs
# Its own cgroup tree, so that several clusters' kubelets never share kubepods.
cgroupRoot: ${r.cgroup}
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
containerRuntimeEndpoint: unix://${r.socket}
podLogsDir: ${path.join(r.nodeDir, 'pod-logs')}
failSwapOn: false
registerNode: true
serializeImagePulls: false
maxPods: 50
# The disk is shared with other work: evict only when it is really full.
evictionHard: { memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2% }
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
# No graceful node shutdown (it needs systemd-logind).
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
`;
}

/**
 * Starts containerd and the kubelet of the cluster's real node, imports the images, and waits
 * until the node is Ready. `procs` of the context are stopped by the cluster's stop(); then
 * {@link cleanupRealNode} undoes the rest.
 * @throws Error naming the component that failed, with its log's tail.
 */
export async function startRealNode<P extends { exited: boolean; name: string }>(ctx: NodeContext<P>, bins: NodeBinaries): Promise<RealNode> {
  const id = nodeId(ctx.name, ctx.dir);
  const nodeDir = path.join(ctx.dir, 'node');
  const runDir = path.join(RUN_ROOT, id);
  cleanupRealNode(ctx.dir); // leftovers of a run that did not stop cleanly
  fs.mkdirSync(nodeDir, { recursive: true });
  fs.mkdirSync(runDir, { recursive: true });
  const subnetIndex = takeSubnet(ctx.dir);
  const record: NodeRecord = {
    id,
    runDir,
    nodeDir,
    cgroup: `/${CGROUP_PARENT}/${id}`,
    bridge: `grt${subnetIndex}`,
    subnetIndex,
    socket: path.join(runDir, 'containerd.sock'),
  };
  fs.writeFileSync(path.join(nodeDir, 'node.json'), JSON.stringify(record, null, 2));
  makeCgroupRoot(id);

  // containerd
  const cniConfDir = path.join(runDir, 'cni-conf');
  fs.mkdirSync(cniConfDir, { recursive: true });
  fs.writeFileSync(path.join(cniConfDir, '10-gpu-runtime.conflist'), cniConfig(record));
  const ctdConfig = path.join(nodeDir, 'containerd.toml');
  fs.writeFileSync(ctdConfig, containerdConfig(record, cniConfDir));
  ctx.log(`starting containerd (${record.socket}) for the real node`);
  const containerd = ctx.launch('containerd', ['--config', ctdConfig], '/usr/bin/containerd');
  await ctx.waitFor(containerd, 'serving', async () => {
    try {
      sh('ctr', ['-a', record.socket, 'version']);
      return true;
    } catch {
      return false;
    }
  });
  const importStart = Date.now();
  for (const img of bins.images) sh('ctr', ['-a', record.socket, '-n', 'k8s.io', 'images', 'import', img.archive]);
  ctx.log(`imported ${bins.images.map((i) => i.ref).join(', ')} in ${((Date.now() - importStart) / 1000).toFixed(1)}s`);

  // The kubelet's identity: system:node:<name> in system:nodes, bound to the ClusterRole system:node.
  const certName = 'kubelet';
  if (!fs.existsSync(path.join(ctx.pki, `${certName}.crt`))) {
    await ctx.openssl(['genrsa', '-out', `${certName}.key`, '2048'], ctx.pki);
    await ctx.openssl(['req', '-new', '-key', `${certName}.key`, '-subj', `/O=system:nodes/CN=system:node:${REAL_NODE_NAME}`, '-out', `${certName}.csr`], ctx.pki);
    await ctx.openssl(
      ['x509', '-req', '-in', `${certName}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '3650', '-extfile', 'client.ext', '-out', `${certName}.crt`],
      ctx.pki,
    );
  }
  const b64 = (f: string) => fs.readFileSync(path.join(ctx.pki, f)).toString('base64');
  const kubeletKubeconfig = path.join(nodeDir, 'kubelet.kubeconfig');
  fs.writeFileSync(
    kubeletKubeconfig,
    `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: { server: ${ctx.server}, certificate-authority-data: ${b64('ca.crt')} }
users:
- name: kubelet
  user: { client-certificate-data: ${b64(`${certName}.crt`)}, client-key-data: ${b64(`${certName}.key`)} }
contexts:
- name: local
  context: { cluster: local, user: kubelet }
current-context: local
`,
    { mode: 0o600 },
  );
  await ctx.kubectlRun(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'gpu-runtime:real-node' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:node' },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:nodes' }],
  }));

  // kubelet
  const port = await ctx.freePort();
  const healthzPort = await ctx.freePort();
  const config = path.join(nodeDir, 'kubelet.yaml');
  // The node's address: the machine's own (the kubelet refuses a loopback node IP, "nodeIP can't be
  // loopback address", and then the API server could not reach it for logs).
  const nodeIp = hostAddress();
  fs.writeFileSync(config, kubeletConfig(record, ctx.pki, nodeIp, port, healthzPort));
  ctx.log(`starting kubelet (node ${REAL_NODE_NAME}, port ${port}, pods on 10.222.${subnetIndex}.0/24, cgroup root ${record.cgroup})`);
  const kubelet = ctx.launch(
    'kubelet',
    [
      `--config=${config}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      `--root-dir=${path.join(nodeDir, 'kubelet')}`,
      `--hostname-override=${REAL_NODE_NAME}`,
      `--node-ip=${nodeIp}`,
      `--node-labels=${REAL_NODE_LABEL}=true`,
      '--v=1',
    ],
    path.join(bins.kubeletBin, 'kubelet'),
  );
  // Ready as posted by this kubelet: a persistent cluster's Node still says Ready from its last run.
  const since = Math.floor(Date.now() / 1000) * 1000;
  await ctx.waitFor(kubelet, `ready (node ${REAL_NODE_NAME} Ready)`, async () => {
    try {
      const out = await ctx.kubectlRun(['get', 'node', REAL_NODE_NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}']);
      const [status, heartbeat] = out.trim().split(' ');
      return status === 'True' && Date.parse(heartbeat ?? '') >= since;
    } catch {
      return false;
    }
  });
  return { name: REAL_NODE_NAME, localPathDir: path.join(nodeDir, 'local-path'), podSubnet: `10.222.${subnetIndex}.0/24`, containerdSocket: record.socket };
}

/** Every process whose cgroup is under `cgroup` in any hierarchy. */
function cgroupPids(cgroup: string): number[] {
  const pids = new Set<number>();
  const walk = (d: string): void => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name === 'cgroup.procs') {
        for (const l of fs.readFileSync(path.join(d, e.name), 'utf8').split('\n')) if (l.trim()) pids.add(Number(l));
      }
    }
  };
  for (const mnt of cgroupMounts()) walk(path.join(mnt, cgroup));
  return [...pids];
}

/** Removes the cgroup tree under `dir`, deepest first (each must be empty of processes). */
function rmdirCgroups(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmdirCgroups(path.join(dir, e.name));
  try {
    fs.rmdirSync(dir);
  } catch {
    /* busy or gone */
  }
}

/**
 * Undoes a real node (idempotent, synchronous; the cluster's stop(), a restart after a crash, and
 * the test reaper call it): kills the processes of its cgroups and its containerd's shims,
 * unmounts everything under its directories, removes its cgroups, bridge, subnet lock, run
 * directory and /var/log/containers links. Does nothing for a cluster without a node.
 */
export function cleanupRealNode(clusterDir: string): void {
  const recordFile = path.join(clusterDir, 'node', 'node.json');
  if (!fs.existsSync(recordFile)) return;
  const r = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as NodeRecord;
  // Shims (they outlive containerd, each in its own session) and the containers' processes.
  for (let round = 0; round < 20; round++) {
    const victims = new Set(cgroupPids(r.cgroup));
    for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.includes('containerd-shim') && cmd.includes(r.socket)) victims.add(Number(pid));
      } catch {
        /* gone */
      }
    }
    victims.delete(process.pid);
    if (!victims.size) break;
    for (const pid of victims) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    execFileSync('sleep', ['0.1']);
  }
  // Mounts (container root filesystems, network namespaces, the kubelet's tmpfs volumes), deepest first.
  const roots = [r.runDir, r.nodeDir];
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && roots.some((root) => m === root || m.startsWith(`${root}/`)))
    .map((m) => m.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  for (const mnt of cgroupMounts()) rmdirCgroups(path.join(mnt, r.cgroup));
  removeBridge(r.bridge);
  const lock = path.join(SUBNET_LOCKS, String(r.subnetIndex));
  if (fs.existsSync(lock) && fs.readFileSync(lock, 'utf8').includes(` ${clusterDir}\n`)) fs.rmSync(lock, { force: true });
  // /var/log/containers/<pod>_<ns>_<container>-<id>.log -> <pod logs dir>/…: the kubelet's links.
  const logsDir = path.join(r.nodeDir, 'pod-logs');
  try {
    for (const f of fs.readdirSync('/var/log/containers')) {
      const link = path.join('/var/log/containers', f);
      try {
        if (fs.readlinkSync(link).startsWith(`${logsDir}/`)) fs.rmSync(link, { force: true });
      } catch {
        /* not a link */
      }
    }
  } catch {
    /* no such directory */
  }
  fs.rmSync(r.runDir, { recursive: true, force: true });
  fs.rmSync(recordFile, { force: true });
}
