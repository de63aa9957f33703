/**
 * Kubernetes probes, kept apart from the contract's `/api/v1/health` (which always answers 200
 * with what it knows), in the API server's own format (`/livez`, `/readyz`, `?verbose` lists
 * every check as `[+]name ok` or `[-]name failed: reason`):
 * - `/livez`: the process and its event loop (a loop blocked past `maxEventLoopDelayMs` fails, so
 *   the kubelet restarts a wedged process; while it answers at all it is alive);
 * - `/readyz`: the informers have listed, the API server answered within its bound, every CRD is
 *   served, and the process is not shutting down; 503 with the reasons otherwise (a Service then
 *   stops sending it requests).
 * Both are served without authentication (src/auth/http.ts PUBLIC_PATHS).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServiceContext } from '../service/context';

export interface ProbeOptions {
  /** `/livez` fails when the event loop's longest delay over the last window exceeds this, in ms (default 10000). */
  maxEventLoopDelayMs?: number;
  /** True once shutdown has begun: `/readyz` fails at once so no new request is routed here. */
  shuttingDown: () => boolean;
}

interface Check {
  name: string;
  /** undefined: ok; else the reason it failed. */
  failure?: string;
}

function answer(req: FastifyRequest, reply: FastifyReply, what: string, checks: Check[]): FastifyReply {
  const failed = checks.filter((c) => c.failure);
  const verbose = Object.hasOwn((req.query as Record<string, unknown>) ?? {}, 'verbose');
  reply.header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-store');
  reply.status(failed.length ? 503 : 200);
  if (!failed.length && !verbose) return reply.send('ok');
  const lines = checks.map((c) => (c.failure ? `[-]${c.name} failed: ${c.failure}` : `[+]${c.name} ok`));
  lines.push(failed.length ? `${what} check failed` : `${what} check passed`);
  return reply.send(lines.join('\n') + '\n');
}

/** Registers `/livez` and `/readyz` on `app`; returns a stop function for the loop monitor. */
export function registerProbes(app: FastifyInstance, svc: ServiceContext, opts: ProbeOptions): () => void {
  const maxDelayMs = opts.maxEventLoopDelayMs ?? 10_000;
  const loop = monitorEventLoopDelay({ resolution: 50 });
  loop.enable();
  // The histogram covers a sliding window of about a minute: reset it every 60 s.
  const reset = setInterval(() => loop.reset(), 60_000).unref();

  app.get('/livez', (req, reply) => {
    const maxMs = loop.max / 1e6;
    return answer(req, reply, 'livez', [
      { name: 'ping' },
      { name: 'eventloop', failure: maxMs > maxDelayMs ? `the event loop was blocked for ${Math.round(maxMs)} ms (bound ${maxDelayMs} ms)` : undefined },
    ]);
  });

  app.get('/readyz', (req, reply) => {
    const state = svc.availability.check();
    const informerReasons = state.reasons.filter((r) => !r.startsWith('kube-apiserver'));
    return answer(req, reply, 'readyz', [
      { name: 'shutdown', failure: opts.shuttingDown() ? 'the process is shutting down' : undefined },
      { name: 'kube-apiserver', failure: state.apiServerDown ? state.reasons.find((r) => r.startsWith('kube-apiserver')) : undefined },
      { name: 'informers', failure: informerReasons.length ? informerReasons.join('; ') : undefined },
    ]);
  });

  return () => {
    clearInterval(reset);
    loop.disable();
  };
}
