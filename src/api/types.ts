/**
 * TypeScript shapes of the custom resources in crds/. Field names and meanings follow
 * ../shared/spec/contract.md; the CRD schemas are the source of truth for what the API server keeps.
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';

/** metav1.Condition (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/object-meta/). */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  /** RFC 3339 time of the last status change. */
  lastTransitionTime: string;
}

export interface PrepareSpec {
  fromImage?: string;
  fromStorageName?: string;
  command?: string[];
  args?: string[];
}

export interface GPUStorageSpec {
  /** Kubernetes quantity, e.g. `20Gi`. */
  size: string;
  storageClassName?: string;
  prepare?: PrepareSpec;
  accessor?: { enabled?: boolean };
}

export type StoragePhase = 'Pending' | 'Ready' | 'Failed';
export type PreparePhase = 'NotRequested' | 'Pending' | 'Running' | 'Succeeded' | 'Failed';
export type RecoveryPhase = 'None' | 'Required' | 'Running' | 'Succeeded';
export type AccessorPhase = 'Disabled' | 'Pending' | 'Ready' | 'Failed';

/** A failed prepare attempt, kept in status after later attempts. */
export interface PrepareFailure {
  /** The Job's reason (BackoffLimitExceeded, DeadlineExceeded, …) or the platform's (JobDeleted, SourceDeleted, …). */
  reason: string;
  exitCode?: number;
  message: string;
  jobName?: string;
  time: string;
}

export interface PrepareStatus {
  phase: PreparePhase;
  jobName?: string;
  /** 12 hex chars, see digest.ts. */
  observedDigest?: string;
  recoveryPhase: RecoveryPhase;
  /** Jobs created for this storage, all attempts. */
  attempts?: number;
  message?: string;
  startTime?: string;
  completionTime?: string;
  sourceUID?: string;
  lastFailure?: PrepareFailure;
  /** The last {@link PREPARE_HISTORY_LIMIT} attempts, oldest first (the oldest is dropped first). */
  history?: PrepareAttempt[];
}

/** How many attempts status.prepare.history keeps. */
export const PREPARE_HISTORY_LIMIT = 5;

/** One prepare attempt (one Job) in status.prepare.history. */
export interface PrepareAttempt {
  jobName: string;
  /** The attempt's data digest (12 hex chars). */
  digest: string;
  startTime?: string;
  /** When it ended; unset while it runs. */
  completionTime?: string;
  /** Pending or Running while it runs, then Succeeded or Failed. */
  result: PreparePhase;
  /** Why it failed (the Job's or the platform's reason). */
  reason?: string;
  exitCode?: number;
}

export interface AccessorStatus {
  phase: AccessorPhase;
  serviceName?: string;
  accessURL?: string;
  readyReplicas?: number;
  message?: string;
}

export interface GPUStorageStatus {
  claimName?: string;
  capacity?: string;
  phase?: StoragePhase;
  observedGeneration?: number;
  lastSyncTime?: string;
  prepare?: PrepareStatus;
  accessor?: AccessorStatus;
  conditions?: Condition[];
}

export interface GPUStorage {
  apiVersion: string;
  kind: 'GPUStorage';
  metadata: V1ObjectMeta;
  spec: GPUStorageSpec;
  status?: GPUStorageStatus;
}

export interface UnitPort {
  name: string;
  port: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

export interface UnitTemplate {
  command?: string[];
  args?: string[];
  envs?: { name: string; value?: string }[];
  ports?: UnitPort[];
}

export interface UnitAccess {
  primaryPort?: string;
  scheme?: string;
}

export interface StorageMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}

export interface GPUUnitSpec {
  specName: string;
  image?: string;
  /** Kubernetes quantity. */
  memory: string;
  gpu?: number;
  template?: UnitTemplate;
  access?: UnitAccess;
  storageMounts?: StorageMount[];
}

export type UnitPhase = 'Ready' | 'Progressing' | 'Failed' | 'Empty';

export interface GPUUnitStatus {
  readyReplicas?: number;
  phase?: UnitPhase;
  observedGeneration?: number;
  lastSyncTime?: string;
  serviceName?: string;
  accessURL?: string;
  conditions?: Condition[];
}

export interface GPUUnit {
  apiVersion: string;
  kind: 'GPUUnit';
  metadata: V1ObjectMeta;
  spec: GPUUnitSpec;
  status?: GPUUnitStatus;
}

export type OperationPhase = 'pending' | 'running' | 'succeeded' | 'failed';

export interface GPUOperation {
  apiVersion: string;
  kind: 'GPUOperation';
  metadata: V1ObjectMeta;
  spec: {
    operationID: string;
    type: 'seed_stock_units';
    requestHash: string;
    objectName?: string;
    objectNamespace?: string;
    request?: { specName: string; memory: string; gpu: number; replicas: number };
  };
  status?: {
    phase?: OperationPhase;
    error?: string;
    objects?: string[];
    updatedAt?: string;
  };
}
