/**
 * Client-side flow control toward the API server, as client-go's `rest.Config{QPS, Burst}` and
 * its Retry-After handling (k8s.io/client-go/rest/request.go `checkWait`, `IsRetryableResponse`):
 * - a FIFO rate limiter per KubeConfig: at most `burst` requests at once after a quiet spell, and
 *   `qps` per second sustained (rate-limiter-flexible's RateLimiterQueue over a memory limiter of
 *   `burst` points per `burst / qps` seconds); a request waits for its turn instead of failing;
 * - the API server's own word wins: a 429 (API Priority and Fairness rejected the request: its
 *   priority level's queues are full) or a 5xx carrying `Retry-After` was not executed, so it is
 *   sent again after the seconds the server asked for, up to {@link MAX_RETRIES} times, before the
 *   error reaches the caller (a reconcile then requeues the key no sooner than that, see
 *   WorkQueue.run).
 * https://kubernetes.io/docs/concepts/cluster-administration/flow-control/
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { RateLimiterMemory, RateLimiterQueue } from 'rate-limiter-flexible';
import { rateLimiterWait } from './metrics';
import { env } from '../env';

/** Sustained requests per second and the burst above it; `qps: 0` turns the limiter off. */
export interface ClientRateLimit {
  qps: number;
  burst: number;
}

/**
 * The default when KUBE_API_QPS / KUBE_API_BURST do not say: chosen from bench/converge.ts (the
 * 200-storage burst peaks at about this rate; a lower rate made the service the bottleneck).
 * client-go's own default (5/10) is meant for kubectl, not a controller of thousands of objects.
 */
export const DEFAULT_CLIENT_RATE_LIMIT: ClientRateLimit = { qps: 200, burst: 400 };

/** Retries of one request answered 429 (or 5xx with Retry-After), as client-go's default maxRetries. */
export const MAX_RETRIES = 10;

/** The longest Retry-After honoured, in seconds (a larger value is capped, never ignored). */
export const MAX_RETRY_AFTER_SECONDS = 30;

/**
 * The client-side rate limit from KUBE_API_QPS and KUBE_API_BURST (README "Environment").
 * @throws Error naming the variable when it is not a number ≥ 0.
 */
export function clientRateLimitFromEnv(): ClientRateLimit {
  const qps = env('KUBE_API_QPS').default(String(DEFAULT_CLIENT_RATE_LIMIT.qps)).asFloatPositive();
  const burst = env('KUBE_API_BURST').default(String(Math.max(DEFAULT_CLIENT_RATE_LIMIT.burst, Math.ceil(qps * 2)))).asFloatPositive();
  return { qps, burst: Math.max(1, Math.ceil(burst)) };
}

type Limiter = { limit: ClientRateLimit; queue: RateLimiterQueue | undefined };
const limiters = new WeakMap<KubeConfig, Limiter>();

function build(limit: ClientRateLimit): Limiter {
  if (!(limit.qps > 0)) return { limit, queue: undefined };
  const burst = Math.max(1, Math.ceil(limit.burst));
  return { limit, queue: new RateLimiterQueue(new RateLimiterMemory({ points: burst, duration: burst / limit.qps })) };
}

/**
 * Sets the client-side rate limit of every request made with `kc` (replacing the one taken from
 * the environment on first use). Requests already waiting keep their place in the old queue.
 */
export function setClientRateLimit(kc: KubeConfig, limit: ClientRateLimit): void {
  limiters.set(kc, build(limit));
}

/** The client-side rate limit in force for `kc`. */
export function clientRateLimitOf(kc: KubeConfig): ClientRateLimit {
  return limiterOf(kc).limit;
}

function limiterOf(kc: KubeConfig): Limiter {
  let l = limiters.get(kc);
  if (!l) {
    l = build(clientRateLimitFromEnv());
    limiters.set(kc, l);
  }
  return l;
}

/**
 * Waits for the turn of one request of `kc` (resolves at once while under the burst), observed
 * in `rest_client_rate_limiter_duration_seconds` as client-go does.
 */
export async function throttle(kc: KubeConfig, verb: string, host: string): Promise<void> {
  const { queue } = limiterOf(kc);
  if (!queue) return;
  const started = performance.now();
  await queue.removeTokens(1);
  rateLimiterWait.observe({ verb, host }, (performance.now() - started) / 1000);
}

/**
 * How long to wait before sending again a request the API server answered with `status` and the
 * `Retry-After` header `retryAfter`, or undefined when it must not be retried (client-go's
 * `checkWait`: a 429 (1 s when it names no delay), a 5xx only when the server sent Retry-After;
 * anything else is the caller's answer). The delay is Retry-After (at least 1 s, at most
 * {@link MAX_RETRY_AFTER_SECONDS}) plus a jitter below half of it. @returns whole milliseconds.
 */
export function retryDelayMs(status: number, retryAfter: string | null, attempt: number, random: () => number = Math.random): number | undefined {
  if (attempt >= MAX_RETRIES) return undefined;
  const seconds = Number(retryAfter);
  const given = retryAfter !== null && retryAfter !== '' && Number.isFinite(seconds) && seconds >= 0;
  if (status !== 429 && !(status >= 500 && status <= 599 && given)) return undefined;
  const base = Math.min(given ? Math.max(seconds, 1) : 1, MAX_RETRY_AFTER_SECONDS) * 1000;
  // Never sooner than asked; up to half again later (exclusive), so a burst refused at once does
  // not come back at once (a herd retried in lockstep meets a full priority level again). The
  // clamp keeps it below 1.5 × base: rounding, or a random() just under 1 in floating point,
  // reached it (3000 ms for 2 s, about 1 draw in 2000).
  return Math.min(base + Math.floor(random() * (base / 2)), base + base / 2 - 1);
}
