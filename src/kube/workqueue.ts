/**
 * A rate-limited, de-duplicating work queue of keys, after client-go's workqueue
 * (../shared/spec/controller-runtime-notes.md, "The work queue and reconcile loop"):
 * - it holds keys (`namespace/name`), never objects; a key added while queued is stored once;
 *   a key added while being processed is processed again after it finishes;
 * - failures are retried with per-key exponential backoff (5 ms doubling to 1000 s) under an
 *   overall token bucket (10 per second, burst 100); success forgets the key's backoff;
 * - `addAfter` schedules a requeue.
 * Metrics under client-go's names (`workqueue_*{name}`, src/kube/metrics.ts).
 */
import { logger } from '../logger';
import { retryAfterSecondsOf } from './errors';
import { queueAdds, queueDepth, queueLatency, queueRetries, trackInFlight, workDuration } from './metrics';

export interface ReconcileResult {
  /** Reconcile again after this many milliseconds (level-triggered polling of slow changes). */
  requeueAfterMs?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

export interface WorkQueueOptions {
  name: string;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Overall rate, keys per second (default 10). */
  qps?: number;
  burst?: number;
}

/**
 * controller-runtime's work queue: a key is queued at most once while waiting and never handed to
 * two workers at once (a key added while processing is queued again when done); failures are
 * retried with per-key exponential backoff under an overall rate limit; delayed adds; shutdown
 * hands out nothing more. Reports the workqueue_* metrics.
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** When each queued key was added, and when each key in processing was handed out (epoch ms). */
  private readonly addedAt = new Map<string, number>();
  private readonly startedAt = new Map<string, number>();
  private readonly untrack: () => void;
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private tokens: number;
  private lastRefill = Date.now();
  /** Reconciles run, failed, and keys retried: read by tests and /metrics-like health. */
  readonly stats = { processed: 0, failed: 0, retried: 0 };

  constructor(private readonly opts: WorkQueueOptions) {
    this.tokens = opts.burst ?? 100;
    this.untrack = trackInFlight(opts.name, () => [...this.startedAt.values()]);
  }

  private handOut(key: string): void {
    this.dirty.delete(key);
    this.processing.add(key);
    const now = Date.now();
    queueLatency.observe({ name: this.opts.name }, (now - (this.addedAt.get(key) ?? now)) / 1000);
    this.addedAt.delete(key);
    this.startedAt.set(key, now);
    queueDepth.set({ name: this.opts.name }, this.queue.length);
  }

  get length(): number {
    return this.queue.length;
  }

  /** Adds a key now. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    queueAdds.inc({ name: this.opts.name });
    this.addedAt.set(key, Date.now());
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.handOut(key);
      waiter(key);
    } else {
      this.queue.push(key);
      queueDepth.set({ name: this.opts.name }, this.queue.length);
    }
  }

  /** Adds a key after `ms`; an earlier pending schedule for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /**
   * Re-adds a failed key after its backoff, and no sooner than `atLeastMs` (the Retry-After of
   * an API server that refused the reconcile's request: 429 from Priority and Fairness).
   */
  addRateLimited(key: string, atLeastMs = 0): void {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    this.stats.retried++;
    queueRetries.inc({ name: this.opts.name });
    this.addAfter(key, Math.max(atLeastMs, this.delayFor(n)));
  }

  /** Forgets a key's failures (after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Failures recorded for a key since it last succeeded. */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  private delayFor(failures: number): number {
    const base = this.opts.baseDelayMs ?? 5;
    const max = this.opts.maxDelayMs ?? 1_000_000;
    const perKey = Math.min(max, base * 2 ** (failures - 1));
    // Overall token bucket: each retry takes a token; without one, wait for the refill.
    const qps = this.opts.qps ?? 10;
    const burst = this.opts.burst ?? 100;
    const now = Date.now();
    this.tokens = Math.min(burst, this.tokens + ((now - this.lastRefill) / 1000) * qps);
    this.lastRefill = now;
    this.tokens -= 1;
    const bucket = this.tokens >= 0 ? 0 : (-this.tokens / qps) * 1000;
    return Math.max(perKey, bucket);
  }

  /** Next key to process, or undefined after shutdown. Call `done(key)` when finished. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.handOut(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks a key finished; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    const started = this.startedAt.get(key);
    if (started !== undefined) workDuration.observe({ name: this.opts.name }, (Date.now() - started) / 1000);
    this.startedAt.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  /** Stops handing out keys; pending timers are cancelled. */
  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
    this.untrack();
    queueDepth.set({ name: this.opts.name }, 0);
  }

  /**
   * Runs `workers` loops that take keys and call `reconcile`. A thrown error requeues the key
   * with backoff (a 409 conflict is an ordinary requeue), no sooner than the Retry-After the
   * error carries (a 429 that outlasted kubeRequest's retries); a result may ask for a later requeue.
   * Resolves when the queue shuts down.
   */
  async run(workers: number, reconcile: Reconciler): Promise<void> {
    const log = logger.child({ queue: this.opts.name });
    const loop = async () => {
      for (;;) {
        const key = await this.get();
        if (key === undefined) return;
        try {
          const result = await reconcile(key);
          this.stats.processed++;
          this.forget(key);
          if (result?.requeueAfterMs) this.addAfter(key, result.requeueAfterMs);
        } catch (err) {
          this.stats.failed++;
          const code = (err as { statusCode?: number }).statusCode;
          if (code === 409) log.debug({ key }, 'conflict; requeued');
          else log.warn({ key, err: err instanceof Error ? err.message : String(err) }, 'reconcile failed; requeued with backoff');
          this.addRateLimited(key, (retryAfterSecondsOf(err) ?? 0) * 1000);
        } finally {
          this.done(key);
        }
      }
    };
    await Promise.all(Array.from({ length: workers }, loop));
  }
}
