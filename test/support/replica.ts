/**
 * The service as a separate process (`node --import tsx src/main.ts`, the developer path of `npm start`), for
 * tests that signal it (SIGTERM, SIGSTOP, SIGKILL) or run two replicas.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventually } from './env';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Replica {
  proc: ChildProcess;
  /** Base URL, e.g. http://127.0.0.1:40123. */
  url: string;
  /** Resolves with the exit code when the process ends. */
  exited: Promise<number | null>;
  /** The last 200 KB of its stdout and stderr. */
  log: () => string;
  /** Sends `signal` to its process group (tsx and the service it runs). No-op once it exited. */
  signal: (signal: NodeJS.Signals) => void;
}

/**
 * Starts a replica on a free port against `kubeconfig`; resolves once it prints its URL.
 * `env` adds to or overrides the environment (HOSTNAME names it in the audit log's User-Agent,
 * LEADER_ELECTION_NAME gives it a Lease of its own).
 * @throws when it prints no URL within 90 s.
 */
export async function startReplica(kubeconfig: string, env: Record<string, string> = {}): Promise<Replica> {
  // One process (tsx as a loader), not tsx's CLI in front of a child: a signal reaches the service
  // itself, never a relay that may kill the child before its handlers are known (exit 143 seen once).
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { ...process.env, KUBECONFIG: kubeconfig, PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so cleanup reaches anything it started.
    detached: true,
  });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-200_000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  let done = false;
  const exited = new Promise<number | null>((r) =>
    proc.on('exit', (code) => {
      done = true;
      r(code);
    }),
  );
  const signal = (s: NodeJS.Signals) => {
    if (done) return;
    try {
      process.kill(-proc.pid!, s);
    } catch {
      /* already gone */
    }
  };
  const url = await eventually(() => /GraphQL[^\n]*?(http:\/\/[\d.:]+)\/graphql/.exec(out)?.[1], 'the replica prints its URL', 90_000);
  return { proc, url, exited, log: () => out, signal };
}
