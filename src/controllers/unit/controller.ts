/**
 * The GPUUnit reconciler and the GPUOperation (stock seeding) reconciler.
 *
 * UnitController: reads a unit, its Deployment/Service/pods and the storages it mounts from the
 * shared informer cache, plans with the pure {@link planUnit}, writes only what differs
 * (server-side apply guarded by an applied hash; status through the status subresource, only when
 * it changed). For stock units it also finishes or undoes consumption: a claimed stock unit whose
 * consumer (an active unit carrying the same claim id) exists is deleted; a claim older than
 * {@link STOCK_CLAIM_TTL_MS} with no consumer is released.
 *
 * OperationController: level-triggered from the durable GPUOperation record, it creates the
 * operation's stock units until all exist, then marks the record succeeded. A restart of the
 * service resumes where the record says.
 *
 * Both follow StorageController's shape: start() wires informers to a work queue, stop() unwires.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { ANNOTATIONS, LABELS, STOCK_NAMESPACE } from '../../api/constants';
import { unitDeploymentName } from '../../api/naming';
import type { GPUOperation, GPUStorage, GPUUnit, GPUUnitStatus } from '../../api/types';
import { ensureApplied } from '../../kube/apply';
import { Controller, sameStatus } from '../../kube/controller';
import type { ClusterCache } from '../../kube/cache';
import { isAlreadyExists, isNotFound, kubeMessageOf, statusCodeOf } from '../../kube/errors';
import type { EventRecorder } from '../../kube/events';
import { OwnWrites } from '../../kube/own-writes';
import { objectKey } from '../../kube/informer';
import { R, type Kube } from '../../kube/resources';
import type { ReconcileResult } from '../../kube/workqueue';
import { releaseStockClaim } from '../../kube/stock-claim';
import { logger } from '../../logger';
import { desiredStockDeployment, desiredUnitDeployment, desiredUnitService } from './children';
import { isStock } from '../../api/units';
import { desiredStockUnit, operationFinished, operationUnitNames } from './operation';
import { planUnit } from './status';
import { claimState, sourceStockOf, STOCK_CLAIM_TTL_MS } from '../../api/stock';

export interface UnitControllerOptions {
  workers?: number;
  /** Every cached unit is reconciled again this often (W7), in ms (default 10 min). */
  resyncMs?: number;
}

const log = logger.child({ controller: 'gpuunit' });
const opLog = logger.child({ controller: 'gpuoperation' });

export class UnitController extends Controller {
  private readonly ownWrites = new OwnWrites<GPUUnit & KubernetesObject>();

  constructor(
    private readonly kube: Kube,
    private readonly cache: ClusterCache,
    private readonly recorder: EventRecorder,
    opts: UnitControllerOptions = {},
  ) {
    super('gpuunit', { workers: opts.workers ?? 4, resyncMs: opts.resyncMs ?? 600_000 });
  }

  /** Units, the storages they mount, and their Deployments, Services and pods (by label). */
  protected watch(): (() => void)[] {
    const c = this.cache;
    const ownerByLabel = ({ object }: { object: KubernetesObject }) => this.enqueueOwnerByLabel(object);
    return [
      c.units.on(({ object, old }) => {
        this.queue.add(objectKey(object));
        // An active unit made from a stock unit: the stock unit's consumption can be completed.
        for (const u of [object, old]) {
          const src = u && !isStock(u as GPUUnit) ? sourceStockOf(u as GPUUnit) : undefined;
          if (src) this.queue.add(`${src.namespace}/${src.name}`);
        }
      }),
      c.storages.on(({ object }) => this.enqueueMounting(object as GPUStorage)),
      c.deployments.on(ownerByLabel),
      c.services.on(ownerByLabel),
      c.pods.on(ownerByLabel),
    ];
  }

  protected resyncKeys(): Iterable<string> {
    return this.cache.units.keys();
  }

  private enqueueOwnerByLabel(obj: KubernetesObject): void {
    const name = obj.metadata?.labels?.[LABELS.unit];
    if (name && obj.metadata?.namespace) this.queue.add(`${obj.metadata.namespace}/${name}`);
  }

  private enqueueMounting(storage: GPUStorage): void {
    const ns = storage.metadata.namespace!;
    if (ns === STOCK_NAMESPACE) return;
    for (const u of this.cache.units.list(ns)) {
      if (u.spec.storageMounts?.some((m) => m.name === storage.metadata.name)) this.queue.add(objectKey(u));
    }
  }

  /** The active unit that consumed the stock unit under `claimID`, if it exists. */
  private consumerOf(stock: GPUUnit, claimID: string): GPUUnit | undefined {
    return this.cache.units.list().find((u) => {
      if (isStock(u) || u.metadata.deletionTimestamp) return false;
      const src = sourceStockOf(u);
      return !!src && src.name === stock.metadata.name && src.namespace === stock.metadata.namespace && u.metadata.annotations?.[ANNOTATIONS.stockClaimID] === claimID;
    });
  }

  /**
   * The claim of a stock unit: completes a consumption whose active unit exists (deletes the stock
   * unit, uid precondition), releases an abandoned claim, or asks to look again when a live claim
   * would expire. @returns 'gone' when the stock unit was deleted.
   */
  private async handleClaim(stock: GPUUnit & KubernetesObject, nowMs: number): Promise<{ gone?: boolean; requeueAfterMs?: number }> {
    const claim = claimState(stock, nowMs);
    if (!claim.claimID) return {};
    const ns = stock.metadata.namespace!;
    const name = stock.metadata.name!;
    if (this.consumerOf(stock, claim.claimID)) {
      try {
        await this.kube.delete(R.unit, ns, name, { uid: stock.metadata.uid });
        // Usually the creating request deletes it too (one of the two gets 404); after a crash, only this does.
        log.debug({ stock: name }, 'deleted a consumed stock unit');
      } catch (err) {
        if (!isNotFound(err) && statusCodeOf(err) !== 409) throw err;
      }
      return { gone: true };
    }
    if (claim.abandoned) {
      await releaseStockClaim(this.kube, stock, claim.claimID);
      log.warn({ stock: name, claimID: claim.claimID }, 'released an abandoned stock claim');
      return {};
    }
    return { requeueAfterMs: Math.max(1000, (claim.claimedAtMs ?? nowMs) + STOCK_CLAIM_TTL_MS - nowMs + 1000) };
  }

  /** One reconcile of `namespace/name`. Throws to requeue with backoff (409 conflicts included). */
  async reconcile(key: string): Promise<ReconcileResult | void> {
    const [ns, name] = key.split('/') as [string, string];
    // Our own last status write when the informer has not delivered it yet (src/kube/own-writes.ts).
    const unit = this.ownWrites.latest(key, this.cache.units.get(ns, name));
    if (!unit || unit.metadata.deletionTimestamp) return; // children go by garbage collection
    const now = new Date();
    const depName = unitDeploymentName(name);
    let requeueAfterMs: number | undefined;
    const storages: Record<string, GPUStorage | undefined> = {};

    if (isStock(unit)) {
      const claim = await this.handleClaim(unit, now.getTime());
      if (claim.gone) return;
      requeueAfterMs = claim.requeueAfterMs;
      await ensureApplied(this.kube, R.deployment, desiredStockDeployment(unit), this.cache.deployments.get(ns, depName));
    } else {
      for (const m of unit.spec.storageMounts ?? []) storages[m.name] = this.cache.storages.get(ns, m.name);
    }

    const plan = planUnit({
      unit,
      deployment: this.cache.deployments.get(ns, depName),
      pods: this.cache.pods.list(ns).filter((p) => p.metadata?.labels?.[LABELS.unit] === name),
      storages,
      now: now.toISOString(),
    });

    if (!isStock(unit)) {
      const liveDep = this.cache.deployments.get(ns, depName);
      const liveSvc = this.cache.services.get(ns, depName);
      if (plan.replicas === undefined) {
        await this.deleteIfPresent(R.deployment, liveDep);
        await this.deleteIfPresent(R.service, liveSvc);
      } else {
        await ensureApplied(this.kube, R.deployment, desiredUnitDeployment(unit, plan.replicas, storages), liveDep);
        const svc = desiredUnitService(unit);
        if (svc) await ensureApplied(this.kube, R.service, svc, liveSvc);
        else await this.deleteIfPresent(R.service, liveSvc);
      }
    }

    const status: GPUUnitStatus = plan.status;
    const prev = unit.status;
    if (!sameStatus(prev, status)) {
      status.lastSyncTime = now.toISOString();
      try {
        this.ownWrites.wrote(key, unit.metadata.resourceVersion, await this.kube.replace(R.unit, { ...unit, status }, 'status'));
      } catch (err) {
        if (isNotFound(err)) return; // deleted meanwhile; its children go by garbage collection
        throw err;
      }
      log.debug({ key, phase: status.phase }, 'status updated');
      if (prev?.phase !== status.phase) {
        const ready = status.conditions?.find((c) => c.type === 'Ready');
        this.recorder.record(unit, status.phase === 'Failed' ? 'Warning' : 'Normal', ready?.reason ?? 'UnitPhase', `${status.phase}: ${ready?.message ?? ''}`);
      }
    }
    return requeueAfterMs ? { requeueAfterMs } : undefined;
  }

  private async deleteIfPresent(r: typeof R.deployment | typeof R.service, live: KubernetesObject | undefined): Promise<void> {
    if (!live || live.metadata?.deletionTimestamp) return;
    await this.kube.delete(r, live.metadata!.namespace, live.metadata!.name!, { uid: live.metadata?.uid }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }
}

export interface OperationControllerOptions {
  workers?: number;
  /** Every unfinished record is reconciled again this often, in ms (default 1 min). */
  resyncMs?: number;
}

export class OperationController extends Controller {
  constructor(
    private readonly kube: Kube,
    private readonly cache: ClusterCache,
    private readonly recorder: EventRecorder,
    opts: OperationControllerOptions = {},
  ) {
    super('gpuoperation', { workers: opts.workers ?? 2, resyncMs: opts.resyncMs ?? 60_000 });
  }

  protected watch(): (() => void)[] {
    return [this.cache.operations.on(({ object }) => this.queue.add(objectKey(object)))];
  }

  /** Unfinished records only: a finished operation never changes again. */
  protected resyncKeys(): Iterable<string> {
    return this.cache.operations
      .list()
      .filter((op) => !operationFinished(op))
      .map((op) => objectKey(op));
  }

  private async writeStatus(op: GPUOperation & KubernetesObject, status: NonNullable<GPUOperation['status']>): Promise<GPUOperation & KubernetesObject> {
    return this.kube.replace(R.operation, { ...op, status: { ...status, updatedAt: new Date().toISOString() } }, 'status');
  }

  /** Creates the record's missing stock units, then marks it succeeded (or failed on a rejected unit). */
  async reconcile(key: string): Promise<ReconcileResult | void> {
    const [ns, name] = key.split('/') as [string, string];
    let op = this.cache.operations.get(ns, name);
    if (!op || op.metadata.deletionTimestamp || operationFinished(op)) return;
    const names = operationUnitNames(op);
    if (names.length === 0) {
      await this.writeStatus(op, { phase: 'failed', error: 'the operation record carries no request (spec.request)' });
      return;
    }
    if (op.status?.phase !== 'running') op = await this.writeStatus(op, { phase: 'running', objects: op.status?.objects });
    // Stock units an active unit was already made from count as made: never seed them again.
    const consumed = new Set(
      this.cache.units
        .list()
        .map((u) => (isStock(u) ? undefined : sourceStockOf(u)))
        .filter((s) => s?.namespace === STOCK_NAMESPACE)
        .map((s) => s!.name),
    );
    for (const [i, unitName] of names.entries()) {
      if (this.cache.units.get(STOCK_NAMESPACE, unitName) || consumed.has(unitName)) continue;
      try {
        await this.kube.create(R.unit, desiredStockUnit(op, i + 1));
      } catch (err) {
        if (isAlreadyExists(err)) continue;
        const code = statusCodeOf(err);
        if (code === 400 || code === 422 || code === 403) {
          const error = `could not create stock unit ${STOCK_NAMESPACE}/${unitName}: ${kubeMessageOf(err)}`;
          await this.writeStatus(op, { phase: 'failed', error, objects: names.slice(0, i) });
          this.recorder.record(op, 'Warning', 'SeedFailed', error);
          return;
        }
        throw err;
      }
    }
    await this.writeStatus(op, { phase: 'succeeded', objects: names });
    opLog.info({ operationID: op.spec.operationID, units: names.length }, 'stock seeded');
    this.recorder.record(op, 'Normal', 'Seeded', `created ${names.length} stock unit(s): ${names[0]}${names.length > 1 ? ` … ${names.at(-1)}` : ''}`);
  }
}
