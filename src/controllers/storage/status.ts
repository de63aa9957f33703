/**
 * Pure status derivation for GPUStorage: from what the cluster shows (the storage, its PVC, the
 * current attempt's Job and pods, the clone source, the accessor Deployment) to the status the
 * storage should carry and the actions the reconciler should take. No I/O here; every rule is
 * unit-tested.
 *
 * Rules: ../shared/spec/contract.md ("GPUStorage"), ../shared/spec/controller-runtime-notes.md
 * ("Lessons from systems that seed and clone volumes"):
 * - an outcome recorded for the current digest is final: a vanished Job never re-runs it;
 * - Failed is terminal until recover (a new nonce, hence a new digest);
 * - the failure's reason, exit code and termination message are copied into status.
 */
import type { V1Deployment, V1Job, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { ANNOTATIONS, DEFAULT_STORAGE_CLASS } from '../../api/constants';
import { currentDigest, recoveryNonce } from '../../api/digest';
import { prepareJobName } from '../../api/naming';
import type { Condition, GPUStorage, GPUStorageStatus, PrepareFailure, PrepareStatus, StoragePhase } from '../../api/types';
import { FINAL_PHASES, nextPrepareHistory } from './prepare-history';
import { planAccessor } from './accessor-status';
import { condition, mergeConditions } from './conditions';
import { failureMessage, podFailure, podWaitingReason } from './job-status';
import { jobOutcome } from '../../api/job';
import { COPY_PLACEMENT_ANNOTATION, copyPlacement, placementNote, type CopyPlacement, type VolumeConsumer } from './placement';
import { firstConsumerNote, resizeNote, volumeState, type BindingMode, type VolumeState } from './volume';

export { mergeConditions } from './conditions';
export { podWaitingReason } from './job-status';
export { resizeNote } from './volume';

/** What the reconciler saw of a clone's source. */
export interface SourceObservation {
  /** The source storage, when it exists. */
  storage?: GPUStorage;
  /** The chain of names when following fromStorageName leads back here, e.g. [a, b, a]. */
  cycle?: string[];
  /** A running unit that mounts the source read-write: the clone waits for it. */
  blockingUnit?: string;
  /** Pods that hold the source's PVC on a node (its accessor, read-only units): the copy goes there. */
  consumers?: VolumeConsumer[];
}

/** Everything {@link planStorage} needs, read from the informer caches. */
export interface StorageObservation {
  storage: GPUStorage;
  pvc?: V1PersistentVolumeClaim;
  /**
   * The `volumeBindingMode` of the PVC's StorageClass (from the StorageClass cache); undefined is
   * Immediate (contract: "Binding modes").
   */
  bindingMode?: BindingMode;
  /** The Job of the current digest, if it exists. */
  job?: V1Job;
  /** Pods of that Job. */
  jobPods?: V1Pod[];
  /**
   * Every prepare Job of an earlier digest that still exists, and whether it is still active (it
   * holds the volume: the next attempt waits for it). Attempts are never fewer than the Jobs that
   * exist, so an attempt whose status write was lost (a recover landed first) is still counted.
   */
  earlierJobs?: { name: string; active: boolean }[];
  /**
   * When this process first saw a pod of the current Job run (epoch ms), if it has: the start of
   * the {@link RUNNING_REPORT_DELAY_MS} window. Absent, a running pod is reported at once.
   */
  jobRunningSeenAt?: number;
  source?: SourceObservation;
  accessor?: V1Deployment;
  /** RFC 3339 now. */
  now: string;
}

export interface StorageEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** The reconciler's marching orders. */
export interface StoragePlan {
  status: GPUStorageStatus;
  /** The current digest (undefined without a prepare contract). */
  digest?: string;
  /** Create the Job for the current digest. */
  startJob: boolean;
  /** With startJob for a clone: pin the copy Job to this node (contract: clone placement). */
  placement?: CopyPlacement;
  /** Accessor Deployment/Service: absent, or present with this many replicas. */
  accessor: { present: false } | { present: true; replicas: 0 | 1 };
  events: StorageEvent[];
  /** Reconcile again after this many ms even if nothing changes (a bounded wait), if set. */
  requeueAfterMs?: number;
}

/**
 * How long a failed attempt waits for its failed pod's terminated state to reach the cache (pods
 * and Jobs arrive through separate watches) before the failure, which is final, is recorded
 * without the exit code and termination message. In ms.
 */
export const POD_FAILURE_GRACE_MS = 10_000;

/**
 * How long a prepare pod that has started running is reported as still Pending, in ms: a Job that
 * finishes within it goes Pending → Succeeded in one status write instead of two (issue 13: "never
 * two writes where one carries the change"; a seed that runs longer shows Running this much late).
 * The reconcile that holds the write requeues itself for the end of the window.
 */
export const RUNNING_REPORT_DELAY_MS = 1500;

/**
 * Derives the prepare status of the current attempt and whether to start its Job.
 * `prev` is the status the storage carries now.
 */
function planPrepare(
  obs: StorageObservation,
  digest: string,
  vol: VolumeState,
): { prepare: PrepareStatus; startJob: boolean; placement?: CopyPlacement; events: StorageEvent[]; requeueAfterMs?: number } {
  const { storage, now } = obs;
  const name = storage.metadata.name!;
  const prev = storage.status?.prepare;
  // While the volume waits for its first consumer, the Pending messages say it binds with the Job.
  const binds = vol.waitsForConsumer ? `; ${firstConsumerNote(name, storage.spec.storageClassName ?? DEFAULT_STORAGE_CLASS)}` : '';
  const nonce = recoveryNonce(storage);
  const jobName = prepareJobName(name, digest);
  const sameAttempt = prev?.observedDigest === digest;
  const events: StorageEvent[] = [];
  // Attempts: as recorded, and never fewer than the prepare Jobs that exist (one per attempt), so
  // an attempt whose status write was lost is counted; finished Jobs expire (TTL), the record stays.
  const jobsExisting = (obs.earlierJobs?.length ?? 0) + (obs.job ? 1 : 0);
  const base: PrepareStatus = {
    phase: 'Pending',
    jobName: sameAttempt ? prev?.jobName : undefined,
    observedDigest: digest,
    recoveryPhase: 'None',
    attempts: Math.max(prev?.attempts ?? 0, jobsExisting),
    startTime: sameAttempt ? prev?.startTime : undefined,
    completionTime: sameAttempt ? prev?.completionTime : undefined,
    sourceUID: prev?.sourceUID,
    lastFailure: prev?.lastFailure,
  };
  const withRecovery = (p: PrepareStatus): PrepareStatus => ({
    ...p,
    recoveryPhase:
      p.phase === 'Failed' ? 'Required' : nonce ? (p.phase === 'Succeeded' ? 'Succeeded' : 'Running') : 'None',
  });
  const fail = (reason: string, message: string, extra: Partial<PrepareFailure> = {}): PrepareStatus => {
    const lastFailure: PrepareFailure = { reason, message, time: now, ...extra };
    if (!(sameAttempt && prev?.phase === 'Failed')) {
      events.push({ type: 'Warning', reason: 'PrepareFailed', message });
    }
    return withRecovery({ ...base, phase: 'Failed', message, completionTime: base.completionTime ?? now, lastFailure });
  };

  // A recorded outcome for this digest is final (never re-run a vanished Job, never flap) — as
  // long as the attempt's Job, while it still exists, says the same (a status edited by hand is
  // corrected from the Job).
  const outcome = obs.job ? jobOutcome(obs.job) : undefined;
  const jobAgrees = !obs.job || (outcome?.done === 'succeeded' ? 'Succeeded' : outcome?.done === 'failed' ? 'Failed' : undefined) === prev?.phase;
  if (sameAttempt && prev && FINAL_PHASES.has(prev.phase) && jobAgrees) {
    return { prepare: withRecovery({ ...base, phase: prev.phase, message: prev.message, lastFailure: prev.lastFailure }), startJob: false, events };
  }

  // The attempt's Job exists: its conditions and pods tell the phase.
  if (obs.job) {
    const pods = obs.jobPods ?? [];
    // Where the copy Job was pinned (recorded on the Job when it was created) stays in the messages.
    const pinned = obs.job.metadata?.annotations?.[COPY_PLACEMENT_ANNOTATION];
    const where = pinned ? `; ${pinned}` : '';
    // The status may not have recorded this Job yet (its write lost a race): count the attempt now.
    const recorded = sameAttempt && prev?.jobName === jobName;
    const created = obs.job.metadata?.creationTimestamp;
    const started = {
      ...base,
      jobName,
      attempts: Math.max((prev?.attempts ?? 0) + (recorded ? 0 : 1), jobsExisting),
      startTime: base.startTime ?? (created ? new Date(created).toISOString() : now),
    };
    if (outcome?.done === 'succeeded') {
      events.push({ type: 'Normal', reason: 'PrepareSucceeded', message: `prepare job ${jobName} succeeded` });
      return {
        prepare: withRecovery({ ...started, phase: 'Succeeded', message: `prepare job ${jobName} succeeded`, completionTime: now }),
        startJob: false,
        events,
      };
    }
    if (outcome?.done === 'failed') {
      const pod = podFailure(pods);
      // A pod failed (backoffLimit 0), but this cache has not seen it terminated yet: wait a
      // moment, so the final failure carries the exit code and the termination message.
      const since = obs.job.status?.conditions?.find((c) => c.type === 'Failed' || c.type === 'FailureTarget')?.lastTransitionTime;
      const failedAt = since ? Date.parse(String(since)) : 0;
      if (!pod && outcome.reason === 'BackoffLimitExceeded' && Date.parse(now) - failedAt < POD_FAILURE_GRACE_MS) {
        return {
          prepare: withRecovery({ ...started, phase: 'Running', message: `prepare job ${jobName} failed; reading its pod's exit status` }),
          startJob: false,
          events,
          requeueAfterMs: 1000,
        };
      }
      const waiting = podWaitingReason(pods);
      let message = failureMessage(jobName, outcome.reason, outcome.message, pod);
      if (!pod && waiting) message += `; ${waiting}`;
      return {
        prepare: { ...fail(outcome.reason, message, { exitCode: pod?.exitCode, jobName }), jobName, attempts: started.attempts, startTime: started.startTime },
        startJob: false,
        events,
      };
    }
    // A pod that has run (Running, or already terminated while the Job controller has not yet
    // concluded) keeps the attempt Running: never flap back to Pending.
    const running = pods.some((p) => ['Running', 'Succeeded', 'Failed'].includes(p.status?.phase ?? '')) || prev?.phase === 'Running';
    if (running) {
      // A pod that has only just started: hold the Pending → Running write for a moment; a Job
      // that finishes in it is written once, as Succeeded.
      const heldFor = obs.jobRunningSeenAt === undefined ? 0 : RUNNING_REPORT_DELAY_MS - (Date.parse(now) - obs.jobRunningSeenAt);
      if (heldFor > 0 && recorded && prev?.phase === 'Pending') {
        return { prepare: withRecovery({ ...started, phase: 'Pending', message: prev.message }), startJob: false, events, requeueAfterMs: Math.min(heldFor, RUNNING_REPORT_DELAY_MS) };
      }
      return { prepare: withRecovery({ ...started, phase: 'Running', message: `prepare job ${jobName} is running${where}` }), startJob: false, events };
    }
    const waiting = podWaitingReason(pods);
    return {
      prepare: withRecovery({
        ...started,
        phase: 'Pending',
        message: (waiting ? `prepare job ${jobName} is waiting: ${waiting}` : `prepare job ${jobName} created, waiting for its pod to start`) + where + binds,
      }),
      startJob: false,
      events,
    };
  }

  // The Job was created for this digest but is gone before it finished (deleted by hand).
  if (sameAttempt && prev?.jobName === jobName && prev.startTime) {
    return {
      prepare: { ...fail('JobDeleted', `prepare job ${jobName} was deleted before it finished; recover to start a new attempt`, { jobName }), jobName },
      startJob: false,
      events,
    };
  }

  // Gates before a Job may start.
  const pending = (message: string): { prepare: PrepareStatus; startJob: boolean; events: StorageEvent[] } => ({
    prepare: withRecovery({ ...base, phase: 'Pending', jobName: undefined, message }),
    startJob: false,
    events,
  });
  // On a WaitForFirstConsumer class a Pending PVC is no reason to wait: the Job's pod is the
  // first consumer (contract: "Binding modes").
  if (!vol.bound && !vol.waitsForConsumer) {
    return pending(`waiting for PersistentVolumeClaim ${storage.metadata.name} to be bound (${vol.phase ?? 'not created yet'})`);
  }
  const olderJobActive = obs.earlierJobs?.find((j) => j.active)?.name;
  if (olderJobActive) {
    return pending(`waiting for the earlier prepare job ${olderJobActive} to stop`);
  }
  const fromStorage = storage.spec.prepare?.fromStorageName;
  if (fromStorage) {
    const src = obs.source ?? {};
    if (src.cycle) {
      return { prepare: fail('CloneCycle', `clone cycle: ${src.cycle.join(' → ')}; a storage cannot be prepared from itself`), startJob: false, events };
    }
    // Seen by an earlier reconcile, or vouched for by the API when the clone was created.
    const seenUID = prev?.sourceUID ?? storage.metadata.annotations?.[ANNOTATIONS.cloneSourceUID];
    const srcStorage = src.storage;
    if (!srcStorage || srcStorage.metadata.deletionTimestamp || (seenUID && srcStorage.metadata.uid !== seenUID)) {
      if (seenUID) {
        return { prepare: fail('SourceDeleted', `source storage ${fromStorage} was deleted before the clone could finish`), startJob: false, events };
      }
      return pending(`waiting for source storage ${fromStorage} to exist`);
    }
    base.sourceUID = srcStorage.metadata.uid;
    if (srcStorage.status?.phase !== 'Ready') {
      const why = srcStorage.status?.conditions?.find((c) => c.type === 'Ready')?.message;
      return pending(`waiting for source storage ${fromStorage} to be Ready (phase ${srcStorage.status?.phase ?? 'Pending'}${why ? `: ${why}` : ''})`);
    }
    if (src.blockingUnit) {
      return pending(`SourceInUse: waiting for unit ${src.blockingUnit} to stop mounting source storage ${fromStorage} read-write`);
    }
  }

  // A clone's copy goes where the source volume is attached (contract: clone placement).
  const placement = fromStorage ? copyPlacement(fromStorage, obs.source?.consumers ?? []) : undefined;
  return {
    prepare: withRecovery({
      ...base,
      phase: 'Pending',
      jobName,
      attempts: (base.attempts ?? 0) + 1,
      startTime: now,
      completionTime: undefined,
      message: `prepare job ${jobName} created, waiting for its pod to start${placement ? `; ${placementNote(placement)}` : ''}${binds}`,
    }),
    startJob: true,
    ...(placement ? { placement } : {}),
    events,
  };
}


/**
 * Derives the whole status of a storage and the actions to take.
 * Overall phase (contract, "GPUStorage" status and "Binding modes"): Pending until the PVC is
 * Bound, or on a WaitForFirstConsumer class until it waits only for its first consumer; Failed
 * when the prepare attempt failed; Pending while prepare or an enabled accessor is not ready;
 * otherwise Ready (on a WaitForFirstConsumer class with the PVC still unbound, the Ready message
 * says it binds with its first consumer and `capacity` stays empty).
 */
export function planStorage(obs: StorageObservation): StoragePlan {
  const { storage, pvc, now } = obs;
  const name = storage.metadata.name!;
  const prev = storage.status;
  const vol = volumeState(pvc, obs.bindingMode);
  const pvcPhase = vol.phase;
  const pvcBound = vol.bound;
  const volumeUsable = vol.bound || vol.waitsForConsumer;
  const digest = currentDigest(storage);
  const events: StorageEvent[] = [];

  let prepare: PrepareStatus;
  let startJob = false;
  let placement: CopyPlacement | undefined;
  let requeueAfterMs: number | undefined;
  if (!digest) {
    prepare = { phase: 'NotRequested', recoveryPhase: 'None' };
  } else {
    const p = planPrepare(obs, digest, vol);
    const history = nextPrepareHistory(obs.storage.status?.prepare?.history, p.prepare);
    prepare = { ...p.prepare, ...(history ? { history } : {}) };
    startJob = p.startJob;
    placement = p.placement;
    requeueAfterMs = p.requeueAfterMs;
    events.push(...p.events);
  }
  const prepareReady = prepare.phase === 'Succeeded' || prepare.phase === 'NotRequested';
  const prepareBusy = prepare.phase === 'Pending' || prepare.phase === 'Running';
  const acc = planAccessor(obs, prepareReady && volumeUsable, prepareBusy);

  // Conditions and overall phase.
  let phase: StoragePhase;
  let ready: Omit<Condition, 'lastTransitionTime'>;
  if (pvcPhase === 'Lost') {
    phase = 'Failed';
    ready = condition('Ready', false, 'StorageClaimLost', `PersistentVolumeClaim ${name} lost its volume`);
  } else if (prepare.phase === 'Failed') {
    phase = 'Failed';
    ready = condition('Ready', false, 'StoragePrepareFailed', prepare.message ?? 'prepare failed');
  } else if (!volumeUsable) {
    phase = 'Pending';
    ready = condition('Ready', false, 'StoragePending', `waiting for PersistentVolumeClaim ${name} to be bound (${pvcPhase ?? 'not created yet'})`);
  } else if (prepare.phase === 'Pending') {
    phase = 'Pending';
    ready = condition('Ready', false, 'StoragePreparePending', prepare.message ?? 'prepare pending');
  } else if (prepare.phase === 'Running') {
    phase = 'Pending';
    ready = condition('Ready', false, 'StoragePrepareRunning', prepare.message ?? 'prepare running');
  } else if (acc.status.phase === 'Pending' || acc.status.phase === 'Failed') {
    phase = 'Pending';
    ready = condition('Ready', false, acc.status.phase === 'Failed' ? 'StorageAccessorFailed' : 'StorageAccessorPending', acc.status.message ?? '');
  } else {
    phase = 'Ready';
    const binds = vol.waitsForConsumer
      ? `; ${firstConsumerNote(name, storage.spec.storageClassName ?? DEFAULT_STORAGE_CLASS)}: the first unit that mounts it binds it, capacity is reported then`
      : '';
    ready = condition('Ready', true, 'StorageReady', `storage is ready${binds}${resizeNote(storage.spec.size, pvc) ?? ''}`);
  }

  const prepared =
    prepare.phase === 'Succeeded' || prepare.phase === 'NotRequested'
      ? condition('Prepared', true, 'StoragePrepareReady', prepare.phase === 'NotRequested' ? 'no prepare contract' : prepare.message ?? 'prepared')
      : prepare.phase === 'Failed'
        ? condition('Prepared', false, 'StoragePrepareFailed', prepare.message ?? 'prepare failed')
        : prepare.phase === 'Running'
          ? condition('Prepared', false, 'StoragePrepareRunning', prepare.message ?? '')
          : condition('Prepared', false, 'StoragePreparePending', prepare.message ?? '');
  const conds: Omit<Condition, 'lastTransitionTime'>[] = [ready, prepared];
  if (acc.status.phase !== 'Disabled') {
    conds.push(
      acc.status.phase === 'Ready'
        ? condition('AccessorReady', true, 'StorageAccessorReady', acc.status.message ?? '')
        : condition('AccessorReady', false, acc.status.phase === 'Failed' ? 'StorageAccessorFailed' : 'StorageAccessorPending', acc.status.message ?? ''),
    );
  }

  const generation = storage.metadata.generation;
  const status: GPUStorageStatus = {
    claimName: name,
    capacity: pvcBound ? pvc?.status?.capacity?.storage : undefined,
    phase,
    observedGeneration: generation,
    lastSyncTime: prev?.lastSyncTime,
    prepare,
    accessor: acc.status,
    conditions: mergeConditions(prev?.conditions, conds, generation, now),
  };
  return { status, digest, startJob, ...(placement ? { placement } : {}), accessor: acc.desired, events, ...(requeueAfterMs ? { requeueAfterMs } : {}) };
}
