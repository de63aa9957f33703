/**
 * The shared informers of the service: one list-watch per kind, started once, read by the
 * reconcilers, the service layer and every GraphQL subscription (controller-runtime-notes W5).
 * Children are watched through the `app.kubernetes.io/managed-by=gpu-runtime-operator` label, so
 * the cache holds only what this platform made.
 */
import type { KubeConfig, KubernetesObject, V1Deployment, V1Job, V1Node, V1PersistentVolumeClaim, V1Pod, V1Service, V1StorageClass } from '@kubernetes/client-node';
import { Informer, type InformerHealth } from './informer';
import { trackInformers } from './metrics';
import { collectionPath, R, type Resource } from './resources';
import { FIELD_MANAGER, LABELS } from '../api/constants';
import type { GPUOperation, GPUStorage, GPUUnit } from '../api/types';

const managed = `${LABELS.managedBy}=${FIELD_MANAGER}`;

function informer<T extends KubernetesObject>(kc: KubeConfig, r: Resource<T>, labelSelector?: string): Informer<T> {
  return new Informer<T>(kc, { path: collectionPath(r), apiVersion: r.apiVersion, kind: r.kind, labelSelector });
}

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
    this.storages = informer(kc, R.storage);
    this.units = informer(kc, R.unit);
    this.operations = informer(kc, R.operation);
    this.pvcs = informer(kc, R.pvc, managed);
    this.jobs = informer(kc, R.job, managed);
    this.pods = informer(kc, R.pod, managed);
    this.deployments = informer(kc, R.deployment, managed);
    this.services = informer(kc, R.service, managed);
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
