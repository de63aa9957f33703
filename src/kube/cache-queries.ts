/**
 * Rules read off the shared cache that the API service and the controllers both apply: which
 * active units mount a storage (the contract's mountedBy and one-active-unit-per-storage rule),
 * whether a unit is running, and the running unit that writes a storage (it blocks a clone from
 * the storage and a recover of it). Answered from the cache's indexes (./cache.ts INDEX), never
 * with a round trip. Source: ../shared/spec/contract.md ("Rules the API enforces").
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { STOCK_NAMESPACE } from '../api/constants';
import { unitDeploymentName } from '../api/naming';
import type { GPUUnit } from '../api/types';
import { INDEX, type ClusterCache } from './cache';

/**
 * Whether an active unit is running: its Deployment wants pods (a unit waiting for its storage
 * has zero replicas) or it still has a scheduled pod. A Deployment rolling its pods counts as
 * running throughout, so the gap between the old pod and the new one never looks idle.
 */
export function isUnitRunning(cache: ClusterCache, namespace: string, unitName: string): boolean {
  const deployment = cache.deployments.get(namespace, unitDeploymentName(unitName));
  if ((deployment?.spec?.replicas ?? 0) > 0 && !deployment?.metadata?.deletionTimestamp) return true;
  return cache.pods
    .byIndex(INDEX.unitLabel, `${namespace}/${unitName}`)
    .some((p) => !p.metadata?.deletionTimestamp && !!p.spec?.nodeName && (p.status?.phase === 'Running' || p.status?.phase === 'Pending'));
}

/**
 * The running active unit that mounts `storage` read-write, if any: it blocks a clone from the
 * storage and a recover of it (contract: "no running unit mounts the source read-write").
 */
export function runningWriterOf(cache: ClusterCache, namespace: string, storage: string): string | undefined {
  return unitsMounting(cache, namespace, storage).find(
    (u) => u.spec.storageMounts?.some((m) => m.name === storage && !m.readOnly) && isUnitRunning(cache, namespace, u.metadata.name!),
  )?.metadata.name;
}

/** Active units in `namespace` whose storageMounts name `storage` (the storage → mounting units index, src/kube/cache.ts). */
export function unitsMounting(cache: ClusterCache, namespace: string, storage: string): (GPUUnit & KubernetesObject)[] {
  if (namespace === STOCK_NAMESPACE) return [];
  return cache.units.byIndex(INDEX.mountedStorage, `${namespace}/${storage}`);
}
