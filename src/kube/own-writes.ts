/**
 * The controller's own recent writes, seen before the informer delivers them — client-go's
 * MutationCache (k8s.io/client-go/tools/cache/mutation_cache.go) in miniature.
 *
 * A status write returns the new object at once, but the informer's watch event for it arrives
 * later. A reconcile of the same key in between (a child's event) reads the older version from
 * the cache: it plans the same status again and writes it a second time, or its PUT carries the
 * old resourceVersion and fails with 409 and a retry. Both were measured (bench/converge.ts,
 * issue 14: 5.4 status writes per storage where 4 carry a change). With this cache the reconcile
 * sees its own write: no second write, no conflict.
 *
 * ResourceVersions are opaque (API conventions): no ordering is assumed. A write is remembered as
 * "the version it replaced → the version it produced"; it is used only while the informer still
 * shows exactly the replaced version, and forgotten as soon as the informer shows anything else
 * (our write, or someone else's), or after {@link OWN_WRITE_TTL_MS}.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

/** How long an own write may stand in for the informer's view, in ms. */
export const OWN_WRITE_TTL_MS = 30_000;

interface OwnWrite<T> {
  replaced: string;
  object: T;
  at: number;
}

/**
 * A controller's own recent writes (after client-go's MutationCache): a reconcile that runs before
 * the informer delivered our last status write reads that write instead of the stale cached
 * object, so it neither writes the same status again nor meets a 409.
 */
export class OwnWrites<T extends KubernetesObject> {
  private readonly writes = new Map<string, OwnWrite<T>>();

  /**
   * The freshest known version of `key`: our own write when the informer's `cached` object is
   * still the version that write replaced, else `cached` (and the memory of the write is dropped).
   */
  latest(key: string, cached: T | undefined): T | undefined {
    const w = this.writes.get(key);
    if (!w) return cached;
    const stale = cached !== undefined && cached.metadata?.resourceVersion === w.replaced && cached.metadata?.uid === w.object.metadata?.uid && Date.now() - w.at < OWN_WRITE_TTL_MS;
    if (stale) return w.object;
    this.writes.delete(key);
    return cached;
  }

  /** Records that we replaced version `replaced` of `key` with `written` (the API server's answer). */
  wrote(key: string, replaced: string | undefined, written: T): void {
    if (!replaced || !written.metadata?.resourceVersion) return;
    this.writes.set(key, { replaced, object: written, at: Date.now() });
  }

  /** Forgets `key` (deleted objects). */
  forget(key: string): void {
    this.writes.delete(key);
  }

  /** Writes remembered now (bounded: each is dropped at the next read of its key or after the TTL). */
  get size(): number {
    return this.writes.size;
  }
}
