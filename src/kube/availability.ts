/**
 * Whether the cluster can serve this service right now, as readiness (`/readyz`), the write gate
 * (503 `operator_unavailable`, contract "REST compatibility surface") and the staleness notice of
 * cached reads see it:
 * - the API server answers `GET /readyz` within `timeoutMs` (probed every `intervalMs`;
 *   `failureThreshold` failures in a row make it unreachable, one success reachable again);
 * - every informer has listed, and none reports its resource as not served (a CRD deleted:
 *   controller-runtime-notes W8).
 */
import type { ClusterCache } from './cache';
import { statusCodeOf } from './errors';
import { kubeRequest } from './http';
import type { Kube } from './resources';
import { logger } from '../logger';

const log = logger.child({ component: 'availability' });

export interface AvailabilityOptions {
  /** Probe period in ms (default 2000). */
  intervalMs?: number;
  /** Bound of one probe in ms (default 2000). */
  timeoutMs?: number;
  /** Failed probes in a row before the API server counts as unreachable (default 2). */
  failureThreshold?: number;
}

/** What is missing, for `/readyz` and error messages; empty when the service is fully available. */
export interface Unavailability {
  /** One line each, e.g. `kube-apiserver unreachable for 6 s: connect ECONNREFUSED 127.0.0.1:6443`. */
  reasons: string[];
  /** True when the API server itself cannot be reached (writes are refused). */
  apiServerDown: boolean;
  /** Kinds whose resource the API server does not serve (CRD missing), e.g. `GPUStorage`. */
  notServed: string[];
  /** Seconds since the API server last answered, when it is down (how stale cached reads may be). */
  staleSeconds?: number;
}

/**
 * Whether the cluster can serve: kube-apiserver answers its /readyz probe (every 2 s, unreachable
 * after 2 failures) and every CRD is served. Feeds /readyz, the 503 `operator_unavailable` gate of
 * writes and the staleness stated on cached reads (README "Probes, shutdown and metrics").
 */
export class ClusterAvailability {
  private timer?: NodeJS.Timeout;
  private failures = 0;
  private down = false;
  private lastOk = Date.now();
  private lastError?: string;
  private readonly opts: Required<AvailabilityOptions>;

  constructor(
    private readonly kube: Kube,
    private readonly cache: ClusterCache,
    opts: AvailabilityOptions = {},
  ) {
    this.opts = { intervalMs: opts.intervalMs ?? 2000, timeoutMs: opts.timeoutMs ?? 2000, failureThreshold: opts.failureThreshold ?? 2 };
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      void this.probe().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.opts.intervalMs).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One probe of the API server's `/readyz`; updates the state. Never throws. */
  async probe(): Promise<void> {
    try {
      await kubeRequest(this.kube.kc, 'GET', '/readyz', { timeoutMs: this.opts.timeoutMs });
      if (this.down) log.info({ downForS: Math.round((Date.now() - this.lastOk) / 1000) }, 'kube-apiserver reachable again');
      // Back after failed probes: informers waiting out a backoff list/watch again at once.
      if (this.failures > 0) for (const i of this.cache.informers()) i.retryNow();
      this.failures = 0;
      this.down = false;
      this.lastOk = Date.now();
      this.lastError = undefined;
    } catch (err) {
      // /readyz answers text, and 500 when the API server is not ready (etcd down, say).
      const code = statusCodeOf(err);
      const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
      this.lastError = code
        ? `GET /readyz answered ${code}`
        : timedOut
          ? `GET /readyz did not answer within ${this.opts.timeoutMs} ms`
          : err instanceof Error
            ? ((err.cause as Error | undefined)?.message ?? err.message)
            : String(err);
      this.failures++;
      if (!this.down && this.failures >= this.opts.failureThreshold) {
        this.down = true;
        log.warn({ err: this.lastError }, 'kube-apiserver unreachable');
      }
    }
  }

  /** The current state (cheap: no request). */
  check(): Unavailability {
    const reasons: string[] = [];
    const staleSeconds = this.down ? Math.round((Date.now() - this.lastOk) / 1000) : undefined;
    if (this.down) reasons.push(`kube-apiserver unreachable for ${staleSeconds} s: ${this.lastError}`);
    const notServed: string[] = [];
    for (const h of this.cache.health()) {
      if (h.notServed) {
        notServed.push(h.kind);
        reasons.push(`${h.kind}: the API server does not serve this resource; is its CRD installed? (kubectl apply -f crds/)`);
      } else if (!h.synced) reasons.push(`${h.kind}: the informer has not listed yet${h.lastError ? ` (${h.lastError})` : ''}`);
    }
    return { reasons, apiServerDown: this.down, notServed, ...(staleSeconds !== undefined ? { staleSeconds } : {}) };
  }
}
