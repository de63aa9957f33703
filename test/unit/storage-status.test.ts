import { describe, expect, it } from 'vitest';
import type { V1Deployment, V1Job, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { currentDigest } from '../../src/api/digest';
import { nextPrepareHistory } from '../../src/controllers/storage/prepare-history';
import { planStorage, POD_FAILURE_GRACE_MS, RUNNING_REPORT_DELAY_MS, type StorageObservation } from '../../src/controllers/storage/status';
import { prepareJobName } from '../../src/api/naming';
import type { GPUStorage, GPUStorageStatus, PrepareStatus } from '../../src/api/types';

const NOW = '2026-11-30T10:00:00.000Z';

function storage(over: Partial<GPUStorage['spec']> = {}, status?: GPUStorageStatus, annotations?: Record<string, string>): GPUStorage {
  return {
    apiVersion: 'runtime.lokiwager.io/v1alpha1',
    kind: 'GPUStorage',
    metadata: { name: 'model-cache', namespace: 'runtime-instance', uid: 'uid-1', generation: 3, annotations },
    spec: { size: '20Gi', ...over },
    status,
  };
}

const imagePrepare = { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: ['echo seeded'] };
const bound: V1PersistentVolumeClaim = { status: { phase: 'Bound', capacity: { storage: '20Gi' } } };
const pendingPVC: V1PersistentVolumeClaim = { status: { phase: 'Pending' } };

function job(conditions: { type: string; reason?: string; message?: string }[] = [], active = 0): V1Job {
  return {
    metadata: { name: 'j', creationTimestamp: new Date('2026-11-30T09:59:00Z') },
    status: { active, conditions: conditions.map((c) => ({ ...c, status: 'True' })) },
  };
}

function pod(phase: string, terminated?: { exitCode: number; reason?: string; message?: string }, waiting?: { reason: string; message?: string }): V1Pod {
  return {
    metadata: { name: 'p', creationTimestamp: new Date('2026-11-30T09:59:01Z') },
    status: {
      phase,
      containerStatuses: [
        {
          name: 'prepare',
          image: 'x',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: terminated ? { terminated } : waiting ? { waiting } : { running: {} },
        },
      ],
    },
  };
}

function plan(obs: Partial<StorageObservation> & { storage: GPUStorage }) {
  return planStorage({ now: NOW, ...obs });
}

function cond(status: GPUStorageStatus, type: string) {
  return status.conditions?.find((c) => c.type === type);
}

describe('planStorage: no prepare contract', () => {
  it('is Pending until the PVC is bound, then Ready', () => {
    const p1 = plan({ storage: storage(), pvc: pendingPVC });
    expect(p1.status.phase).toBe('Pending');
    expect(cond(p1.status, 'Ready')).toMatchObject({ status: 'False', reason: 'StoragePending' });
    expect(p1.status.prepare).toEqual({ phase: 'NotRequested', recoveryPhase: 'None' });
    expect(p1.startJob).toBe(false);

    const p2 = plan({ storage: storage(), pvc: bound });
    expect(p2.status.phase).toBe('Ready');
    expect(p2.status.capacity).toBe('20Gi');
    expect(p2.status.claimName).toBe('model-cache');
    expect(p2.status.observedGeneration).toBe(3);
    expect(cond(p2.status, 'Ready')).toMatchObject({ status: 'True', reason: 'StorageReady', observedGeneration: 3 });
    expect(cond(p2.status, 'Prepared')).toMatchObject({ status: 'True', reason: 'StoragePrepareReady' });
    expect(cond(p2.status, 'AccessorReady')).toBeUndefined();
  });

  it('is Failed when the claim is lost', () => {
    const p = plan({ storage: storage(), pvc: { status: { phase: 'Lost' } } });
    expect(p.status.phase).toBe('Failed');
    expect(cond(p.status, 'Ready')?.reason).toBe('StorageClaimLost');
  });
});

describe('planStorage: prepare from image', () => {
  const s = storage({ prepare: imagePrepare });
  const digest = currentDigest(s)!;
  const jobName = prepareJobName('model-cache', digest);

  it('waits for the PVC before starting a Job', () => {
    const p = plan({ storage: s, pvc: pendingPVC });
    expect(p.startJob).toBe(false);
    expect(p.status.prepare?.phase).toBe('Pending');
    expect(p.status.prepare?.message).toMatch(/PersistentVolumeClaim model-cache to be bound/);
    expect(p.status.phase).toBe('Pending');
  });

  it('starts the Job once the PVC is bound and records the attempt', () => {
    const p = plan({ storage: s, pvc: bound });
    expect(p.startJob).toBe(true);
    expect(p.digest).toBe(digest);
    expect(p.status.prepare).toMatchObject({ phase: 'Pending', jobName, observedDigest: digest, attempts: 1, recoveryPhase: 'None', startTime: NOW });
    expect(p.events).toEqual([]); // PrepareStarted is recorded by the reconciler once the Job exists
    expect(cond(p.status, 'Ready')?.reason).toBe('StoragePreparePending');
  });

  const started: GPUStorageStatus = { prepare: { phase: 'Pending', jobName, observedDigest: digest, attempts: 1, recoveryPhase: 'None', startTime: NOW } };

  it('is Running while the pod runs', () => {
    const p = plan({ storage: storage({ prepare: imagePrepare }, started), pvc: bound, job: job([], 1), jobPods: [pod('Running')] });
    expect(p.status.prepare?.phase).toBe('Running');
    expect(p.status.phase).toBe('Pending');
    expect(cond(p.status, 'Ready')?.reason).toBe('StoragePrepareRunning');
    expect(cond(p.status, 'Prepared')?.reason).toBe('StoragePrepareRunning');
    expect(p.startJob).toBe(false);
    expect(p.status.prepare?.attempts).toBe(1);
  });

  it('holds the Running write for RUNNING_REPORT_DELAY_MS after the pod is first seen running, then writes it', () => {
    const s1 = storage({ prepare: imagePrepare }, { ...started, prepare: { ...started.prepare!, message: `prepare job ${jobName} created, waiting for its pod to start` } });
    const waiting = plan({ storage: s1, pvc: bound, job: job([], 1), jobPods: [pod('Pending')] });
    const seen = Date.parse(NOW) - 500;
    const held = plan({ storage: s1, pvc: bound, job: job([], 1), jobPods: [pod('Running')], jobRunningSeenAt: seen });
    // The same status as before the pod ran (so the reconcile writes nothing), and a requeue for the window's end.
    expect(held.status).toEqual(waiting.status);
    expect(held.requeueAfterMs).toBe(RUNNING_REPORT_DELAY_MS - 500);
    const late = plan({ storage: s1, pvc: bound, job: job([], 1), jobPods: [pod('Running')], jobRunningSeenAt: Date.parse(NOW) - RUNNING_REPORT_DELAY_MS });
    expect(late.status.prepare?.phase).toBe('Running');
    expect(late.requeueAfterMs).toBeUndefined();
    // A Job that completes inside the window goes straight to Succeeded.
    const done = plan({ storage: s1, pvc: bound, job: job([{ type: 'Complete' }]), jobPods: [pod('Succeeded', { exitCode: 0 })], jobRunningSeenAt: seen });
    expect(done.status.prepare?.phase).toBe('Succeeded');
    // Never a flap back: once Running is written, a later reconcile in the window keeps it.
    const s2 = storage({ prepare: imagePrepare }, { ...started, prepare: { ...started.prepare!, phase: 'Running' } });
    expect(plan({ storage: s2, pvc: bound, job: job([], 1), jobPods: [pod('Running')], jobRunningSeenAt: seen }).status.prepare?.phase).toBe('Running');
  });

  it('says why the pod waits (image pull)', () => {
    const p = plan({ storage: storage({ prepare: imagePrepare }, started), pvc: bound, job: job(), jobPods: [pod('Pending', undefined, { reason: 'ErrImagePull', message: 'not found' })] });
    expect(p.status.prepare?.phase).toBe('Pending');
    expect(p.status.prepare?.message).toMatch(/ErrImagePull: not found/);
  });

  it('is Succeeded and Ready when the Job completes', () => {
    const p = plan({ storage: storage({ prepare: imagePrepare }, started), pvc: bound, job: job([{ type: 'Complete' }]), jobPods: [pod('Succeeded', { exitCode: 0 })] });
    expect(p.status.prepare?.phase).toBe('Succeeded');
    expect(p.status.phase).toBe('Ready');
    expect(p.events.map((e) => e.reason)).toEqual(['PrepareSucceeded']);
  });

  it('states a failure plainly: job reason, exit code, termination message; recovery required', () => {
    const p = plan({
      storage: storage({ prepare: imagePrepare }, started),
      pvc: bound,
      job: job([{ type: 'Failed', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }]),
      jobPods: [pod('Failed', { exitCode: 3, reason: 'Error', message: 'disk full' })],
    });
    expect(p.status.phase).toBe('Failed');
    expect(p.status.prepare?.phase).toBe('Failed');
    expect(p.status.prepare?.recoveryPhase).toBe('Required');
    const msg = cond(p.status, 'Ready')!.message;
    expect(cond(p.status, 'Ready')?.reason).toBe('StoragePrepareFailed');
    expect(msg).toContain('BackoffLimitExceeded');
    expect(msg).toContain('code 3');
    expect(msg).toContain('disk full');
    expect(msg).toMatch(/^prepare failed: container exited with code 3 \(Error\): disk full; job .*: BackoffLimitExceeded/);
    expect(p.status.prepare?.lastFailure).toMatchObject({ reason: 'BackoffLimitExceeded', exitCode: 3, jobName, time: NOW });
    expect(p.events.map((e) => e.type)).toEqual(['Warning']);
  });

  it('waits (bounded) for the failed pod to reach the cache before recording a final failure without its exit code', () => {
    const failedJob = (agoMs: number) =>
      job([{ type: 'Failed', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastTransitionTime: new Date(Date.parse(NOW) - agoMs) } as never]);
    const early = plan({ storage: storage({ prepare: imagePrepare }, started), pvc: bound, job: failedJob(2000), jobPods: [pod('Running')] });
    expect(early.status.prepare?.phase).toBe('Running');
    expect(early.status.phase).not.toBe('Failed');
    expect(early.requeueAfterMs).toBeGreaterThan(0);
    expect(early.events).toEqual([]);
    // Once the pod shows up terminated, the failure carries its exit code.
    const seen = plan({ storage: storage({ prepare: imagePrepare }, started), pvc: bound, job: failedJob(2500), jobPods: [pod('Failed', { exitCode: 1, message: 'boom' })] });
    expect(seen.status.prepare?.lastFailure).toMatchObject({ reason: 'BackoffLimitExceeded', exitCode: 1 });
    expect(seen.requeueAfterMs).toBeUndefined();
    // Past the grace period the failure is recorded as it is known.
    const late = plan({ storage: storage({ prepare: imagePrepare }, started), pvc: bound, job: failedJob(POD_FAILURE_GRACE_MS + 1000), jobPods: [] });
    expect(late.status.prepare?.phase).toBe('Failed');
    expect(late.status.prepare?.lastFailure?.exitCode).toBeUndefined();
    expect(late.requeueAfterMs).toBeUndefined();
  });

  it('reports a deadline with the pod waiting reason when no container ran', () => {
    const p = plan({
      storage: storage({ prepare: imagePrepare }, started),
      pvc: bound,
      job: job([{ type: 'Failed', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' }]),
      jobPods: [pod('Pending', undefined, { reason: 'ImagePullBackOff' })],
    });
    expect(p.status.prepare?.lastFailure?.reason).toBe('DeadlineExceeded');
    expect(p.status.prepare?.message).toMatch(/^prepare failed: job .*: DeadlineExceeded.*ImagePullBackOff/);
  });

  it('keeps a recorded outcome final: a vanished Job is never re-run, Failed never flaps', () => {
    const failed: GPUStorageStatus = {
      prepare: { ...started.prepare!, phase: 'Failed', recoveryPhase: 'Required', message: 'boom', lastFailure: { reason: 'BackoffLimitExceeded', message: 'boom', time: NOW } },
    };
    const p = plan({ storage: storage({ prepare: imagePrepare }, failed), pvc: bound });
    expect(p.startJob).toBe(false);
    expect(p.status.prepare?.phase).toBe('Failed');
    expect(p.status.phase).toBe('Failed');
    expect(p.events).toEqual([]);

    const ok: GPUStorageStatus = { prepare: { ...started.prepare!, phase: 'Succeeded' } };
    const q = plan({ storage: storage({ prepare: imagePrepare }, ok), pvc: bound });
    expect(q.startJob).toBe(false);
    expect(q.status.phase).toBe('Ready');
  });

  it('corrects a final phase edited by hand from the attempt\'s Job while it exists', () => {
    const forged: GPUStorageStatus = { prepare: { ...started.prepare!, phase: 'Succeeded' } };
    const p = plan({
      storage: storage({ prepare: imagePrepare }, forged),
      pvc: bound,
      job: job([{ type: 'Failed', reason: 'BackoffLimitExceeded', message: 'x' }]),
      jobPods: [pod('Failed', { exitCode: 1 })],
    });
    expect(p.status.prepare?.phase).toBe('Failed');
    expect(p.status.phase).toBe('Failed');
  });

  it('fails an attempt whose Job was deleted before it finished', () => {
    const p = plan({ storage: storage({ prepare: imagePrepare }, started), pvc: bound });
    expect(p.startJob).toBe(false);
    expect(p.status.prepare?.phase).toBe('Failed');
    expect(p.status.prepare?.lastFailure?.reason).toBe('JobDeleted');
  });

  it('starts a new attempt after recover (new nonce), keeping the last failure; recovery Running then Succeeded', () => {
    const failed: GPUStorageStatus = {
      prepare: { ...started.prepare!, phase: 'Failed', recoveryPhase: 'Required', lastFailure: { reason: 'BackoffLimitExceeded', message: 'boom', time: NOW } },
    };
    const recovering = storage({ prepare: imagePrepare }, failed, { 'runtime.lokiwager.io/storage-recovery-nonce': 'n1' });
    const p = plan({ storage: recovering, pvc: bound });
    expect(p.startJob).toBe(true);
    expect(p.digest).not.toBe(digest);
    expect(p.status.prepare).toMatchObject({ phase: 'Pending', recoveryPhase: 'Running', attempts: 2 });
    expect(p.status.prepare?.lastFailure?.reason).toBe('BackoffLimitExceeded');
    expect(p.status.prepare?.jobName).toBe(prepareJobName('model-cache', p.digest!));

    const after = storage({ prepare: imagePrepare }, p.status, { 'runtime.lokiwager.io/storage-recovery-nonce': 'n1' });
    const q = plan({ storage: after, pvc: bound, job: job([{ type: 'Complete' }]), jobPods: [] });
    expect(q.status.prepare).toMatchObject({ phase: 'Succeeded', recoveryPhase: 'Succeeded', attempts: 2 });
    expect(q.status.prepare?.lastFailure?.reason).toBe('BackoffLimitExceeded');
    expect(q.status.phase).toBe('Ready');
  });

  it('counts an attempt whose Job exists before the status recorded it', () => {
    const p = plan({ storage: s, pvc: bound, job: job([], 1), jobPods: [pod('Running')] });
    expect(p.status.prepare?.attempts).toBe(1);
    expect(p.status.prepare?.jobName).toBe(jobName);
  });

  it('counts an attempt whose status write was lost to a recover that landed first', () => {
    // The first reconcile wrote observedDigest (Pending, no Job yet); the Job was created, but its
    // status write lost the race with the recover's annotation.
    const pending: GPUStorageStatus = { prepare: { phase: 'Pending', observedDigest: digest, recoveryPhase: 'None', attempts: 0 } };
    const recovering = storage({ prepare: imagePrepare }, pending, { 'runtime.lokiwager.io/storage-recovery-nonce': 'n1' });
    const p = plan({ storage: recovering, pvc: bound, earlierJobs: [{ name: jobName, active: true }] });
    expect(p.startJob).toBe(false);
    expect(p.status.prepare?.attempts).toBe(1);
    // Counted once: the next reconciles see the same digest.
    const again = plan({ storage: storage({ prepare: imagePrepare }, p.status, { 'runtime.lokiwager.io/storage-recovery-nonce': 'n1' }), pvc: bound, earlierJobs: [{ name: jobName, active: false }] });
    expect(again.startJob).toBe(true);
    expect(again.status.prepare?.attempts).toBe(2);
    // A recorded earlier attempt (the status names its Job) and older ones are not counted again.
    const recorded = storage({ prepare: imagePrepare }, { prepare: { ...again.status.prepare!, phase: 'Failed' } }, { 'runtime.lokiwager.io/storage-recovery-nonce': 'n2' });
    const third = plan({ storage: recorded, pvc: bound, earlierJobs: [{ name: jobName, active: false }, { name: again.status.prepare!.jobName!, active: false }] });
    expect(third.status.prepare?.attempts).toBe(3);
  });

  it('counts an attempt whose Job already failed when first seen (its status write was lost in a handover)', () => {
    const failed: GPUStorageStatus = { prepare: { ...started.prepare!, phase: 'Failed', recoveryPhase: 'Required', attempts: 1 } };
    const recovering = storage({ prepare: imagePrepare }, failed, { 'runtime.lokiwager.io/storage-recovery-nonce': 'n9' });
    const p = plan({
      storage: recovering,
      pvc: bound,
      job: job([{ type: 'Failed', reason: 'BackoffLimitExceeded', message: 'x' }]),
      jobPods: [pod('Failed', { exitCode: 1 })],
      earlierJobs: [{ name: jobName, active: false }],
    });
    expect(p.status.prepare).toMatchObject({ phase: 'Failed', attempts: 2 });
  });

  it('never counts more attempts than Jobs were made: recovers while waiting (no Job) add none', () => {
    let status: GPUStorageStatus = { prepare: { ...started.prepare!, phase: 'Failed', recoveryPhase: 'Required', attempts: 1 } };
    for (const nonce of ['a', 'b', 'c', 'd']) {
      // Each recover lands while the earlier attempt's Job still runs: the new attempt waits.
      const p = plan({ storage: storage({ prepare: imagePrepare }, status, { 'runtime.lokiwager.io/storage-recovery-nonce': nonce }), pvc: bound, earlierJobs: [{ name: jobName, active: true }] });
      expect(p.startJob).toBe(false);
      status = p.status;
    }
    expect(status.prepare?.attempts).toBe(1);
  });

  it('waits while an earlier attempt still runs', () => {
    const p = plan({ storage: s, pvc: bound, earlierJobs: [{ name: 'storage-prepare-model-cache-000000000000', active: true }] });
    expect(p.startJob).toBe(false);
    expect(p.status.prepare?.message).toMatch(/earlier prepare job/);
  });
});

describe('planStorage: clone', () => {
  const clone = (status?: GPUStorageStatus) => storage({ prepare: { fromStorageName: 'src' } }, status);
  const src = (phase: 'Pending' | 'Ready', uid = 'src-uid'): GPUStorage => ({ ...storage(), metadata: { name: 'src', namespace: 'runtime-instance', uid }, status: { phase } });

  it('waits for a missing source, then for it to be Ready', () => {
    expect(plan({ storage: clone(), pvc: bound, source: {} }).status.prepare?.message).toMatch(/source storage src to exist/);
    const p = plan({ storage: clone(), pvc: bound, source: { storage: src('Pending') } });
    expect(p.startJob).toBe(false);
    expect(p.status.prepare?.message).toMatch(/source storage src to be Ready/);
    expect(p.status.prepare?.sourceUID).toBe('src-uid');
  });

  it('waits, naming the unit, while a running unit writes to the source', () => {
    const p = plan({ storage: clone(), pvc: bound, source: { storage: src('Ready'), blockingUnit: 'trainer' } });
    expect(p.startJob).toBe(false);
    expect(p.status.prepare?.message).toMatch(/SourceInUse.*unit trainer/);
  });

  it('starts when the source is Ready and idle', () => {
    const p = plan({ storage: clone(), pvc: bound, source: { storage: src('Ready') } });
    expect(p.startJob).toBe(true);
  });

  it('fails on a cycle and on a source deleted after it was seen', () => {
    const c = plan({ storage: clone(), pvc: bound, source: { cycle: ['model-cache', 'src', 'model-cache'] } });
    expect(c.status.phase).toBe('Failed');
    expect(c.status.prepare?.lastFailure?.reason).toBe('CloneCycle');
    expect(c.status.prepare?.message).toContain('model-cache → src → model-cache');

    const seen = plan({ storage: clone(), pvc: bound, source: { storage: src('Pending') } }).status;
    const gone = plan({ storage: clone(seen), pvc: bound, source: {} });
    expect(gone.status.prepare?.phase).toBe('Failed');
    expect(gone.status.prepare?.lastFailure?.reason).toBe('SourceDeleted');
    const vouched = storage({ prepare: { fromStorageName: 'src' } }, undefined, { 'runtime.lokiwager.io/clone-source-uid': 'src-uid' });
    expect(plan({ storage: vouched, pvc: bound, source: {} }).status.prepare?.lastFailure?.reason).toBe('SourceDeleted');
    const replaced = plan({ storage: clone(seen), pvc: bound, source: { storage: src('Ready', 'other-uid') } });
    expect(replaced.status.prepare?.lastFailure?.reason).toBe('SourceDeleted');
  });
});

describe('planStorage: accessor', () => {
  const available = { spec: { replicas: 1 }, status: { availableReplicas: 1, readyReplicas: 1 } } as V1Deployment;

  it('is created only once prepare is ready, and reports its URL', () => {
    const waiting = plan({ storage: storage({ prepare: imagePrepare, accessor: { enabled: true } }), pvc: bound });
    expect(waiting.accessor).toEqual({ present: false });
    expect(waiting.status.accessor?.phase).toBe('Pending');
    expect(waiting.status.accessor?.accessURL).toBeUndefined(); // no Service yet, no URL

    const p = plan({ storage: storage({ accessor: { enabled: true } }), pvc: bound });
    expect(p.accessor).toEqual({ present: true, replicas: 1 });
    expect(p.status.phase).toBe('Pending');
    expect(cond(p.status, 'Ready')?.reason).toBe('StorageAccessorPending');
    expect(p.status.accessor).toMatchObject({
      phase: 'Pending',
      serviceName: 'storage-accessor-model-cache',
      accessURL: 'http://storage-accessor-model-cache.runtime-instance.svc.cluster.local:8080',
    });

    const r = plan({ storage: storage({ accessor: { enabled: true } }), pvc: bound, accessor: available });
    expect(r.status.accessor?.phase).toBe('Ready');
    expect(r.status.phase).toBe('Ready');
    expect(cond(r.status, 'AccessorReady')).toMatchObject({ status: 'True', reason: 'StorageAccessorReady' });
  });

  it('is scaled to zero while a prepare attempt runs', () => {
    const digest = currentDigest(storage({ prepare: imagePrepare }))!;
    const s = storage({ prepare: imagePrepare, accessor: { enabled: true } }, { prepare: { phase: 'Pending', recoveryPhase: 'Running', observedDigest: 'old' } }, { 'runtime.lokiwager.io/storage-recovery-nonce': 'n' });
    const p = plan({ storage: s, pvc: bound, accessor: available });
    expect(p.accessor).toEqual({ present: true, replicas: 0 });
    expect(digest).toBeTruthy();
  });

  it('is removed when disabled', () => {
    const p = plan({ storage: storage({ accessor: { enabled: false } }), pvc: bound, accessor: available });
    expect(p.accessor).toEqual({ present: false });
    expect(p.status.accessor).toEqual({ phase: 'Disabled' });
  });

  it('is Failed when its Deployment stops progressing', () => {
    const stuck = { spec: { replicas: 1 }, status: { conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'x' }] } } as V1Deployment;
    const p = plan({ storage: storage({ accessor: { enabled: true } }), pvc: bound, accessor: stuck });
    expect(p.status.accessor?.phase).toBe('Failed');
    expect(cond(p.status, 'Ready')?.reason).toBe('StorageAccessorFailed');
  });
});

describe('resize', () => {
  it('stays Ready and says a grow is pending while capacity lags', () => {
    const p = plan({ storage: storage({ size: '30Gi' }), pvc: bound });
    expect(p.status.phase).toBe('Ready');
    expect(cond(p.status, 'Ready')?.message).toBe('storage is ready; resize to 30Gi pending (capacity 20Gi, waiting for the volume to be expanded)');
    expect(cond(plan({ storage: storage(), pvc: bound }).status, 'Ready')?.message).toBe('storage is ready');
  });
});

describe('conditions', () => {
  it('keep lastTransitionTime while their status holds', () => {
    const first = plan({ storage: storage(), pvc: bound }).status;
    const later = planStorage({ storage: storage({}, first), pvc: bound, now: '2026-12-01T00:00:00.000Z' }).status;
    expect(cond(later, 'Ready')?.lastTransitionTime).toBe(NOW);
  });
});

describe('status.prepare.history (nextPrepareHistory)', () => {
  const attempt = (i: number, phase: PrepareStatus['phase'], extra: Partial<PrepareStatus> = {}): PrepareStatus => ({
    phase,
    recoveryPhase: 'None',
    jobName: `storage-prepare-s-${String(i).padStart(12, '0')}`,
    observedDigest: String(i).padStart(12, '0'),
    startTime: `2026-01-01T00:0${i}:00Z`,
    ...(phase === 'Succeeded' || phase === 'Failed' ? { completionTime: `2026-01-01T00:0${i}:30Z` } : {}),
    ...extra,
  });

  it('records the current attempt once it has a Job, and updates it in place until it ends', () => {
    expect(nextPrepareHistory(undefined, { phase: 'Pending', recoveryPhase: 'None', observedDigest: 'abc' })).toBeUndefined();
    const running = nextPrepareHistory(undefined, attempt(1, 'Running'));
    expect(running).toEqual([{ jobName: attempt(1, 'Running').jobName, digest: '000000000001', startTime: '2026-01-01T00:01:00Z', result: 'Running' }]);
    const failed = nextPrepareHistory(
      running,
      attempt(1, 'Failed', { lastFailure: { reason: 'BackoffLimitExceeded', exitCode: 3, message: 'x', jobName: attempt(1, 'Failed').jobName, time: '2026-01-01T00:01:30Z' } }),
    );
    expect(failed).toEqual([
      { jobName: attempt(1, 'Failed').jobName, digest: '000000000001', startTime: '2026-01-01T00:01:00Z', completionTime: '2026-01-01T00:01:30Z', result: 'Failed', reason: 'BackoffLimitExceeded', exitCode: 3 },
    ]);
    // The same status again changes nothing (an idle storage writes nothing).
    expect(nextPrepareHistory(failed, attempt(1, 'Failed', { lastFailure: { reason: 'BackoffLimitExceeded', exitCode: 3, message: 'x', jobName: attempt(1, 'Failed').jobName, time: 't' } }))).toEqual(failed);
    // The recovered attempt is appended; the failed one stays as it was.
    const next = nextPrepareHistory(failed, attempt(2, 'Succeeded', { lastFailure: { reason: 'BackoffLimitExceeded', exitCode: 3, message: 'x', jobName: attempt(1, 'Failed').jobName, time: 't' } }));
    expect(next?.map((a) => [a.result, a.reason, a.exitCode])).toEqual([
      ['Failed', 'BackoffLimitExceeded', 3],
      ['Succeeded', undefined, undefined],
    ]);
  });

  it('keeps the last 5 attempts, dropping the oldest first', () => {
    let h: ReturnType<typeof nextPrepareHistory>;
    for (let i = 1; i <= 7; i++) h = nextPrepareHistory(h, attempt(i, 'Succeeded'));
    expect(h?.map((a) => a.digest)).toEqual(['000000000003', '000000000004', '000000000005', '000000000006', '000000000007']);
  });
});
