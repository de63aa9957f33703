/**
 * The GPUStorage reconciler: reads the storage and its children from the shared informer cache,
 * plans with the pure {@link planStorage}, writes only what differs (server-side apply guarded by
 * an applied hash; the status through the status subresource, only when it changed) and records
 * Events for each attempt. Level-triggered: every event of a storage, its children, its clone
 * source and the units that mount it enqueues the storage's key.
 */
import { storageSpecProblem } from '../../api/storage-spec';
import { condition } from './conditions';
import type { KubernetesObject, V1Job, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { DEFAULT_STORAGE_CLASS, LABELS } from '../../api/constants';
import { accessorDeploymentName, accessorName, prepareJobName } from '../../api/naming';
import type { GPUStorage, GPUStorageStatus, GPUUnit } from '../../api/types';
import { ensureApplied } from '../../kube/apply';
import { Controller, sameStatus } from '../../kube/controller';
import type { ClusterCache } from '../../kube/cache';
import { runningWriterOf } from '../../kube/cache-queries';
import { isAlreadyExists, isNotFound, kubeMessageOf, statusCodeOf } from '../../kube/errors';
import type { EventRecorder } from '../../kube/events';
import { objectKey } from '../../kube/informer';
import { OwnWrites } from '../../kube/own-writes';
import { R, type Kube } from '../../kube/resources';
import type { ReconcileResult } from '../../kube/workqueue';
import { mergeConditions, planStorage, type SourceObservation, type StorageObservation } from './status';
import { currentDigest } from '../../api/digest';
import { isJobActive } from '../../api/job';
import { bindingModeOf } from './volume';
import { volumeConsumers } from './placement';
import { desiredAccessorDeployment, desiredAccessorService, desiredPVC, desiredPrepareJob, type PrepareJobOptions } from './children';
import { logger } from '../../logger';

export interface StorageControllerOptions extends PrepareJobOptions {
  workers?: number;
  /** Every cached storage is reconciled again this often (W7), in ms (default 10 min). */
  resyncMs?: number;
}

const log = logger.child({ controller: 'gpustorage' });

export class StorageController extends Controller {
  private readonly ownWrites = new OwnWrites<GPUStorage & KubernetesObject>();
  /**
   * Prepare Jobs this controller created that the informer may not have delivered yet: the next
   * reconcile (our own status write's event comes first) uses the API server's answer to the
   * create instead of a GET round trip (bench/converge.ts: one GET per storage before).
   */
  private readonly createdJobs = new Map<string, { job: V1Job; at: number }>();

  /**
   * When this process first saw each prepare Job's pod run (`ns/job` → epoch ms): the start of
   * the window in which the Running write is held (RUNNING_REPORT_DELAY_MS, status.ts). Lost on
   * restart, which only means a Running write is not held.
   */
  private readonly jobRunningSeen = new Map<string, number>();

  private runningSeenAt(ns: string, jobName: string, pods: V1Pod[]): number | undefined {
    const key = `${ns}/${jobName}`;
    if (!pods.some((p) => ['Running', 'Succeeded', 'Failed'].includes(p.status?.phase ?? ''))) return this.jobRunningSeen.get(key);
    const now = Date.now();
    if (this.jobRunningSeen.size > 1000) for (const [k, at] of this.jobRunningSeen) if (now - at > 60_000) this.jobRunningSeen.delete(k);
    if (!this.jobRunningSeen.has(key)) this.jobRunningSeen.set(key, now);
    return this.jobRunningSeen.get(key);
  }

  /** A Job created here within the last 30 s and not yet in the cache (forgotten once it is). */
  private jobJustCreated(ns: string, name: string): V1Job | undefined {
    const key = `${ns}/${name}`;
    const e = this.createdJobs.get(key);
    if (!e) return undefined;
    if (Date.now() - e.at > 30_000) {
      this.createdJobs.delete(key);
      return undefined;
    }
    return e.job;
  }

  constructor(
    private readonly kube: Kube,
    private readonly cache: ClusterCache,
    private readonly recorder: EventRecorder,
    private readonly opts: StorageControllerOptions,
  ) {
    super('gpustorage', { workers: opts.workers ?? 2, resyncMs: opts.resyncMs ?? 600_000 });
  }

  /** Storages, their children (by label), pods using their PVCs, and units mounting them. */
  protected watch(): (() => void)[] {
    const c = this.cache;
    const ownerByLabel = ({ object }: { object: KubernetesObject }) => this.enqueueOwnerByLabel(object);
    return [
      c.storages.on(({ object }) => {
        this.queue.add(objectKey(object));
        this.enqueueClonesOf(object.metadata.namespace!, object.metadata.name!);
      }),
      c.pvcs.on(ownerByLabel),
      c.jobs.on(ownerByLabel),
      c.deployments.on(ownerByLabel),
      c.services.on(ownerByLabel),
      c.pods.on(({ object }) => {
        this.enqueueOwnerByLabel(object);
        const ns = object.metadata!.namespace!;
        const unit = object.metadata?.labels?.[LABELS.unit];
        if (unit) this.enqueueMountedBy(ns, unit);
        // A pod using a storage's PVC decides where that storage's accessor may run.
        for (const v of object.spec?.volumes ?? []) {
          const claim = v.persistentVolumeClaim?.claimName;
          if (claim && this.cache.storages.get(ns, claim)) {
            this.queue.add(`${ns}/${claim}`);
            // ... and where a clone of that storage must copy (clone placement).
            this.enqueueClonesOf(ns, claim);
          }
        }
      }),
      c.units.on(({ object, old }) => {
        for (const u of [object, old]) if (u) this.enqueueMounts(u as GPUUnit);
      }),
      // A class's binding mode decides whether a Pending PVC waits for its first consumer.
      c.storageClasses.on(({ object }) => {
        for (const s of c.storages.list()) {
          if ((s.spec.storageClassName ?? DEFAULT_STORAGE_CLASS) === object.metadata?.name) this.queue.add(objectKey(s));
        }
      }),
    ];
  }

  protected resyncKeys(): Iterable<string> {
    return this.cache.storages.keys();
  }

  private enqueueOwnerByLabel(obj: KubernetesObject): void {
    const name = obj.metadata?.labels?.[LABELS.storage];
    if (name && obj.metadata?.namespace) this.queue.add(`${obj.metadata.namespace}/${name}`);
  }

  private enqueueClonesOf(namespace: string, name: string): void {
    for (const s of this.cache.storages.list(namespace)) {
      if (s.spec.prepare?.fromStorageName === name) this.queue.add(objectKey(s));
    }
  }

  private enqueueMounts(unit: GPUUnit): void {
    const ns = unit.metadata.namespace!;
    for (const m of unit.spec.storageMounts ?? []) {
      this.queue.add(`${ns}/${m.name}`);
      this.enqueueClonesOf(ns, m.name);
    }
  }

  private enqueueMountedBy(namespace: string, unitName: string): void {
    const unit = this.cache.units.get(namespace, unitName);
    if (unit) this.enqueueMounts(unit);
  }

  /** What the clone source looks like: existence, cycles, a running unit writing to it. */
  private observeSource(storage: GPUStorage): SourceObservation | undefined {
    const from = storage.spec.prepare?.fromStorageName;
    if (!from) return undefined;
    const ns = storage.metadata.namespace!;
    const chain = [storage.metadata.name!];
    let cur: string | undefined = from;
    while (cur) {
      if (chain.includes(cur)) return { cycle: [...chain, cur] };
      chain.push(cur);
      cur = this.cache.storages.get(ns, cur)?.spec.prepare?.fromStorageName;
    }
    const src = this.cache.storages.get(ns, from);
    return { storage: src, blockingUnit: runningWriterOf(this.cache, ns, from), consumers: volumeConsumers(this.cache.pods.list(ns), from) };
  }

  /** Node of a running unit pod that mounts this storage's PVC (the accessor must go there). */
  private nodeUsingVolume(storage: GPUStorage): string | undefined {
    const ns = storage.metadata.namespace!;
    const claim = storage.metadata.name!;
    for (const p of this.cache.pods.list(ns)) {
      if (!p.metadata?.labels?.[LABELS.unit] || p.metadata.deletionTimestamp || !p.spec?.nodeName) continue;
      if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
      if (p.spec.volumes?.some((v) => v.persistentVolumeClaim?.claimName === claim)) return p.spec.nodeName;
    }
    return undefined;
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const [ns, name] = key.split('/') as [string, string];
    // Our own last status write when the informer has not delivered it yet (src/kube/own-writes.ts).
    const storage = this.ownWrites.latest(key, this.cache.storages.get(ns, name));
    if (!storage || storage.metadata.deletionTimestamp) return; // children go by garbage collection
    const now = new Date().toISOString();
    const prev = storage.status;

    // A spec the CRD let through but the contract forbids (applied with kubectl, bypassing the
    // API): Failed with StorageInvalidSpec naming the field; no children; no requeue (a spec
    // change is a new event).
    const problem = storageSpecProblem(ns, name, storage.spec);
    if (problem) {
      const message = `${problem.field}: ${problem.message}`;
      const status: GPUStorageStatus = {
        ...prev,
        phase: 'Failed',
        observedGeneration: storage.metadata.generation,
        conditions: mergeConditions(prev?.conditions, [condition('Ready', false, 'StorageInvalidSpec', message)], storage.metadata.generation, now),
      };
      const ready = prev?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.reason !== 'StorageInvalidSpec' || ready.message !== message) this.recorder.record(storage, 'Warning', 'StorageInvalidSpec', message);
      await this.writeStatus(storage, status);
      return;
    }

    // 0. Children left by an earlier storage of the same name (deleted; garbage collection still
    // running) are never adopted: applying over them would rewrite their ownerReference and hand
    // the old data (or a terminating PVC) to the new storage. Wait until they are gone.
    const leftovers = this.leftoversOf(storage);
    if (leftovers.length) {
      const plan = planStorage({ storage, now });
      await this.writeStatus(storage, plan.status, {
        reason: 'StoragePending',
        message: `waiting for ${leftovers.join(', ')} of an earlier GPUStorage ${name} to be deleted`,
      });
      return { requeueAfterMs: 2000 };
    }

    // 1. The PVC.
    let pvcError: string | undefined;
    // The PVC as the API server answered our apply, when we just wrote it (the informer has not
    // delivered it yet): the plan then says "waiting to be bound", not "not created yet".
    let appliedPVC: V1PersistentVolumeClaim | undefined;
    try {
      appliedPVC = await ensureApplied(this.kube, R.pvc, desiredPVC(storage), this.cache.pvcs.get(ns, name));
    } catch (err) {
      const code = statusCodeOf(err);
      if (code === 422 || code === 400 || code === 403) pvcError = kubeMessageOf(err);
      else throw err;
    }

    // 2. Observe the attempt.
    const digest = currentDigest(storage);
    let job: V1Job | undefined;
    let jobPods: V1Pod[] = [];
    let earlierJobs: StorageObservation['earlierJobs'] = [];
    let jobRunningSeenAt: number | undefined;
    if (digest) {
      const jobName = prepareJobName(name, digest);
      job = this.cache.jobs.get(ns, jobName);
      if (job) this.createdJobs.delete(`${ns}/${jobName}`);
      else job = this.jobJustCreated(ns, jobName);
      if (!job && prev?.prepare?.observedDigest === digest && prev.prepare.jobName === jobName && !['Succeeded', 'Failed'].includes(prev.prepare.phase)) {
        // Not in the cache yet, or really gone? Ask the API server before calling it deleted.
        try {
          job = await this.kube.get(R.job, ns, jobName);
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }
      jobPods = this.cache.pods.list(ns).filter((p) => p.metadata?.labels?.['batch.kubernetes.io/job-name'] === jobName);
      earlierJobs = this.cache.jobs
        .list(ns)
        .filter((j) => j.metadata?.labels?.[LABELS.storagePrepare] === name && j.metadata?.name !== jobName)
        .map((j) => ({ name: j.metadata!.name!, active: isJobActive(j) }));
      jobRunningSeenAt = this.runningSeenAt(ns, jobName, jobPods);
    }
    const plan = planStorage({
      storage,
      pvc: this.cache.pvcs.get(ns, name) ?? appliedPVC,
      bindingMode: bindingModeOf(this.cache.storageClasses.get(undefined, storage.spec.storageClassName ?? DEFAULT_STORAGE_CLASS)),
      job,
      jobPods,
      earlierJobs,
      jobRunningSeenAt,
      source: this.observeSource(storage),
      accessor: this.cache.deployments.get(ns, accessorDeploymentName(name)),
      now,
    });

    // 3. Start the attempt's Job.
    if (plan.startJob && digest) {
      try {
        const job = await this.kube.create(R.job, desiredPrepareJob(storage, digest, this.opts, plan.placement));
        this.createdJobs.set(`${ns}/${job.metadata!.name}`, { job, at: Date.now() });
        if (this.createdJobs.size > 1000) for (const [k, e] of this.createdJobs) if (Date.now() - e.at > 30_000) this.createdJobs.delete(k);
        // Recorded here, not after the status write, so a lost status race never loses it.
        this.recorder.record(storage, 'Normal', 'PrepareStarted', `prepare job ${job.metadata?.name} started (attempt ${plan.status.prepare?.attempts ?? 1}${plan.status.prepare?.recoveryPhase === 'Running' ? ', recovery' : ''})`);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
    }

    // 4. The accessor.
    const depName = accessorDeploymentName(name);
    const svcName = accessorName(name);
    if (plan.accessor.present) {
      await ensureApplied(this.kube, R.deployment, desiredAccessorDeployment(storage, plan.accessor.replicas, this.nodeUsingVolume(storage)), this.cache.deployments.get(ns, depName));
      await ensureApplied(this.kube, R.service, desiredAccessorService(storage), this.cache.services.get(ns, svcName));
    } else {
      for (const [r, live] of [
        [R.deployment, this.cache.deployments.get(ns, depName)],
        [R.service, this.cache.services.get(ns, svcName)],
      ] as const) {
        if (live && !live.metadata?.deletionTimestamp) {
          await this.kube.delete(r, ns, live.metadata!.name!, { uid: live.metadata?.uid }).catch((err: unknown) => {
            if (!isNotFound(err)) throw err;
          });
        }
      }
    }

    // 5. Status, written only when it changed.
    await this.writeStatus(
      storage,
      plan.status,
      pvcError ? { reason: 'StoragePVCSyncFailed', message: `could not apply PersistentVolumeClaim ${name}: ${pvcError}` } : undefined,
    );

    // 6. Events, once the status that records the transition is written.
    for (const e of plan.events) this.recorder.record(storage, e.type, e.reason, e.message);
    return plan.requeueAfterMs ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }

  /**
   * Writes `status` through the status subresource when it differs from the stored one.
   * `notReady` replaces the Ready condition (phase Pending) when something outside the plan
   * blocks the storage.
   */
  private async writeStatus(storage: GPUStorage & KubernetesObject, status: GPUStorageStatus, notReady?: { reason: string; message: string }): Promise<void> {
    const prev = storage.status;
    if (notReady) {
      status.phase = 'Pending';
      status.conditions = mergeConditions(
        prev?.conditions,
        [{ type: 'Ready', status: 'False', ...notReady }, ...(status.conditions ?? []).filter((c) => c.type !== 'Ready')],
        storage.metadata.generation,
        new Date().toISOString(),
      );
    }
    if (sameStatus(prev, status)) return;
    status.lastSyncTime = new Date().toISOString();
    const written = await this.kube.replace(R.storage, { ...storage, status }, 'status');
    this.ownWrites.wrote(objectKey(storage), storage.metadata.resourceVersion, written);
    log.debug({ key: objectKey(storage), phase: status.phase, prepare: status.prepare?.phase }, 'status updated');
  }

  /** Children named for this storage that belong to another (earlier) owner, or are being deleted (PVC). */
  private leftoversOf(storage: GPUStorage): string[] {
    const ns = storage.metadata.namespace!;
    const name = storage.metadata.name!;
    const uid = storage.metadata.uid;
    const foreign = (o: KubernetesObject | undefined) => {
      const owner = o?.metadata?.ownerReferences?.find((r) => r.controller);
      return !!owner && owner.uid !== uid;
    };
    const out: string[] = [];
    const pvc = this.cache.pvcs.get(ns, name);
    if (foreign(pvc) || pvc?.metadata?.deletionTimestamp) out.push(`PersistentVolumeClaim ${name}`);
    for (const j of this.cache.jobs.list(ns)) if (j.metadata?.labels?.[LABELS.storage] === name && foreign(j)) out.push(`Job ${j.metadata?.name}`);
    if (foreign(this.cache.deployments.get(ns, accessorDeploymentName(name)))) out.push(`Deployment ${accessorDeploymentName(name)}`);
    if (foreign(this.cache.services.get(ns, accessorName(name)))) out.push(`Service ${accessorName(name)}`);
    return out;
  }
}
