/**
 * The shape every reconciler shares, after controller-runtime: informer listeners turn events
 * into keys on a work queue (synchronously, controller-runtime-notes W6), a periodic resync
 * re-adds every key (W7), and workers run `reconcile` with per-key backoff. Subclasses say what
 * they watch, which keys a resync covers, and how to reconcile one key.
 */
import { canonicalJSON } from './apply';
import { WorkQueue, type ReconcileResult } from './workqueue';

export interface ControllerRunOptions {
  /** Parallel reconciles (never two of one key). */
  workers: number;
  /** Resync period in ms. */
  resyncMs: number;
}

export abstract class Controller {
  readonly queue: WorkQueue;
  private readonly unsubscribe: (() => void)[] = [];
  private resyncTimer?: NodeJS.Timeout;

  constructor(
    name: string,
    private readonly run: ControllerRunOptions,
  ) {
    this.queue = new WorkQueue({ name });
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
    void this.queue.run(this.run.workers, (key) => this.reconcile(key));
  }

  /** Unwires everything; the queue ends (a new leadership term builds new controllers). */
  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    clearInterval(this.resyncTimer);
    this.queue.shutdown();
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
