/**
 * Level-triggered writes of owned objects that never fight the API server's defaulting: the
 * desired object is applied with server-side apply (one stable field manager) only when its hash
 * differs from the hash recorded on the live object at the last apply. Comparing our own desired
 * state with itself, not with a defaulted copy, keeps steady state free of writes
 * (controller-runtime-notes: "Steady state writes nothing").
 */
import type { KubernetesObject, V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { ANNOTATIONS, API_VERSION } from '../api/constants';
import { canonicalJSON } from '../api/canonical-json';
import { sha256Hex } from '../api/naming';
import type { Kube, Resource } from './resources';

/** The desired object with `runtime.lokiwager.io/applied-hash` set to the hash of its content. */
export function stampAppliedHash<T extends KubernetesObject>(desired: T): T {
  const hash = sha256Hex(canonicalJSON(desired)).slice(0, 16);
  return {
    ...desired,
    metadata: { ...desired.metadata, annotations: { ...desired.metadata?.annotations, [ANNOTATIONS.appliedHash]: hash } },
  };
}

/**
 * True when every field set in `desired` has the same value in `live` (objects key by key, lists
 * element by element and of the same length). Fields only `live` has — the API server's defaults
 * (terminationMessagePath, dnsPolicy, strategy, …) — are ignored: we compare only what we own.
 */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (desired === null || typeof desired !== 'object') return desired === live;
  if (Array.isArray(desired)) {
    return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => isSubset(d, live[i]));
  }
  if (live === null || typeof live !== 'object' || Array.isArray(live)) return false;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => v === undefined || isSubset(v, (live as Record<string, unknown>)[k]));
}

/**
 * Applies `desired` unless `live` already carries the same applied hash and still holds every
 * field we set (a hand edit of an owned field, e.g. the accessor's replicas, is reverted).
 * @returns the object the API server answered when a write was made, else undefined.
 * @throws KubeHttpError from the API server (422 for an invalid object, 409 on conflicts).
 */
export async function ensureApplied<T extends KubernetesObject>(kube: Kube, r: Resource<T>, desired: T, live: T | undefined): Promise<T | undefined> {
  const stamped = stampAppliedHash(desired);
  const want = stamped.metadata?.annotations?.[ANNOTATIONS.appliedHash];
  if (
    live &&
    !live.metadata?.deletionTimestamp &&
    live.metadata?.annotations?.[ANNOTATIONS.appliedHash] === want &&
    isSubset({ ...desired, apiVersion: undefined, kind: undefined, status: undefined }, live)
  ) {
    return undefined;
  }
  return kube.apply(r, stamped);
}

/**
 * The controller ownerReference a child carries, so that deleting its GPUStorage/GPUUnit
 * garbage-collects it (https://kubernetes.io/docs/concepts/architecture/garbage-collection/).
 */
export function controllerRef(kind: 'GPUStorage' | 'GPUUnit', owner: { metadata: V1ObjectMeta }): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind,
    name: owner.metadata.name!,
    uid: owner.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}
