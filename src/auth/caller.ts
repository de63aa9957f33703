/**
 * The authenticated caller of one request (or one WebSocket connection): who it is and what RBAC
 * lets it do. Service operations ask it before they read or write anything
 * (contract "Rules the API enforces": 401 → 403 → validity → existence → conflicts → capacity).
 */
import type { SubjectAccessReviewAuthorizer, PlatformResource, ResourceAttributes, Verb } from './authorizer';
import type { UserInfo } from './identity';

/** The authenticated user of one request or connection, with RBAC questions bound to them. */
export class Caller {
  constructor(
    readonly user: UserInfo,
    private readonly authorizer: SubjectAccessReviewAuthorizer,
  ) {}

  /** @throws ForbiddenError naming user, verb, resource and namespace; ServiceError 503 when RBAC cannot be asked. */
  require(attrs: ResourceAttributes): Promise<void> {
    return this.authorizer.require(this.user, attrs);
  }

  /** Whether RBAC allows `attrs`. @throws ServiceError 503 when RBAC cannot be asked. */
  async can(attrs: ResourceAttributes): Promise<boolean> {
    return (await this.authorizer.decide(this.user, attrs)).allowed;
  }

  /**
   * The namespaces of `namespaces` where the caller may `verb` the `resource`: `'all'` when it may
   * do so in every namespace (one cluster-scope question), else the set of those allowed one by
   * one (each decision cached). A list across namespaces shows only these, whole objects each.
   */
  async namespacesAllowed(verb: Verb, resource: PlatformResource, namespaces: Iterable<string>): Promise<'all' | Set<string>> {
    if (await this.can({ verb, resource })) return 'all';
    const unique = [...new Set(namespaces)];
    const allowed = await Promise.all(unique.map((namespace) => this.can({ verb, resource, namespace })));
    return new Set(unique.filter((_, i) => allowed[i]));
  }
}
