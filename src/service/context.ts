/**
 * What the service layer works with: the typed API client, the shared informer cache and the
 * event recorder. Built once in main.ts and handed to GraphQL resolvers and REST routes alike.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Caller } from '../auth/caller';
import { ANNOTATIONS } from '../api/constants';
import type { ClusterAvailability } from '../kube/availability';
import type { ClusterCache } from '../kube/cache';
import type { EventRecorder } from '../kube/events';
import type { Informer } from '../kube/informer';
import type { Kube } from '../kube/resources';
import { isConflict, isNotFound } from '../kube/errors';
import { R } from '../kube/resources';
import { invalid } from './errors';

export interface ServiceContext {
  kube: Kube;
  cache: ClusterCache;
  recorder: EventRecorder;
  /** When the service started (health). */
  startedAt: Date;
  /** Whether the API server answers and the CRDs are served (readiness, the 503 gate). */
  availability: ClusterAvailability;
}

/**
 * The context of one API request: the service plus its authenticated caller. Every service
 * operation asks `caller` before it reads or writes (src/auth/).
 */
export interface RequestContext extends ServiceContext {
  caller: Caller;
}

/** The service context of a request by `caller`. */
export function forCaller(svc: ServiceContext, caller: Caller): RequestContext {
  return { ...svc, caller };
}

/** The `runtime.lokiwager.io/requested-by` annotation naming the caller, for objects a request creates or changes. */
export function requestedBy(ctx: RequestContext): Record<string, string> {
  return { [ANNOTATIONS.requestedBy]: ctx.caller.user.username };
}

/** True when the cached resourceVersion is `rv` or later (etcd revisions are integers). */
export function atLeast(cached: string | undefined, rv: string | undefined): boolean {
  if (!cached || !rv) return false;
  if (cached === rv) return true;
  try {
    return BigInt(cached) >= BigInt(rv);
  } catch {
    return false;
  }
}

/** Waits until this process's cache shows the write that answered with `obj` (reads follow writes). */
export async function awaitCached<T extends KubernetesObject>(informer: Informer<T>, obj: KubernetesObject): Promise<void> {
  const rv = obj.metadata?.resourceVersion;
  await informer.waitFor(obj.metadata?.namespace, obj.metadata!.name!, (o) => atLeast(o?.metadata?.resourceVersion, rv));
}

/** Waits until this process's cache no longer has `namespace/name` with `uid`. */
export async function awaitGone<T extends KubernetesObject>(informer: Informer<T>, namespace: string, name: string, uid?: string): Promise<void> {
  await informer.waitFor(namespace, name, (o) => !o || (uid !== undefined && o.metadata?.uid !== uid));
}

/**
 * Runs a read-modify-write `fn` again when the API server answers 409 Conflict (a concurrent
 * writer), up to `attempts` times (contract: "409 conflicts retried internally before they surface").
 */
export async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (!isConflict(err) || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 10 * 2 ** i * Math.random()));
    }
  }
}

/**
 * The namespace a request names must exist (existence check, contract order: after validity).
 * @throws ValidationError (400) naming `namespace` when it does not.
 */
export async function requireNamespace(ctx: ServiceContext, namespace: string): Promise<void> {
  try {
    await ctx.kube.get(R.namespace, undefined, namespace);
  } catch (err) {
    if (isNotFound(err)) throw invalid('namespace', `namespace ${namespace} does not exist`);
    throw err;
  }
}
