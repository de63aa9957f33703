/**
 * Pure status derivation for GPUUnit: from what the cluster shows (the unit, its Deployment and
 * pods, the storages it mounts) to the status the unit should carry and the replicas its
 * Deployment should have. No I/O; every rule is unit-tested (test/unit/unit-status.test.ts).
 *
 * Rules: ../shared/spec/contract.md ("GPUUnit"):
 * - phase `Ready` / `Progressing` / `Failed` / `Empty`; one condition `Ready`;
 * - an active unit waits (Progressing, reason StorageNotReady, the message naming the storage)
 *   until every mounted storage is Ready; while it waits its Deployment has 0 replicas, so no pod
 *   holds the GPU or the volume;
 * - pod failures (image pull, crash loop, …) are stated in the message (reason UnitPodFailed).
 *
 * Condition reasons: UnitReady, UnitProgressing, StorageNotReady, UnitPodFailed, UnitNoImage.
 */
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { unitDeploymentName } from '../../api/naming';
import type { Condition, GPUStorage, GPUUnit, GPUUnitStatus, UnitPhase } from '../../api/types';
import { mergeConditions } from '../storage/status';
import { isStock } from '../../api/units';
import { unitAccess } from './children';

/** Everything {@link planUnit} needs, read from the informer caches. */
export interface UnitObservation {
  unit: GPUUnit;
  /** The live Deployment `unit-<name>`, if it exists. */
  deployment?: V1Deployment;
  /** The unit's pods (label runtime.lokiwager.io/unit=<name> in the unit's namespace). */
  pods?: V1Pod[];
  /** Each mounted storage by name; undefined when it does not exist. */
  storages?: Record<string, GPUStorage | undefined>;
  /** RFC 3339 now. */
  now: string;
}

/** The reconciler's marching orders. */
export interface UnitPlan {
  status: GPUUnitStatus;
  /** Replicas of the Deployment `unit-<name>`; undefined: no Deployment is wanted (phase Empty). */
  replicas?: 0 | 1;
}

/** Container waiting reasons a kubelet reports for a pod that will not start by itself. */
export const FAILING_WAIT_REASONS = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

/**
 * Whether the storages an active unit mounts let it run.
 *
 * A storage opens the gate when its phase is Ready, never waiting for Bound (contract, "Binding
 * modes": on a WaitForFirstConsumer class a storage is Ready with its PVC unbound, and this unit is
 * its first consumer). Once the unit runs (`running`: its Deployment
 * already has a replica), the gate stays open while each storage still exists, its PVC is bound
 * (status.capacity) and its data is in place (prepare NotRequested or Succeeded): a storage that
 * drops to Pending only because its accessor restarts must not stop a running workload.
 *
 * @returns undefined when every storage lets the unit run, else the first blocking storage with a
 *   message naming it, e.g. `waiting for storage model-cache: Pending (prepare job … running)`.
 */
export function storageBlocker(unit: GPUUnit, storages: Record<string, GPUStorage | undefined>, running: boolean): { storage: string; message: string } | undefined {
  const ns = unit.metadata.namespace;
  for (const m of unit.spec.storageMounts ?? []) {
    const s = storages[m.name];
    if (!s || s.metadata.deletionTimestamp) {
      return { storage: m.name, message: `waiting for storage ${m.name}: GPUStorage ${ns}/${m.name} does not exist` };
    }
    const phase = s.status?.phase ?? 'Pending';
    if (phase === 'Ready') continue;
    const prepare = s.status?.prepare?.phase ?? (s.spec.prepare ? 'Pending' : 'NotRequested');
    const dataInPlace = !!s.status?.capacity && (prepare === 'NotRequested' || prepare === 'Succeeded');
    if (running && phase !== 'Failed' && dataInPlace) continue;
    const why = s.status?.conditions?.find((c) => c.type === 'Ready')?.message;
    return { storage: m.name, message: `waiting for storage ${m.name}: it is ${phase}${why ? ` (${why})` : ''}` };
  }
  return undefined;
}

/**
 * The first pod failure worth stating: a container waiting for a reason in
 * {@link FAILING_WAIT_REASONS}, or a pod that ended Failed. Message: `pod <name>: <reason>: <message>`.
 */
export function podFailure(pods: V1Pod[]): { reason: string; message: string } | undefined {
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp) continue;
    const name = pod.metadata?.name ?? '';
    for (const cs of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
      const w = cs.state?.waiting;
      if (w?.reason && FAILING_WAIT_REASONS.has(w.reason)) {
        const last = cs.lastState?.terminated;
        const exit = last ? `; last exit code ${last.exitCode}${last.reason ? ` (${last.reason})` : ''}${last.message ? `: ${last.message.trim()}` : ''}` : '';
        return { reason: w.reason, message: `pod ${name}: ${w.reason}${w.message ? `: ${w.message}` : ''}${exit}` };
      }
    }
    if (pod.status?.phase === 'Failed') {
      const reason = pod.status.reason ?? 'Failed';
      return { reason, message: `pod ${name} failed: ${reason}${pod.status.message ? `: ${pod.status.message}` : ''}` };
    }
  }
  return undefined;
}

/** Why no pod is scheduled yet (PodScheduled=False), e.g. `pod x is not scheduled: Unschedulable: 0/4 nodes …`. */
export function schedulingProblem(pods: V1Pod[]): string | undefined {
  for (const pod of pods) {
    const c = pod.status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'False');
    if (c) return `pod ${pod.metadata?.name} is not scheduled: ${c.reason ?? ''}${c.message ? `: ${c.message}` : ''}`;
  }
  return undefined;
}

/**
 * True when the Deployment has rolled out the current template and has a ready replica:
 * observedGeneration caught up, an updated replica, and readyReplicas ≥ 1.
 */
export function deploymentAvailable(d: V1Deployment | undefined): boolean {
  if (!d) return false;
  const s = d.status ?? {};
  const current = (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
  return current && (d.spec?.replicas ?? 1) >= 1 && (s.updatedReplicas ?? 0) >= 1 && (s.readyReplicas ?? 0) >= 1 && (s.unavailableReplicas ?? 0) === 0;
}

/**
 * Plans a unit's status and Deployment replicas.
 *
 * Order of the rules (the first that applies decides the phase):
 * 1. an active unit without an image has nothing to run → Empty (UnitNoImage), no Deployment;
 * 2. an active unit whose storage does not let it run → Progressing (StorageNotReady), 0 replicas;
 * 3. the Deployment is available → Ready (UnitReady);
 * 4. a pod failure → Failed (UnitPodFailed), the message stating the kubelet's reason;
 * 5. otherwise Progressing (UnitProgressing) with what is awaited (creation, scheduling, rollout).
 *
 * The `lastSyncTime` field is left for the reconciler to stamp when it writes.
 */
export function planUnit(obs: UnitObservation): UnitPlan {
  const { unit, deployment, now } = obs;
  const pods = (obs.pods ?? []).filter((p) => !p.metadata?.deletionTimestamp);
  const stock = isStock(unit);
  const depName = unitDeploymentName(unit.metadata.name!);
  const readyReplicas = deployment?.status?.readyReplicas ?? 0;
  let phase: UnitPhase;
  let reason: string;
  let message: string;
  let replicas: 0 | 1 | undefined = 1;

  const blocker = stock ? undefined : storageBlocker(unit, obs.storages ?? {}, (deployment?.spec?.replicas ?? 0) > 0);
  const failure = podFailure(pods);
  if (!stock && !unit.spec.image) {
    phase = 'Empty';
    reason = 'UnitNoImage';
    message = 'the unit has no image, so there is nothing to run';
    replicas = undefined;
  } else if (blocker) {
    phase = 'Progressing';
    reason = 'StorageNotReady';
    message = `${blocker.message}; the runtime starts once every mounted storage is Ready`;
    replicas = 0;
  } else if (deploymentAvailable(deployment)) {
    phase = 'Ready';
    reason = 'UnitReady';
    message = stock ? `reservation Deployment ${depName} is available` : `Deployment ${depName} is available (${readyReplicas} ready)`;
  } else if (failure) {
    phase = 'Failed';
    reason = 'UnitPodFailed';
    message = failure.message;
  } else {
    phase = 'Progressing';
    reason = 'UnitProgressing';
    if (!deployment) message = `creating Deployment ${depName}`;
    else message = schedulingProblem(pods) ?? `waiting for Deployment ${depName} to become available (${readyReplicas}/1 ready)`;
  }

  const conds: Omit<Condition, 'lastTransitionTime'>[] = [{ type: 'Ready', status: phase === 'Ready' ? 'True' : 'False', reason, message }];
  const status: GPUUnitStatus = {
    readyReplicas,
    phase,
    observedGeneration: unit.metadata.generation,
    ...(phase === 'Empty' ? {} : unitAccess(unit)),
    conditions: mergeConditions(unit.status?.conditions, conds, unit.metadata.generation, now),
  };
  if (unit.status?.lastSyncTime) status.lastSyncTime = unit.status.lastSyncTime;
  return { status, replicas };
}
