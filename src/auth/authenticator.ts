/**
 * Authentication delegated to the cluster, as aggregated API servers and kube-rbac-proxy do it:
 * each bearer token is checked with a TokenReview (authentication.k8s.io/v1), so ServiceAccount
 * tokens and whatever else the API server's authenticators accept (OIDC, webhook) work.
 * Verdicts are cached briefly in a bounded LRU keyed by the token's SHA-256 (the token itself is
 * never kept), and concurrent checks of one token share one review.
 * Source: https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-review-v1/
 */
import { LRUCache } from 'lru-cache';
import { sha256Hex } from '../api/naming';
import { statusCodeOf, kubeMessageOf } from '../kube/errors';
import { R, type Kube } from '../kube/resources';
import { ServiceError, UnauthenticatedError } from '../service/errors';
import { ANONYMOUS, type UserInfo } from './identity';

export interface AuthenticatorOptions {
  /** Audiences the token must be meant for (TokenReview spec.audiences); empty: the API server's own. */
  audiences?: string[];
  /** How long a verdict (accepted or rejected) is reused, in ms (default 10 000). */
  cacheTtlMs?: number;
  /** Most tokens remembered (default 1000). */
  cacheSize?: number;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

type Verdict = { user: UserInfo } | { rejected: string };

/**
 * Who a bearer token belongs to, asked of the API server with a TokenReview (authentication.k8s.io/v1,
 * `spec.audiences` from AUTH_AUDIENCES); verdicts cached by the token's SHA-256 in a bounded LRU
 * (1000 entries, AUTH_TOKEN_CACHE_TTL_SECONDS). A rejected token is UnauthenticatedError (401); an
 * API server that cannot be asked is ServiceError 503.
 */
export class TokenReviewAuthenticator {
  private readonly cache: LRUCache<string, Verdict, string>;
  /** TokenReviews sent (cache misses): read by tests and the benchmark. */
  reviews = 0;

  constructor(
    private readonly kube: Kube,
    private readonly opts: AuthenticatorOptions = {},
  ) {
    this.cache = new LRUCache<string, Verdict, string>({
      max: opts.cacheSize ?? 1000,
      ttl: opts.cacheTtlMs ?? 10_000,
      fetchMethod: (_key, _stale, { context }) => this.review(context),
    });
  }

  /**
   * The user `token` stands for; {@link ANONYMOUS} when there is no token.
   * @throws UnauthenticatedError (401) when the cluster rejects the token;
   *   ServiceError operator_unavailable (503) when the TokenReview cannot be made.
   */
  async authenticate(token: string | undefined): Promise<UserInfo> {
    if (!token) return ANONYMOUS;
    const verdict = await this.cache.fetch(sha256Hex(token), { context: token });
    if (!verdict || 'rejected' in verdict) throw new UnauthenticatedError(verdict?.rejected ?? 'the token was not accepted');
    return verdict.user;
  }

  /** Forgets every cached verdict (benchmarks; after a known change of credentials). */
  clear(): void {
    this.cache.clear();
  }

  private async review(token: string): Promise<Verdict> {
    this.reviews++;
    let status: TokenReviewStatus | undefined;
    try {
      const answer = await this.kube.create(R.tokenReview, {
        metadata: {},
        spec: { token, ...(this.opts.audiences?.length ? { audiences: this.opts.audiences } : {}) },
      } as never);
      status = (answer as { status?: TokenReviewStatus }).status;
    } catch (err) {
      const code = statusCodeOf(err);
      throw new ServiceError('operator_unavailable', `cannot check the bearer token with the cluster (TokenReview${code ? ` answered ${code}` : ' failed'}: ${kubeMessageOf(err)})`);
    }
    if (!status?.authenticated || !status.user?.username) {
      return { rejected: `the cluster rejected the bearer token${status?.error ? `: ${status.error}` : ''}` };
    }
    const u = status.user;
    return { user: { username: u.username!, uid: u.uid, groups: u.groups ?? [], ...(u.extra ? { extra: u.extra } : {}) } };
  }
}
