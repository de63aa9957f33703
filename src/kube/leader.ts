/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's LeaseLock semantics
 * (../shared/spec/controller-runtime-notes.md, "Leader election"): lease duration 15 s, renew
 * deadline 10 s, retry period 2 s; acquire or renew by replacing the Lease with the
 * resourceVersion read (409 means another replica won); leadership is given up as soon as the
 * renew deadline passes without a successful renew; followers poll on the retry period (a crashed
 * leader sends no event); the lease is released on graceful shutdown.
 *
 * Expiry is judged on this process's clock from when the record was last seen to change
 * (client-go's observedTime), never by comparing another host's timestamps with ours.
 */
import { leaderStatus } from './metrics';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { V1Lease } from '@kubernetes/client-node';
import { isAlreadyExists, isConflict, isNotFound } from './errors';
import { LeadershipLostError, R, type Kube, type WriteGuard } from './resources';
import { logger } from '../logger';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** Unique per process (default hostname-pid-random). */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

const log = logger.child({ component: 'leader-election' });

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits, as the API server requires. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's timings (lease duration
 * 15 s, renew deadline 10 s, retry period 2 s): one replica reconciles at a time. Each term has a
 * write guard that refuses writes once the renew deadline passed without a renewal, and stop()
 * releases the Lease so another replica leads at once.
 */
export class LeaderElector {
  readonly identity: string;
  private leading = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  /** The acquire/renew attempt in progress, if any: stop() waits for it before releasing. */
  private attempt?: Promise<void>;
  /** The last attempt acquired or renewed the lease (it may be ours even before we lead). */
  private mayHold = false;
  private observed?: { holder: string; renewTime: string; at: number };
  /** When the last successful acquire/renew was sent (epoch ms, this process's clock). */
  private lastRenew = 0;
  /** Counts leadership terms; a term's guard refuses writes once another term began. */
  private term = 0;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;

  constructor(
    private readonly kube: Kube,
    private readonly opts: LeaderElectionOptions,
  ) {
    this.identity = opts.identity ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * The write guard of the current leadership term: it throws {@link LeadershipLostError} once
   * this term is over — leadership given up, another term begun, or simply the renew deadline
   * passed since the last successful renew was sent, even before the elector's next tick notices
   * (a process resumed after SIGSTOP runs its pending reconcile continuations first). The renew
   * deadline (10 s) is below the lease duration (15 s) another replica waits before taking over,
   * so a guarded write never overlaps the next leader's term (issue 12).
   */
  termGuard(): WriteGuard {
    const term = this.term;
    return () => {
      if (term !== this.term || !this.leading) throw new LeadershipLostError('the leadership term ended');
      const since = Date.now() - this.lastRenew;
      if (since > this.renewDeadlineMs) throw new LeadershipLostError(`lease last renewed ${Math.round(since / 1000)} s ago, renew deadline ${this.renewDeadlineMs / 1000} s`);
    };
  }

  /** Starts campaigning; callbacks fire on every change of leadership. */
  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /**
   * Stops campaigning and, when leading, releases the lease so another replica takes over at once.
   * An acquire/renew already on the wire is awaited first: it can neither make this process leader
   * again after stop() nor renew the lease after the release.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.attempt;
    this.setLeading(false);
    if (!this.mayHold) return;
    try {
      const lease = await this.kube.get(R.lease, this.opts.namespace, this.opts.name);
      if (lease.spec?.holderIdentity === this.identity) {
        await this.kube.replace(R.lease, {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(new Date()) as never },
        });
      }
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not release the lease');
    }
  }

  private setLeading(v: boolean): void {
    if (v === this.leading) return;
    this.leading = v;
    log.info({ identity: this.identity, leading: v }, v ? 'became leader' : 'stopped leading');
    leaderStatus.set({ name: this.opts.name }, v ? 1 : 0);
    if (v) this.term++;
    if (v) this.opts.onStartedLeading();
    else this.opts.onStoppedLeading();
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.attempt = this.tick().finally(() => (this.attempt = undefined));
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let ok = false;
    const sent = Date.now();
    try {
      ok = await this.tryAcquireOrRenew();
      this.mayHold = ok;
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'lease acquire/renew failed');
    }
    if (this.stopped) return; // stop() decides leadership from here on
    if (ok) this.lastRenew = sent;
    if (this.leading && !ok && Date.now() - this.lastRenew > this.renewDeadlineMs) this.setLeading(false);
    else if (ok) this.setLeading(true);
    this.schedule(this.retryMs);
  }

  /** One attempt. @returns true when this process holds the lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.opts;
    const now = new Date();
    let lease: V1Lease;
    try {
      lease = await this.kube.get(R.lease, namespace, name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.kube.create(R.lease, {
          metadata: { name, namespace },
          spec: {
            holderIdentity: this.identity,
            leaseDurationSeconds: Math.round(this.leaseMs / 1000),
            acquireTime: microTime(now) as never,
            renewTime: microTime(now) as never,
            leaseTransitions: 0,
          },
        });
        return true;
      } catch (e) {
        if (isAlreadyExists(e) || isConflict(e)) return false;
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewTime = String(spec.renewTime ?? '');
    if (!this.observed || this.observed.holder !== holder || this.observed.renewTime !== renewTime) {
      this.observed = { holder, renewTime, at: Date.now() };
    }
    const durationMs = (spec.leaseDurationSeconds ?? 15) * 1000;
    const held = holder !== '' && holder !== this.identity && this.observed.at + durationMs > Date.now();
    if (held) return false;
    const takingOver = holder !== this.identity;
    try {
      await this.kube.replace(R.lease, {
        ...lease,
        spec: {
          ...spec,
          holderIdentity: this.identity,
          leaseDurationSeconds: Math.round(this.leaseMs / 1000),
          renewTime: microTime(now) as never,
          ...(takingOver ? { acquireTime: microTime(now) as never, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
        },
      });
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
