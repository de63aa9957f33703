/**
 * What a storage's PVC says about its volume: bound, lost, or (on a WaitForFirstConsumer class)
 * waiting only for the first pod that uses it. Pure functions.
 *
 * Rules: ../shared/spec/contract.md ("Binding modes"): a StorageClass with
 * `volumeBindingMode: WaitForFirstConsumer` binds a PVC only when the first pod that uses it is
 * scheduled. On such a class the prepare Job is that first consumer: it starts once the PVC exists;
 * a storage with no prepare contract is Ready once its PVC exists and waits only for a consumer,
 * with `capacity` empty until it binds.
 */
import type { V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import { compareQuantities, parseQuantity } from '../../api/quantity';

/** A StorageClass's `volumeBindingMode`; Kubernetes defaults an unset mode to Immediate. */
export type BindingMode = 'Immediate' | 'WaitForFirstConsumer';

/**
 * The binding mode of `storageClass` (contract: "Binding modes"). An unknown or missing class is
 * Immediate, the Kubernetes default: the storage then waits for Bound, as it always did.
 */
export function bindingModeOf(storageClass: V1StorageClass | undefined): BindingMode {
  return storageClass?.volumeBindingMode === 'WaitForFirstConsumer' ? 'WaitForFirstConsumer' : 'Immediate';
}

/** The volume as the status rules see it. */
export interface VolumeState {
  /** The PVC is Bound: its capacity is known. */
  bound: boolean;
  /**
   * The PVC exists and is Pending on a WaitForFirstConsumer class: it waits only for the first pod
   * that uses it, which is not a reason to wait (contract: "Binding modes").
   */
  waitsForConsumer: boolean;
  /** The PVC's phase, or undefined before it exists. */
  phase?: string;
}

/**
 * Derives {@link VolumeState} from the PVC and its class's binding mode (contract: "Binding
 * modes"; "Prepare starts only once the PVC is Bound (or exists, on a WaitForFirstConsumer
 * class)"). A PVC being deleted never counts as waiting for a consumer.
 */
export function volumeState(pvc: V1PersistentVolumeClaim | undefined, mode: BindingMode | undefined): VolumeState {
  const phase = pvc?.status?.phase ?? (pvc ? 'Pending' : undefined);
  const bound = phase === 'Bound';
  const waitsForConsumer = !!pvc && !pvc.metadata?.deletionTimestamp && phase === 'Pending' && mode === 'WaitForFirstConsumer';
  return { bound, waitsForConsumer, phase };
}

/**
 * The words the status uses for a volume waiting for its first consumer (contract: "the status
 * says the volume binds with it", "the Ready condition's message says so"), e.g.
 * `PersistentVolumeClaim model-cache binds when its first consumer is scheduled (StorageClass
 * local-path: WaitForFirstConsumer)`.
 */
export function firstConsumerNote(claim: string, storageClass: string): string {
  return `PersistentVolumeClaim ${claim} binds when its first consumer is scheduled (StorageClass ${storageClass}: WaitForFirstConsumer)`;
}

/**
 * When the PVC's bound capacity is below the requested size: `; resize to 30Gi pending (capacity
 * 20Gi: <the PVC's resize condition, if any>)`. The data stays usable meanwhile, so the storage
 * stays Ready; the note says why capacity lags (contract: size "may grow, never shrink").
 */
export function resizeNote(size: string, pvc: V1PersistentVolumeClaim | undefined): string | undefined {
  const want = parseQuantity(size);
  const have = parseQuantity(pvc?.status?.capacity?.storage ?? '');
  if (!want || !have || compareQuantities(want, have) <= 0) return undefined;
  const cond = pvc?.status?.conditions?.find((c) => c.status === 'True' && c.message);
  return `; resize to ${size} pending (capacity ${pvc?.status?.capacity?.storage}${cond ? `: ${cond.type}: ${cond.message}` : ', waiting for the volume to be expanded'})`;
}
