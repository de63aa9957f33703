/**
 * Identity and authorization of every transport (REST, GraphQL over HTTP and SSE, graphql-ws),
 * delegated to Kubernetes: TokenReview for who is asking, SubjectAccessReview for what they may do,
 * plus per-identity budgets and the browser-origin policy. Built once per service from options
 * and the environment (README "Authentication and authorization").
 */
import type { Kube } from '../kube/resources';
import { TokenReviewAuthenticator } from './authenticator';
import { SubjectAccessReviewAuthorizer } from './authorizer';
import { Caller } from './caller';
import { bearerToken } from './identity';
import { IdentityLimits } from './limits';
import { OriginPolicy, parseOrigins } from './origin';
import { env } from '../env';

export { Caller } from './caller';
export type { ResourceAttributes, Verb, PlatformResource } from './authorizer';
export { ANONYMOUS, type UserInfo } from './identity';

/** Every knob, each with its environment variable and default. */
export interface AuthOptions {
  /** TokenReview audiences (AUTH_AUDIENCES, comma-separated; default: the API server's). */
  audiences?: string[];
  /** How long a token's verdict is reused, ms (AUTH_TOKEN_CACHE_TTL_SECONDS, default 10 s). */
  tokenCacheTtlMs?: number;
  /** How long an allowed decision is reused, ms (AUTHZ_ALLOWED_TTL_SECONDS, default 10 s). */
  allowedTtlMs?: number;
  /** How long a denied decision is reused, ms (AUTHZ_DENIED_TTL_SECONDS, default 5 s). */
  deniedTtlMs?: number;
  /** A live subscription's access is checked again this often, ms (SUBSCRIPTION_RECHECK_SECONDS, default 30 s). */
  recheckMs?: number;
  /** Requests per identity per second (RATE_LIMIT_PER_SECOND, default 100; 0: off). */
  requestsPerSecond?: number;
  /** Live subscriptions per identity (MAX_SUBSCRIPTIONS_PER_IDENTITY, default 100). */
  subscriptionsPerIdentity?: number;
  /** Live subscriptions per graphql-ws connection (MAX_SUBSCRIPTIONS_PER_CONNECTION, default 20). */
  subscriptionsPerConnection?: number;
  /** Origins allowed cross-origin (CORS_ORIGINS, comma-separated; default none: CORS off). */
  corsOrigins?: string[];
}

/** A number ≥ 0 of the environment, undefined when unset (the option's default applies). */
const number = (name: string) => env(name).asFloatPositive();
/** Seconds ≥ 0 of the environment, in ms. */
const seconds = (name: string) => {
  const n = number(name);
  return n === undefined ? undefined : n * 1000;
};

/** Options from the environment, `overrides` winning. @throws Error naming a malformed variable. */
export function authOptionsFromEnv(overrides: AuthOptions = {}): AuthOptions {
  return {
    audiences: (process.env.AUTH_AUDIENCES ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    tokenCacheTtlMs: seconds('AUTH_TOKEN_CACHE_TTL_SECONDS'),
    allowedTtlMs: seconds('AUTHZ_ALLOWED_TTL_SECONDS'),
    deniedTtlMs: seconds('AUTHZ_DENIED_TTL_SECONDS'),
    recheckMs: seconds('SUBSCRIPTION_RECHECK_SECONDS'),
    requestsPerSecond: number('RATE_LIMIT_PER_SECOND'),
    subscriptionsPerIdentity: number('MAX_SUBSCRIPTIONS_PER_IDENTITY'),
    subscriptionsPerConnection: number('MAX_SUBSCRIPTIONS_PER_CONNECTION'),
    corsOrigins: parseOrigins(process.env.CORS_ORIGINS),
    ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
  };
}

/**
 * Identity and authorization of the service: the TokenReview authenticator, the
 * SubjectAccessReview authorizer, per-identity budgets (rate, subscriptions) and the browser origin
 * policy, built from {@link AuthOptions} (README "Authentication and authorization").
 */
export class Auth {
  readonly authenticator: TokenReviewAuthenticator;
  readonly authorizer: SubjectAccessReviewAuthorizer;
  readonly limits: IdentityLimits;
  readonly origins: OriginPolicy;
  /** ms between access re-checks of a live subscription. */
  readonly recheckMs: number;

  constructor(kube: Kube, opts: AuthOptions = {}) {
    this.authenticator = new TokenReviewAuthenticator(kube, { audiences: opts.audiences, cacheTtlMs: opts.tokenCacheTtlMs });
    this.authorizer = new SubjectAccessReviewAuthorizer(kube, { allowedTtlMs: opts.allowedTtlMs, deniedTtlMs: opts.deniedTtlMs });
    this.limits = new IdentityLimits(opts);
    this.origins = new OriginPolicy(opts.corsOrigins ?? []);
    this.recheckMs = opts.recheckMs ?? 30_000;
  }

  /**
   * The caller of a request with this `Authorization` header value (anonymous without one).
   * @throws UnauthenticatedError (401) for a malformed header or a token the cluster rejects;
   *   ServiceError 503 when the cluster cannot be asked.
   */
  async callerFor(authorization: string | undefined | null): Promise<Caller> {
    const user = await this.authenticator.authenticate(bearerToken(authorization));
    return new Caller(user, this.authorizer);
  }
}
