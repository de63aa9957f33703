/**
 * Authorization delegated to the cluster: every operation is a SubjectAccessReview
 * (authorization.k8s.io/v1) for the resource it touches in the namespace it touches, so platform
 * teams manage access with the RBAC they already use (`kubectl create rolebinding`). Decisions
 * are cached briefly in a bounded LRU (allowed and denied ones for their own TTLs), and
 * concurrent checks of one question share one review.
 * Source: https://kubernetes.io/docs/reference/access-authn-authz/authorization/#checking-api-access
 */
import { LRUCache } from 'lru-cache';
import { GROUP } from '../api/constants';
import { kubeMessageOf, statusCodeOf } from '../kube/errors';
import { R, type Kube } from '../kube/resources';
import { ForbiddenError, ServiceError } from '../service/errors';
import type { UserInfo } from './identity';

/** Kubernetes API verbs the platform's operations map to. */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

/** The platform's resources (group runtime.lokiwager.io). */
export type PlatformResource = 'gpustorages' | 'gpuunits' | 'gpuoperations';

/**
 * One question for RBAC: may the user `verb` the `resource` (and `subresource`, e.g.
 * `gpustorages/recover`, modelled as `pods/exec` is) in `namespace` ('' or undefined: in every
 * namespace), optionally the object `name`.
 */
export interface ResourceAttributes {
  verb: Verb;
  resource: PlatformResource;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface Decision {
  allowed: boolean;
  /** The authorizer's reason, when it gave one. */
  reason?: string;
}

export interface AuthorizerOptions {
  /** How long an allowed decision is reused, in ms (default 10 000). */
  allowedTtlMs?: number;
  /** How long a denied decision is reused, in ms (default 5 000). */
  deniedTtlMs?: number;
  /** Most decisions remembered (default 10 000). */
  cacheSize?: number;
}

interface Question {
  user: UserInfo;
  attrs: ResourceAttributes;
}

/**
 * Kubernetes' own wording, so kubectl users recognise it: `User "u" cannot create resource
 * "gpustorages" in API group "runtime.lokiwager.io" in the namespace "b"`.
 */
export function describeDenial(user: UserInfo, a: ResourceAttributes): string {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const where = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `User "${user.username}" cannot ${a.verb} resource "${resource}" in API group "${GROUP}" ${where}`;
}

/**
 * Whether a user may do something, asked of the API server with a SubjectAccessReview
 * (authorization.k8s.io/v1: Kubernetes RBAC decides); decisions cached in a bounded LRU (10,000,
 * AUTHZ_ALLOWED_TTL_SECONDS / AUTHZ_DENIED_TTL_SECONDS). A denial is ForbiddenError (403) naming
 * user, verb, resource and namespace, as kube-apiserver words it; an API server that cannot be
 * asked is ServiceError 503.
 */
export class SubjectAccessReviewAuthorizer {
  private readonly cache: LRUCache<string, Decision, Question>;
  /** SubjectAccessReviews sent (cache misses): read by tests and the benchmark. */
  reviews = 0;

  constructor(
    private readonly kube: Kube,
    private readonly opts: AuthorizerOptions = {},
  ) {
    this.cache = new LRUCache<string, Decision, Question>({
      max: opts.cacheSize ?? 10_000,
      ttl: opts.allowedTtlMs ?? 10_000,
      fetchMethod: async (_key, _stale, { context, options }) => {
        const d = await this.review(context);
        if (!d.allowed) options.ttl = this.opts.deniedTtlMs ?? 5_000;
        return d;
      },
    });
  }

  /**
   * What RBAC says about `attrs` for `user`.
   * @throws ServiceError operator_unavailable (503) when the review cannot be made.
   */
  async decide(user: UserInfo, attrs: ResourceAttributes): Promise<Decision> {
    const key = JSON.stringify([user.username, user.uid ?? '', [...user.groups].sort(), user.extra ?? {}, attrs.verb, attrs.resource, attrs.subresource ?? '', attrs.namespace ?? '', attrs.name ?? '']);
    const d = await this.cache.fetch(key, { context: { user, attrs } });
    return d ?? { allowed: false };
  }

  /** @throws ForbiddenError naming user, verb, resource and namespace when RBAC denies `attrs`. */
  async require(user: UserInfo, attrs: ResourceAttributes): Promise<void> {
    const d = await this.decide(user, attrs);
    if (!d.allowed) throw new ForbiddenError(describeDenial(user, attrs) + (d.reason ? `: ${d.reason}` : ''));
  }

  /** Forgets every cached decision (tests; after a known RBAC change). */
  clear(): void {
    this.cache.clear();
  }

  private async review({ user, attrs }: Question): Promise<Decision> {
    this.reviews++;
    try {
      const answer = (await this.kube.create(R.subjectAccessReview, {
        metadata: {},
        spec: {
          user: user.username,
          ...(user.uid ? { uid: user.uid } : {}),
          groups: user.groups,
          ...(user.extra ? { extra: user.extra } : {}),
          resourceAttributes: {
            group: GROUP,
            resource: attrs.resource,
            verb: attrs.verb,
            ...(attrs.subresource ? { subresource: attrs.subresource } : {}),
            ...(attrs.namespace ? { namespace: attrs.namespace } : {}),
            ...(attrs.name ? { name: attrs.name } : {}),
          },
        },
      } as never)) as { status?: { allowed?: boolean; denied?: boolean; reason?: string } };
      return { allowed: !!answer.status?.allowed, ...(answer.status?.reason ? { reason: answer.status.reason } : {}) };
    } catch (err) {
      const code = statusCodeOf(err);
      throw new ServiceError('operator_unavailable', `cannot ask the cluster for authorization (SubjectAccessReview${code ? ` answered ${code}` : ' failed'}: ${kubeMessageOf(err)})`);
    }
  }
}
