/**
 * Reads under RBAC shared by the storage, unit and operation services: what a caller may see of
 * the cache. Writes ask `ctx.caller.require` themselves, before any check of their own.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { PlatformResource } from '../auth/authorizer';
import type { RequestContext } from './context';

/**
 * The cached objects of `objects(namespace)` the caller may list: those of `namespace` (403 when denied),
 * or, across namespaces, those of every namespace where list is allowed (never a partial object).
 */
export async function listAllowed<T extends KubernetesObject>(
  ctx: RequestContext,
  resource: PlatformResource,
  objects: (namespace?: string) => T[],
  namespace?: string,
): Promise<T[]> {
  if (namespace) {
    await ctx.caller.require({ verb: 'list', resource, namespace });
    return objects(namespace);
  }
  const all = objects();
  const allowed = await ctx.caller.namespacesAllowed('list', resource, all.map((o) => o.metadata!.namespace!));
  return allowed === 'all' ? all : all.filter((o) => allowed.has(o.metadata!.namespace!));
}

