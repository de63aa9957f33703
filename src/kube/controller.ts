/**
 * The shape every reconciler shares, after controller-runtime: informer listeners turn events
 * into keys on a work queue (synchronously, controller-runtime-notes W6), a periodic resync
 * re-adds every key (W7), and workers run `reconcile` with per-key backoff. Subclasses say what
 * they watch, which keys a resync covers, and how to reconcile one key.
 */
import { canonicalJSON } from '../api/canonical-json';
import { WorkQueue, type ReconcileResult } from './workqueue';
import { activeWorkers, maxConcurrentReconciles, reconcileErrors, reconcileTime, reconcileTotal } from './metrics';

export interface ControllerRunOptions {
  /** Parallel reconciles (never two of one key). */
  workers: number;
  /** Resync period in ms. */
  resyncMs: number;
}

/**
 * A level-triggered reconciler over the shared informers (controller-runtime's Controller): events
 * enqueue keys, `workers` reconcile them concurrently (never one key twice at once), errors and
 * requeues go back through the queue's backoff, and every cached object is enqueued again each
 * resync period. Subclasses say what to watch and how to reconcile one key.
 */
export abstract class Controller {
  readonly queue: WorkQueue;
  private readonly unsubscribe: (() => void)[] = [];
  private resyncTimer?: NodeJS.Timeout;
  private workers: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly run: ControllerRunOptions,
  ) {
    this.queue = new WorkQueue({ name });
  }

  /** One reconcile with controller-runtime's metrics (`controller_runtime_reconcile_*{controller}`). */
  private async observed(key: string): Promise<ReconcileResult | void> {
    const controller = this.name;
    activeWorkers.inc({ controller });
    const end = reconcileTime.startTimer({ controller });
    try {
      const result = await this.reconcile(key);
      reconcileTotal.inc({ controller, result: result?.requeueAfterMs ? 'requeue_after' : 'success' });
      return result;
    } catch (err) {
      reconcileTotal.inc({ controller, result: 'error' });
      reconcileErrors.inc({ controller });
      throw err;
    } finally {
      end();
      activeWorkers.dec({ controller });
    }
  }

  /** Registers informer listeners that add keys to `this.queue`; returns their removals. */
  protected abstract watch(): (() => void)[];

  /** The keys reconciled when the controller starts and again on every periodic resync. */
  protected abstract resyncKeys(): Iterable<string>;

  /** One reconcile of `namespace/name`. Throws to requeue with backoff (409 conflicts included). */
  abstract reconcile(key: string): Promise<ReconcileResult | void>;

  /** Wires the listeners and the resync timer, and starts the workers. */
  start(): void {
    this.unsubscribe.push(...this.watch());
    // Everything already in the cache, at once: events seen before this term (a restart, a
    // leaderless window) are not replayed, and level-triggered reconciles need no history (W7).
    for (const key of this.resyncKeys()) this.queue.add(key);
    this.resyncTimer = setInterval(() => {
      for (const key of this.resyncKeys()) this.queue.add(key);
    }, this.run.resyncMs);
    this.resyncTimer.unref();
    maxConcurrentReconciles.set({ controller: this.name }, this.run.workers);
    this.workers = this.queue.run(this.run.workers, (key) => this.observed(key));
  }

  /** Unwires everything; the queue ends (a new leadership term builds new controllers). */
  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    clearInterval(this.resyncTimer);
    this.queue.shutdown();
  }

  /**
   * Resolves when the reconciles in flight at {@link stop} have finished, or after `timeoutMs`,
   * whichever comes first. @returns true when they all finished.
   */
  async drained(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    try {
      return await Promise.race([this.workers.then(() => true as const), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Status equality for "write only when something changed": canonical JSON of both, ignoring
 * `lastSyncTime` (it changes only when we write) and undefined fields (the API server drops them).
 */
export function sameStatus(a: object | undefined, b: object): boolean {
  const strip = (s: object | undefined) => {
    if (!s) return '{}';
    const { lastSyncTime: _ignored, ...rest } = s as { lastSyncTime?: string };
    return canonicalJSON(JSON.parse(JSON.stringify(rest)));
  };
  return strip(a) === strip(b);
}
