/**
 * Types and helpers of the shared informers (./informer.ts): events, options, health, the cache
 * key of an object, the backoff of the list-watch loop.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { IndexFunc, SortKeyFunc } from './store';

export type InformerEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A change seen by an informer. `old` is set for MODIFIED and DELETED. */
export interface InformerEvent<T> {
  type: InformerEventType;
  object: T;
  old?: T;
}

export type InformerListener<T> = (event: InformerEvent<T>) => void;

export interface InformerOptions<T = KubernetesObject> {
  /** Collection path across namespaces, e.g. `/apis/batch/v1/jobs`. */
  path: string;
  apiVersion: string;
  kind: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Server-side watch timeout in seconds (default 300, jittered ±20%). */
  timeoutSeconds?: number;
  /** A watch silent (no event, no bookmark) this long is aborted and restarted (default timeoutSeconds + 30 s). */
  inactivityTimeoutMs?: number;
  /**
   * Indexes of the cache besides the built-in {@link NAMESPACE_INDEX} (index name → index
   * function; see ./store.ts). Kept in step on every event and relist.
   */
  indexers?: Record<string, IndexFunc<T>>;
  /** Order of sorted views within a bucket (default: by name; see ./store.ts `sorted`). */
  sortKey?: SortKeyFunc<T>;
}

/** The built-in index of every informer: the object's namespace (cluster-scoped objects are not in it). */
export const NAMESPACE_INDEX = 'namespace';

/** Health of one informer, exposed in readiness and /api/v1/health. */
export interface InformerHealth {
  kind: string;
  synced: boolean;
  lastActivity?: string;
  restarts: number;
  relists: number;
  lastError?: string;
  /** The API server answered 404 for the collection: the resource is not served (its CRD is missing). */
  notServed?: boolean;
}

/** `namespace/name` (or `name` for cluster-scoped objects): the key of caches and work queues. */
export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name}` : `${obj.metadata?.name}`;
}

/** Jittered exponential backoff: base·2^(n-1), capped at 30 s, ±50 % jitter. */
export function backoffMs(failures: number, baseMs: number): number {
  const raw = Math.min(30_000, baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(raw * (0.5 + Math.random()));
}
