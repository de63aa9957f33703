/**
 * Desired child objects of a GPUStorage: PVC, prepare Job, accessor Deployment and Service.
 * Pure builders; names, labels, mounts and ownerReferences per ../shared/spec/contract.md
 * ("Owned objects and naming").
 */
import type { V1Deployment, V1Job, V1PersistentVolumeClaim, V1Service, V1Affinity } from '@kubernetes/client-node';
import { controllerRef } from '../../kube/apply';
import {
  ACCESSOR_PORT,
  COMMON_LABELS,
  COPY_IMAGE,
  DEFAULT_STORAGE_CLASS,
  LABELS,
} from '../../api/constants';
import { accessorDeploymentName, accessorName, prepareJobName } from '../../api/naming';
import type { GPUStorage } from '../../api/types';
import { accessorContainer } from './accessor-server';
import { COPY_PLACEMENT_ANNOTATION, placementAffinity, placementNote, type CopyPlacement } from './placement';

/** Labels on a storage's children: the common ones plus `runtime.lokiwager.io/storage=<name>`. */
export function storageLabels(storage: GPUStorage, extra: Record<string, string> = {}): Record<string, string> {
  return { ...COMMON_LABELS, [LABELS.storage]: storage.metadata.name!, ...extra };
}

/** PVC `<name>`: ReadWriteOnce, requests spec.size, class spec.storageClassName. */
export function desiredPVC(storage: GPUStorage): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: storage.metadata.name!,
      namespace: storage.metadata.namespace!,
      labels: storageLabels(storage),
      ownerReferences: [controllerRef('GPUStorage', storage)],
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      storageClassName: storage.spec.storageClassName ?? DEFAULT_STORAGE_CLASS,
      resources: { requests: { storage: storage.spec.size } },
    },
  };
}

export interface PrepareJobOptions {
  ttlSecondsAfterFinished: number;
  activeDeadlineSeconds: number;
}

/**
 * The prepare Job of one attempt: `storage-prepare-<name>-<digest>`, backoffLimit 0,
 * restartPolicy Never, a TTL for finished Jobs and a deadline for attempts whose pod never
 * starts. From an image: the image, command and args as given, target PVC at /workspace. From a
 * storage: a copy container with the source PVC read-only at /source and the target at /workspace;
 * with a `placement` (contract: a ReadWriteOnce source in use by a pod "pins the copy to that
 * pod's node") the pod gets required node affinity to that node and the Job an annotation saying so.
 */
export function desiredPrepareJob(storage: GPUStorage, digest: string, opts: PrepareJobOptions, placement?: CopyPlacement): V1Job {
  const name = storage.metadata.name!;
  const prepare = storage.spec.prepare!;
  const podLabels = storageLabels(storage, { [LABELS.storagePrepare]: name });
  const workspace = { name: 'workspace', mountPath: '/workspace' };
  const volumes: NonNullable<NonNullable<V1Job['spec']>['template']['spec']>['volumes'] = [
    { name: 'workspace', persistentVolumeClaim: { claimName: name } },
  ];
  let container;
  if (prepare.fromStorageName) {
    volumes.push({ name: 'source', persistentVolumeClaim: { claimName: prepare.fromStorageName, readOnly: true } });
    container = {
      name: 'copy',
      image: COPY_IMAGE,
      command: ['sh', '-c', 'set -e; cp -a /source/. /workspace/; echo "copied $(du -sh /workspace | cut -f1) from source"'],
      volumeMounts: [{ name: 'source', mountPath: '/source', readOnly: true }, workspace],
      terminationMessagePolicy: 'FallbackToLogsOnError',
    };
  } else {
    container = {
      name: 'prepare',
      image: prepare.fromImage!,
      ...(prepare.command?.length ? { command: prepare.command } : {}),
      ...(prepare.args?.length ? { args: prepare.args } : {}),
      volumeMounts: [workspace],
      terminationMessagePolicy: 'FallbackToLogsOnError',
    };
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: prepareJobName(name, digest),
      namespace: storage.metadata.namespace!,
      labels: podLabels,
      annotations: { 'runtime.lokiwager.io/prepare-digest': digest, ...(placement ? { [COPY_PLACEMENT_ANNOTATION]: placementNote(placement) } : {}) },
      ownerReferences: [controllerRef('GPUStorage', storage)],
    },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: opts.ttlSecondsAfterFinished,
      activeDeadlineSeconds: opts.activeDeadlineSeconds,
      template: {
        metadata: { labels: podLabels },
        spec: {
          restartPolicy: 'Never',
          ...(placement ? { affinity: placementAffinity(placement) } : {}),
          containers: [container],
          volumes,
        },
      },
    },
  };
}

/**
 * Accessor Deployment `storage-accessor-<name>`: one replica (zero while a prepare attempt runs),
 * nginx serving the PVC mounted read-only on port 8080 named `http`, listing its directories
 * ({@link accessorContainer}; contract: "`/` lists the volume's root"). When a unit's pod
 * uses the volume, `nodeName` pins the accessor to that node (ReadWriteOnce attaches to one node).
 */
export function desiredAccessorDeployment(storage: GPUStorage, replicas: 0 | 1, nodeName?: string): V1Deployment {
  const name = storage.metadata.name!;
  const labels = storageLabels(storage, { [LABELS.storageAccessor]: name });
  const affinity: V1Affinity | undefined = nodeName
    ? {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [nodeName] }] }],
          },
        },
      }
    : undefined;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: accessorDeploymentName(name),
      namespace: storage.metadata.namespace!,
      labels,
      ownerReferences: [controllerRef('GPUStorage', storage)],
    },
    spec: {
      replicas,
      selector: { matchLabels: { [LABELS.storageAccessor]: name } },
      strategy: { type: 'Recreate' },
      template: {
        metadata: { labels },
        spec: {
          ...(affinity ? { affinity } : {}),
          containers: [accessorContainer()],
          volumes: [
            { name: 'data', persistentVolumeClaim: { claimName: name, readOnly: true } },
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
          ],
        },
      },
    },
  };
}

/** Accessor Service `storage-accessor-<name>`: port 8080 named `http`, selecting the accessor pods. */
export function desiredAccessorService(storage: GPUStorage): V1Service {
  const name = storage.metadata.name!;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: accessorName(name),
      namespace: storage.metadata.namespace!,
      labels: storageLabels(storage, { [LABELS.storageAccessor]: name }),
      ownerReferences: [controllerRef('GPUStorage', storage)],
    },
    spec: {
      selector: { [LABELS.storageAccessor]: name },
      ports: [{ name: 'http', port: ACCESSOR_PORT, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}
