/**
 * Budgets per identity, so one caller cannot exhaust the service for others: a request rate
 * (every REST call, GraphQL request and graphql-ws subscribe counts one; a fixed one-second
 * window per identity, rate-limiter-flexible's in-memory limiter) and a number of live
 * subscriptions, per identity and per connection. Over budget: 429 `rate_limited` with
 * `Retry-After` (GraphQL `extensions.code` RATE_LIMITED).
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError } from '../service/errors';
import type { UserInfo } from './identity';

export interface LimitOptions {
  /** Requests per identity per second (default 100; 0 turns the rate limit off). */
  requestsPerSecond?: number;
  /** Live subscriptions per identity (default 100). */
  subscriptionsPerIdentity?: number;
  /** Live subscriptions per graphql-ws connection (default 20). */
  subscriptionsPerConnection?: number;
}

/**
 * Per-identity budgets: requests per second (RATE_LIMIT_PER_SECOND, rate-limiter-flexible; past it
 * RateLimitedError 429 with Retry-After) and live subscriptions per identity and per graphql-ws
 * connection (MAX_SUBSCRIPTIONS_PER_IDENTITY, MAX_SUBSCRIPTIONS_PER_CONNECTION).
 */
export class IdentityLimits {
  private readonly rate?: RateLimiterMemory;
  private readonly perIdentity = new Map<string, number>();
  private readonly perConnection = new WeakMap<object, number>();
  readonly options: Required<LimitOptions>;

  constructor(opts: LimitOptions = {}) {
    this.options = {
      requestsPerSecond: opts.requestsPerSecond ?? 100,
      subscriptionsPerIdentity: opts.subscriptionsPerIdentity ?? 100,
      subscriptionsPerConnection: opts.subscriptionsPerConnection ?? 20,
    };
    if (this.options.requestsPerSecond > 0) this.rate = new RateLimiterMemory({ points: this.options.requestsPerSecond, duration: 1 });
  }

  /** Counts one request of `user`. @throws RateLimitedError over budget. */
  async consumeRequest(user: UserInfo): Promise<void> {
    if (!this.rate) return;
    try {
      await this.rate.consume(user.username);
    } catch (res) {
      if (!(res instanceof RateLimiterRes)) throw res;
      const retry = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
      throw new RateLimitedError(`too many requests from ${user.username}: at most ${this.options.requestsPerSecond} per second; retry after ${retry} s`, retry);
    }
  }

  /** Live subscriptions of `user` now. */
  subscriptionsOf(user: UserInfo): number {
    return this.perIdentity.get(user.username) ?? 0;
  }

  /**
   * Opens one subscription of `user` on `connection` (a graphql-ws connection; undefined for SSE,
   * where each request is its own connection).
   * @returns its release (idempotent). @throws RateLimitedError when a budget is used up.
   */
  openSubscription(user: UserInfo, connection?: object): () => void {
    const mine = this.subscriptionsOf(user);
    if (mine >= this.options.subscriptionsPerIdentity) {
      throw new RateLimitedError(`${user.username} already has ${mine} live subscriptions (at most ${this.options.subscriptionsPerIdentity}); end one first`, 1);
    }
    const onConnection = connection ? (this.perConnection.get(connection) ?? 0) : 0;
    if (connection && onConnection >= this.options.subscriptionsPerConnection) {
      throw new RateLimitedError(`this connection already has ${onConnection} live subscriptions (at most ${this.options.subscriptionsPerConnection}); end one or open another connection`, 1);
    }
    this.perIdentity.set(user.username, mine + 1);
    if (connection) this.perConnection.set(connection, onConnection + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.perIdentity.get(user.username) ?? 1) - 1;
      if (n > 0) this.perIdentity.set(user.username, n);
      else this.perIdentity.delete(user.username);
      if (connection) this.perConnection.set(connection, Math.max(0, (this.perConnection.get(connection) ?? 1) - 1));
    };
  }
}
