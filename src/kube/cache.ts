/**
 * The shared informers of the service: one list-watch per kind, started once, read by the
 * reconcilers, the service layer and every GraphQL subscription (controller-runtime-notes W5).
 * Children are watched through the `app.kubernetes.io/managed-by=gpu-runtime-operator` label, so
 * the cache holds only what this platform made.
 */
import type { KubeConfig, KubernetesObject, V1Deployment, V1Job, V1Node, V1PersistentVolumeClaim, V1Pod, V1Service, V1StorageClass } from '@kubernetes/client-node';
import { Informer, type InformerHealth } from './informer';
import type { IndexFunc } from './store';
import { trackInformers } from './metrics';
import { collectionPath, R, type Resource } from './resources';
import { ANNOTATIONS, FIELD_MANAGER, LABELS, STOCK_NAMESPACE } from '../api/constants';
import type { GPUOperation, GPUStorage, GPUUnit } from '../api/types';

const managed = `${LABELS.managedBy}=${FIELD_MANAGER}`;

/**
 * Names of the cache's indexes (besides every informer's `namespace`, ./informer.ts
 * NAMESPACE_INDEX). Values that name an object are `namespace/name`, so a lookup stays inside a
 * namespace as object names do.
 */
export const INDEX = {
  /** Children: `metadata.ownerReferences[].uid`. */
  ownerUID: 'ownerUID',
  /** Children: `namespace/<value>` of the platform label `runtime.lokiwager.io/storage`. */
  storageLabel: `label:${LABELS.storage}`,
  /** Children: `namespace/<value>` of `runtime.lokiwager.io/storage-prepare`. */
  storagePrepareLabel: `label:${LABELS.storagePrepare}`,
  /** Children: `namespace/<value>` of `runtime.lokiwager.io/storage-accessor`. */
  storageAccessorLabel: `label:${LABELS.storageAccessor}`,
  /** Children: `namespace/<value>` of `runtime.lokiwager.io/unit`. */
  unitLabel: `label:${LABELS.unit}`,
  /** Pods: `namespace/<value>` of `batch.kubernetes.io/job-name` (a Job's pods). */
  jobNameLabel: 'label:batch.kubernetes.io/job-name',
  /**
   * Units: `namespace/<storage>` for every storage an active unit (not in runtime-stock, not
   * being deleted) names in spec.storageMounts: storage → mounting units (the contract's mountedBy
   * and the one-active-unit-per-storage rule).
   */
  mountedStorage: 'mountedStorage',
  /** Units: the operation-id annotation of active units not being deleted (createUnit's idempotency). */
  operationID: 'operationID',
  /** Units: `namespace/name` of the stock unit an active unit was made from (its source-stock annotations). */
  sourceStock: 'sourceStock',
  /** Units: the namespace of active units (not in runtime-stock) not being deleted: what lists of units show. */
  activeNamespace: 'activeNamespace',
  /** Units: stock units (runtime-stock) not being deleted: `''` for every one, `spec:<specName>` by spec. */
  stockSpec: 'stockSpec',
  /** Storages: `namespace/<source>` of a clone's spec.prepare.fromStorageName. */
  cloneSource: 'cloneSource',
  /** Storages: status.phase (`Pending` when unset, as the view shows it). */
  phase: 'phase',
  /** Storages: `namespace/<phase>`. */
  namespacePhase: 'namespacePhase',
} as const;

const ns = (o: KubernetesObject) => o.metadata?.namespace ?? '';

/** An index of label `key`: `namespace/<value>` when the object carries it. */
function labelIndex(key: string): IndexFunc<KubernetesObject> {
  return (o) => {
    const v = o.metadata?.labels?.[key];
    return v === undefined ? [] : [`${ns(o)}/${v}`];
  };
}

/** The indexes of the platform's children (PVCs, Jobs, Pods, Deployments, Services). */
export const childIndexers: Record<string, IndexFunc<KubernetesObject>> = {
  [INDEX.ownerUID]: (o) => (o.metadata?.ownerReferences ?? []).map((r) => r.uid),
  [INDEX.storageLabel]: labelIndex(LABELS.storage),
  [INDEX.storagePrepareLabel]: labelIndex(LABELS.storagePrepare),
  [INDEX.storageAccessorLabel]: labelIndex(LABELS.storageAccessor),
  [INDEX.unitLabel]: labelIndex(LABELS.unit),
  [INDEX.jobNameLabel]: labelIndex('batch.kubernetes.io/job-name'),
};

const activeUnit = (u: GPUUnit) => u.metadata.namespace !== STOCK_NAMESPACE && !u.metadata.deletionTimestamp;

/** The indexes of GPUUnits (see {@link INDEX}). */
export const unitIndexers: Record<string, IndexFunc<GPUUnit & KubernetesObject>> = {
  [INDEX.unitLabel]: labelIndex(LABELS.unit) as IndexFunc<GPUUnit & KubernetesObject>,
  [INDEX.mountedStorage]: (u) => (activeUnit(u) ? [...new Set((u.spec?.storageMounts ?? []).map((m) => `${ns(u)}/${m.name}`))] : []),
  [INDEX.operationID]: (u) => {
    const id = u.metadata.annotations?.[ANNOTATIONS.operationID];
    return activeUnit(u) && id ? [id] : [];
  },
  [INDEX.sourceStock]: (u) => {
    const name = u.metadata.annotations?.[ANNOTATIONS.sourceStockName];
    return u.metadata.namespace !== STOCK_NAMESPACE && name ? [`${u.metadata.annotations?.[ANNOTATIONS.sourceStockNamespace] || STOCK_NAMESPACE}/${name}`] : [];
  },
  [INDEX.activeNamespace]: (u) => (activeUnit(u) ? [ns(u)] : []),
  [INDEX.stockSpec]: (u) => (u.metadata.namespace === STOCK_NAMESPACE && !u.metadata.deletionTimestamp ? ['', `spec:${u.spec?.specName}`] : []),
};

/**
 * Order of units in sorted views: by name, except stock units (runtime-stock), oldest first
 * (creationTimestamp, then name): the order consumption takes them. Both never change.
 */
export function unitSortKey(u: GPUUnit): string {
  return u.metadata.namespace === STOCK_NAMESPACE ? `${u.metadata.creationTimestamp ?? ''}\u0000${u.metadata.name}` : (u.metadata.name ?? '');
}

/** The phase of a storage as its view shows it. */
const storagePhase = (s: GPUStorage) => s.status?.phase ?? 'Pending';

/** The indexes of GPUStorages (see {@link INDEX}). */
export const storageIndexers: Record<string, IndexFunc<GPUStorage & KubernetesObject>> = {
  [INDEX.cloneSource]: (s) => (s.spec?.prepare?.fromStorageName ? [`${ns(s)}/${s.spec.prepare.fromStorageName}`] : []),
  [INDEX.phase]: (s) => [storagePhase(s)],
  [INDEX.namespacePhase]: (s) => [`${ns(s)}/${storagePhase(s)}`],
};

function informer<T extends KubernetesObject>(kc: KubeConfig, r: Resource<T>, labelSelector?: string, indexers?: Record<string, IndexFunc<T>>, sortKey?: (o: T) => string): Informer<T> {
  return new Informer<T>(kc, { path: collectionPath(r), apiVersion: r.apiVersion, kind: r.kind, labelSelector, indexers, sortKey });
}

/**
 * The shared informers of one service: the platform's kinds, their children (by the managed-by
 * label), pods, nodes and StorageClasses, with the indexes of {@link INDEX}. Started once; read by
 * the controllers, the service layer and the subscriptions.
 */
export class ClusterCache {
  readonly storages: Informer<GPUStorage & KubernetesObject>;
  readonly units: Informer<GPUUnit & KubernetesObject>;
  readonly operations: Informer<GPUOperation & KubernetesObject>;
  readonly pvcs: Informer<V1PersistentVolumeClaim>;
  readonly jobs: Informer<V1Job>;
  readonly pods: Informer<V1Pod>;
  readonly deployments: Informer<V1Deployment>;
  readonly services: Informer<V1Service>;
  readonly nodes: Informer<V1Node>;
  /**
   * StorageClasses (cluster-scoped, all of them): their `volumeBindingMode` decides whether a
   * Pending PVC waits for its first consumer (contract: "Binding modes").
   */
  readonly storageClasses: Informer<V1StorageClass>;

  constructor(kc: KubeConfig) {
    this.storages = informer(kc, R.storage, undefined, storageIndexers);
    this.units = informer(kc, R.unit, undefined, unitIndexers, unitSortKey);
    this.operations = informer(kc, R.operation);
    this.pvcs = informer(kc, R.pvc, managed, childIndexers);
    this.jobs = informer(kc, R.job, managed, childIndexers);
    this.pods = informer(kc, R.pod, managed, childIndexers);
    this.deployments = informer(kc, R.deployment, managed, childIndexers);
    this.services = informer(kc, R.service, managed, childIndexers);
    this.nodes = informer(kc, R.node);
    this.storageClasses = informer(kc, R.storageClass);
  }

  /** Every informer of the cache. */
  informers(): Informer<KubernetesObject>[] {
    return this.all();
  }

  private all(): Informer<KubernetesObject>[] {
    return [this.storages, this.units, this.operations, this.pvcs, this.jobs, this.pods, this.deployments, this.services, this.nodes, this.storageClasses] as unknown as Informer<KubernetesObject>[];
  }

  private untrack?: () => void;

  /** Starts every informer; their health is reported as `gpu_runtime_informer_*` metrics. */
  start(): void {
    for (const i of this.all()) i.start();
    this.untrack = trackInformers(() => this.health());
  }

  stop(): void {
    for (const i of this.all()) i.stop();
    this.untrack?.();
  }

  /** Resolves when every informer has listed once (bounded by `timeoutMs`; rejects after it). */
  async waitForSync(timeoutMs = 60_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const missing = this.all().filter((i) => !i.hasSynced).map((i) => `${i.options.kind} (${i.health().lastError ?? 'no answer'})`);
        reject(new Error(`informers not synced after ${timeoutMs / 1000}s: ${missing.join(', ')}`));
      }, timeoutMs);
    });
    try {
      await Promise.race([Promise.all(this.all().map((i) => i.waitForSync())), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  health(): InformerHealth[] {
    return this.all().map((i) => i.health());
  }

  get synced(): boolean {
    return this.all().every((i) => i.hasSynced);
  }
}
