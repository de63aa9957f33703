/**
 * The accessor's status and desired presence (contract: "Accessor: Deployment and Service
 * `storage-accessor-<name>` … Created only after prepare is ready; removed when disabled").
 */
import { ACCESSOR_PORT } from '../../api/constants';
import { accessorName, serviceURL } from '../../api/naming';
import type { AccessorStatus } from '../../api/types';
import type { StorageObservation, StoragePlan } from './status';

/**
 * Accessor status and desired presence. `volumeReady`: prepare is done and the volume is usable
 * (Bound, or waiting for its first consumer on a WaitForFirstConsumer class, where the accessor
 * pod may be that consumer); `prepareBusy`: an attempt is pending or running (scale to zero).
 */
export function planAccessor(obs: StorageObservation, volumeReady: boolean, prepareBusy: boolean): { status: AccessorStatus; desired: StoragePlan['accessor'] } {
  const { storage } = obs;
  const name = storage.metadata.name!;
  const ns = storage.metadata.namespace!;
  if (!storage.spec.accessor?.enabled) return { status: { phase: 'Disabled' }, desired: { present: false } };
  const serviceName = accessorName(name);
  const ids = { serviceName, accessURL: serviceURL('http', serviceName, ns, ACCESSOR_PORT) };
  if (!volumeReady) {
    // The Service name and URL are reported only once the accessor exists.
    return {
      status: { phase: 'Pending', ...(obs.accessor ? ids : {}), readyReplicas: 0, message: prepareBusy ? 'scaled to zero while a prepare attempt runs' : 'waiting for prepare to succeed' },
      desired: obs.accessor ? { present: true, replicas: 0 } : { present: false },
    };
  }
  const d = obs.accessor;
  const available = d?.status?.availableReplicas ?? 0;
  const ready = d?.status?.readyReplicas ?? 0;
  if (d && available >= 1 && (d.spec?.replicas ?? 1) >= 1) {
    return { status: { phase: 'Ready', ...ids, readyReplicas: ready, message: 'accessor is serving the volume read-only' }, desired: { present: true, replicas: 1 } };
  }
  const stalled = d?.status?.conditions?.find((c) => c.type === 'Progressing' && c.status === 'False');
  if (stalled) {
    return {
      status: { phase: 'Failed', ...ids, readyReplicas: ready, message: `accessor deployment ${serviceName}: ${stalled.reason}: ${stalled.message ?? ''}` },
      desired: { present: true, replicas: 1 },
    };
  }
  return { status: { phase: 'Pending', ...ids, readyReplicas: ready, message: `waiting for accessor deployment ${serviceName} to become available` }, desired: { present: true, replicas: 1 } };
}
