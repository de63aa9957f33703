/**
 * The service's OCI image under a real OCI runtime, for tests: build it with hack/image/build.sh
 * (cached by its inputs), unpack it into a runtime bundle with umoci, and run it with runc on the
 * host network with a kubeconfig bind-mounted read-only.
 *
 * runc, not crun: Debian 12's crun 1.8.1 refuses this machine's hybrid cgroup layout (v1
 * controllers plus a cgroup2 mount at /sys/fs/cgroup/unified) with "cgroups in hybrid mode not
 * supported, drop all controllers from cgroupv2", even with --cgroup-manager=disabled; runc 1.1.5
 * runs it.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const execFileAsync = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));

/** The tools these helpers drive; their absence is a reason to skip, not a failure. */
export const CONTAINER_TOOLS = ['mmdebstrap', 'umoci', 'runc'] as const;

/**
 * Why the image cannot be built and run here, or undefined when it can. Installs missing Debian
 * packages first (hack/ensure-test-tools.sh, as root) so that a clean machine runs the test.
 */
export function containerUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `OCI containers need Linux (this is ${process.platform})`;
  const missing = () => CONTAINER_TOOLS.filter((t) => !commandExists(t));
  if (missing().length) execFileSync('bash', [join(repo, 'hack/ensure-test-tools.sh')], { stdio: 'ignore' });
  const still = missing();
  if (still.length) return `missing ${still.join(', ')} (install: apt-get install -y ${still.join(' ')})`;
  if (process.getuid?.() !== 0) return 'runc and mmdebstrap need root here (rootless runc needs a user namespace set-up this test does not make)';
  return undefined;
}

function commandExists(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Builds the image (or reuses the cached one of the same inputs); returns the OCI layout's path and how long it took. */
export async function buildImage(): Promise<{ layout: string; ms: number; log: string }> {
  const t0 = Date.now();
  const { stdout, stderr } = await execFileAsync('bash', [join(repo, 'hack/image/build.sh')], { cwd: repo, maxBuffer: 64 << 20 });
  const layout = stdout.trim().split('\n').pop()!;
  return { layout, ms: Date.now() - t0, log: stderr };
}

/** Options of {@link runImage}. */
export interface RunOptions {
  /** OCI layout directory and its tag. */
  layout: string;
  tag: string;
  /** A kubeconfig file to mount at /etc/gpu-runtime/kubeconfig (KUBECONFIG points there). */
  kubeconfig: string;
  /** Extra environment (NAME=value). */
  env?: string[];
}

/** A running container. */
export interface Container {
  id: string;
  /** Everything the service printed (stdout and stderr). */
  output(): string;
  /** Runs a command inside the container (runc exec) and returns its stdout. */
  exec(...args: string[]): Promise<string>;
  /** Kills and deletes the container and its bundle. */
  stop(): Promise<void>;
  child: ChildProcess;
}

/**
 * Unpacks the image into a bundle and starts it with runc: the image's own user (65532) and
 * entrypoint, root filesystem read-only, no capabilities, the host's network namespace.
 */
export async function runImage(opts: RunOptions): Promise<Container> {
  const dir = mkdtempSync(join(tmpdir(), 'gpu-runtime-bundle-'));
  const bundle = join(dir, 'bundle');
  await execFileAsync('umoci', ['unpack', '--image', `${opts.layout}:${opts.tag}`, bundle]);
  const configPath = join(bundle, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8'));
  config.process.terminal = false;
  for (const set of Object.keys(config.process.capabilities ?? {})) config.process.capabilities[set] = [];
  config.root.readonly = true;
  config.linux.namespaces = config.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'network');
  config.mounts.push({ destination: '/etc/gpu-runtime/kubeconfig', type: 'bind', source: opts.kubeconfig, options: ['rbind', 'ro'] });
  config.process.env = [...config.process.env.filter((e: string) => e !== 'TERM=xterm'), 'KUBECONFIG=/etc/gpu-runtime/kubeconfig', ...(opts.env ?? [])];
  writeFileSync(configPath, JSON.stringify(config, null, 1));

  const id = `gpu-runtime-test-${process.pid}-${Date.now().toString(36)}`;
  const child = spawn('runc', ['run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return {
    id,
    child,
    output: () => out,
    exec: async (...args: string[]) => (await execFileAsync('runc', ['exec', id, ...args])).stdout,
    stop: async () => {
      await execFileAsync('runc', ['kill', id, 'KILL']).catch(() => undefined);
      await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
      await execFileAsync('runc', ['delete', '--force', id]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
