/**
 * The resource kinds this service reads and writes, and typed helpers for their REST paths and
 * verbs (https://kubernetes.io/docs/reference/using-api/api-concepts/). Writes name their patch
 * strategy explicitly (controller-runtime-notes W10); server-side apply uses one stable field
 * manager.
 */
import type {
  KubeConfig,
  KubernetesObject,
  V1PersistentVolumeClaim,
  V1Job,
  V1Pod,
  V1Deployment,
  V1Service,
  V1Node,
  V1StorageClass,
  V1Lease,
  CoreV1Event,
} from '@kubernetes/client-node';
import { kubeRequest, type PatchType } from './http';
import { API_VERSION, FIELD_MANAGER } from '../api/constants';
import type { GPUStorage, GPUUnit, GPUOperation } from '../api/types';

/** A kind: where it is served and how it is named. */
export interface Resource<T extends KubernetesObject = KubernetesObject> {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  /** Phantom field carrying the object type. */
  readonly _type?: T;
}

function res<T extends KubernetesObject>(apiVersion: string, kind: string, plural: string, namespaced = true): Resource<T> {
  return { apiVersion, kind, plural, namespaced };
}

export const R = {
  storage: res<GPUStorage & KubernetesObject>(API_VERSION, 'GPUStorage', 'gpustorages'),
  unit: res<GPUUnit & KubernetesObject>(API_VERSION, 'GPUUnit', 'gpuunits'),
  operation: res<GPUOperation & KubernetesObject>(API_VERSION, 'GPUOperation', 'gpuoperations'),
  pvc: res<V1PersistentVolumeClaim>('v1', 'PersistentVolumeClaim', 'persistentvolumeclaims'),
  pod: res<V1Pod>('v1', 'Pod', 'pods'),
  service: res<V1Service>('v1', 'Service', 'services'),
  event: res<CoreV1Event>('v1', 'Event', 'events'),
  node: res<V1Node>('v1', 'Node', 'nodes', false),
  namespace: res<KubernetesObject>('v1', 'Namespace', 'namespaces', false),
  job: res<V1Job>('batch/v1', 'Job', 'jobs'),
  deployment: res<V1Deployment>('apps/v1', 'Deployment', 'deployments'),
  storageClass: res<V1StorageClass>('storage.k8s.io/v1', 'StorageClass', 'storageclasses', false),
  lease: res<V1Lease>('coordination.k8s.io/v1', 'Lease', 'leases'),
  crd: res<KubernetesObject>('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'customresourcedefinitions', false),
  tokenReview: res<KubernetesObject>('authentication.k8s.io/v1', 'TokenReview', 'tokenreviews', false),
  subjectAccessReview: res<KubernetesObject>('authorization.k8s.io/v1', 'SubjectAccessReview', 'subjectaccessreviews', false),
  roleBinding: res<KubernetesObject>('rbac.authorization.k8s.io/v1', 'RoleBinding', 'rolebindings'),
  clusterRole: res<KubernetesObject>('rbac.authorization.k8s.io/v1', 'ClusterRole', 'clusterroles', false),
} as const;

function prefix(r: Resource): string {
  return r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
}

/** Collection path, across namespaces when `namespace` is omitted. */
export function collectionPath(r: Resource, namespace?: string): string {
  return r.namespaced && namespace ? `${prefix(r)}/namespaces/${namespace}/${r.plural}` : `${prefix(r)}/${r.plural}`;
}

/** Item path, optionally of a subresource such as `status`. */
export function itemPath(r: Resource, namespace: string | undefined, name: string, sub?: string): string {
  return `${collectionPath(r, namespace)}/${encodeURIComponent(name)}${sub ? `/${sub}` : ''}`;
}

/**
 * Checked before every write of a guarded {@link Kube}: throws to refuse the write (for a
 * controller, {@link LeadershipLostError} once its leadership term is over).
 */
export type WriteGuard = () => void;

/**
 * A write refused because the leadership term it belonged to has ended (the Lease was not renewed
 * within the renew deadline, or was handed over): the reconcile in flight stops at its next write
 * instead of racing the new leader (issue 12, "Leadership lost").
 */
export class LeadershipLostError extends Error {
  constructor(detail: string) {
    super(`not the leader any more (${detail}): write refused`);
    this.name = 'LeadershipLostError';
  }
}

/** Typed verbs over one KubeConfig. Every method throws KubeHttpError on non-2xx answers. */
export class Kube {
  /** @param guard runs before every create, replace, patch and delete (see {@link guarded}). */
  constructor(
    readonly kc: KubeConfig,
    private readonly guard?: WriteGuard,
    /** false: requests skip the client-side rate limit (see {@link unthrottled}). */
    private readonly throttle = true,
  ) {}

  /**
   * The same client, its requests not held back by the client-side rate limit of the KubeConfig
   * (src/kube/throttle.ts): for leader election, whose renewals must not queue behind a burst of
   * reconciles (client-go gives leader election a client of its own). Retry-After still holds.
   */
  unthrottled(): Kube {
    return new Kube(this.kc, this.guard, false);
  }

  /**
   * The same client, with `guard` checked before each write request is sent (it throws to
   * refuse it). Reads are never guarded. A leadership term's controllers write through one, so a
   * reconcile that outlives the term cannot write.
   */
  guarded(guard: WriteGuard): Kube {
    return new Kube(this.kc, guard, this.throttle);
  }

  get<T extends KubernetesObject>(r: Resource<T>, namespace: string | undefined, name: string): Promise<T> {
    return kubeRequest<T>(this.kc, 'GET', itemPath(r, namespace, name), { throttle: this.throttle });
  }

  list<T extends KubernetesObject>(r: Resource<T>, namespace?: string, labelSelector?: string): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }> {
    return kubeRequest(this.kc, 'GET', collectionPath(r, namespace), { query: { labelSelector }, throttle: this.throttle });
  }

  async create<T extends KubernetesObject>(r: Resource<T>, obj: T): Promise<T> {
    this.guard?.();
    const body = { apiVersion: r.apiVersion, kind: r.kind, ...obj };
    return kubeRequest<T>(this.kc, 'POST', collectionPath(r, obj.metadata?.namespace), { body, query: { fieldManager: FIELD_MANAGER }, guard: this.guard, throttle: this.throttle });
  }

  /** PUT with the object's resourceVersion: 409 when someone else wrote first. */
  async replace<T extends KubernetesObject>(r: Resource<T>, obj: T, sub?: string): Promise<T> {
    this.guard?.();
    return kubeRequest<T>(this.kc, 'PUT', itemPath(r, obj.metadata?.namespace, obj.metadata!.name!, sub), {
      // Items of a list arrive without kind and apiVersion (W9); the API server needs them.
      body: { ...obj, apiVersion: obj.apiVersion ?? r.apiVersion, kind: obj.kind ?? r.kind },
      query: { fieldManager: FIELD_MANAGER },
      guard: this.guard,
      throttle: this.throttle,
    });
  }

  async patch<T extends KubernetesObject>(r: Resource<T>, namespace: string | undefined, name: string, patch: unknown, type: PatchType, sub?: string): Promise<T> {
    this.guard?.();
    return kubeRequest<T>(this.kc, 'PATCH', itemPath(r, namespace, name, sub), {
      body: patch,
      patchType: type,
      query: { fieldManager: FIELD_MANAGER, force: type === 'apply' ? true : undefined },
      guard: this.guard,
      throttle: this.throttle,
    });
  }

  /** Server-side apply of a whole desired object with the service's field manager. */
  apply<T extends KubernetesObject>(r: Resource<T>, obj: T): Promise<T> {
    const body = { apiVersion: r.apiVersion, kind: r.kind, ...obj };
    return this.patch(r, obj.metadata?.namespace, obj.metadata!.name!, body, 'apply');
  }

  /**
   * Deletes with background propagation (owned objects are garbage-collected).
   * `preconditions` guards against deleting a re-created object of the same name.
   */
  async delete(r: Resource, namespace: string | undefined, name: string, preconditions?: { uid?: string; resourceVersion?: string }): Promise<unknown> {
    this.guard?.();
    return kubeRequest(this.kc, 'DELETE', itemPath(r, namespace, name), {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions },
      guard: this.guard,
      throttle: this.throttle,
    });
  }
}
