/**
 * Lists under RBAC, served from the cache's indexes and paged by keyset (./paging.ts): storages
 * (optionally of one phase), active units, stock units. No list costs O(objects in the cache):
 * each reads the index buckets of the namespaces it shows (the namespaces come from the namespace
 * index, never from a scan), and a page costs O(namespaces + log n + page size) plus the views
 * of the page.
 *
 * Authorization as before (contract order): a namespace named → `list` there (403 otherwise);
 * across namespaces → only those where `list` is allowed (one cluster-scope question, else one
 * per namespace, cached), never a partial object.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { PlatformResource } from '../auth/authorizer';
import { STOCK_NAMESPACE } from '../api/constants';
import { INDEX } from '../kube/cache';
import { NAMESPACE_INDEX, type Informer } from '../kube/informer';
import type { RequestContext } from './context';
import { pageKeys, type KeyPage, type PageArgs, type PageBounds, type Segment } from './paging';

/** A page of objects with the keyset page it came from. */
export interface ObjectPage<T> extends KeyPage {
  items: T[];
}

/**
 * The namespaces of `candidates` the caller may `list` `resource` in: all of them, or (a
 * namespace named) that one after `require` (403 when denied).
 */
export async function namespacesToList(ctx: RequestContext, resource: PlatformResource, candidates: () => string[], namespace?: string): Promise<string[]> {
  if (namespace) {
    await ctx.caller.require({ verb: 'list', resource, namespace });
    return [namespace];
  }
  const all = candidates();
  const allowed = await ctx.caller.namespacesAllowed('list', resource, all);
  return allowed === 'all' ? all : all.filter((ns) => allowed.has(ns));
}

/** Reads the objects of a key page from `informer` (a key deleted meanwhile is left out, with its cursor). */
function objectsOf<T extends KubernetesObject>(informer: Informer<T>, page: KeyPage): ObjectPage<T> {
  const items: T[] = [];
  const keys: string[] = [];
  const cursors: string[] = [];
  page.keys.forEach((k, i) => {
    const o = informer.getByKey(k);
    if (!o) return;
    items.push(o);
    keys.push(k);
    cursors.push(page.cursors[i]!);
  });
  return { ...page, keys, cursors, items };
}

/**
 * A page of storages of `namespace` (every namespace the caller may list when undefined),
 * optionally of one `phase`, in (namespace, name) order.
 * @throws ServiceError 403 when listing `namespace` is denied; ValidationError for bad page arguments.
 */
export async function pageStorageObjects(ctx: RequestContext, filter: { namespace?: string; phase?: string }, args: PageArgs, bounds: PageBounds, fields?: { after: string; before: string }) {
  const inf = ctx.cache.storages;
  const namespaces = await namespacesToList(ctx, 'gpustorages', () => inf.indexValues(NAMESPACE_INDEX), filter.namespace);
  const segments: Segment[] = namespaces.map((ns) => ({
    namespace: ns,
    entries: filter.phase ? inf.sorted(INDEX.namespacePhase, `${ns}/${filter.phase}`) : inf.sorted(NAMESPACE_INDEX, ns),
  }));
  return objectsOf(inf, pageKeys(segments, args, bounds, fields));
}

/**
 * A page of active units (not in runtime-stock, not being deleted) of `namespace` (every
 * namespace the caller may list when undefined), in (namespace, name) order.
 * @throws ServiceError 403 when listing `namespace` is denied; ValidationError for bad page arguments.
 */
export async function pageUnitObjects(ctx: RequestContext, namespace: string | undefined, args: PageArgs, bounds: PageBounds, fields?: { after: string; before: string }) {
  const inf = ctx.cache.units;
  if (namespace === STOCK_NAMESPACE) await ctx.caller.require({ verb: 'list', resource: 'gpuunits', namespace });
  const namespaces = namespace === STOCK_NAMESPACE ? [] : await namespacesToList(ctx, 'gpuunits', () => inf.indexValues(INDEX.activeNamespace), namespace);
  const segments: Segment[] = namespaces.map((ns) => ({ namespace: ns, entries: inf.sorted(INDEX.activeNamespace, ns) }));
  return objectsOf(inf, pageKeys(segments, args, bounds, fields));
}

/**
 * A page of stock units (runtime-stock, not being deleted), optionally of one specName, oldest
 * first (creationTimestamp, then name: the order consumption takes them).
 * @throws ServiceError 403 when listing gpuunits in runtime-stock is denied.
 */
export async function pageStockObjects(ctx: RequestContext, specName: string | undefined, args: PageArgs, bounds: PageBounds, fields?: { after: string; before: string }) {
  await ctx.caller.require({ verb: 'list', resource: 'gpuunits', namespace: STOCK_NAMESPACE });
  const inf = ctx.cache.units;
  const entries = inf.sorted(INDEX.stockSpec, specName === undefined ? '' : `spec:${specName}`);
  return objectsOf(inf, pageKeys([{ namespace: STOCK_NAMESPACE, entries }], args, bounds, fields));
}
