/**
 * The contract's view of a GPUUnit (REST `data`, GraphQL `Unit`): what a caller sees of a unit,
 * derived from the object alone. Source: ../shared/spec/contract.md ("Unit view fields").
 */
import { ANNOTATIONS } from '../api/constants';
import type { Condition, GPUUnit, StorageMount, UnitAccess, UnitTemplate } from '../api/types';
import { isStock } from '../api/units';
import { sourceStockOf } from '../api/stock';

/** The contract's unit view (REST `data`, GraphQL `Unit`). */
export interface UnitView {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  createdAt: string;
  lifecycle: 'stock' | 'instance';
  specName: string;
  operationID?: string;
  sourceStockName?: string;
  sourceStockNamespace?: string;
  image?: string;
  memory: string;
  gpu: number;
  template?: UnitTemplate;
  /** With defaults filled in: scheme http, primaryPort the first port. */
  access?: UnitAccess;
  storageMounts: StorageMount[];
  phase: string;
  readyReplicas: number;
  observedGeneration?: number;
  lastSyncTime?: string;
  serviceName?: string;
  accessURL?: string;
  reason?: string;
  message?: string;
  conditions: Condition[];
}

/** Builds the view of a unit. */
export function toUnitView(u: GPUUnit): UnitView {
  const ready = u.status?.conditions?.find((c) => c.type === 'Ready');
  const src = sourceStockOf(u);
  const ports = u.spec.template?.ports ?? [];
  const stock = isStock(u);
  return {
    name: u.metadata.name!,
    namespace: u.metadata.namespace!,
    uid: u.metadata.uid ?? '',
    resourceVersion: u.metadata.resourceVersion ?? '',
    createdAt: u.metadata.creationTimestamp ? new Date(u.metadata.creationTimestamp).toISOString() : '',
    lifecycle: stock ? 'stock' : 'instance',
    specName: u.spec.specName,
    operationID: u.metadata.annotations?.[ANNOTATIONS.operationID],
    sourceStockName: src?.name,
    sourceStockNamespace: src?.namespace,
    image: u.spec.image,
    memory: u.spec.memory,
    gpu: u.spec.gpu ?? 0,
    template: u.spec.template,
    access: stock ? undefined : { primaryPort: u.spec.access?.primaryPort ?? ports[0]?.name, scheme: u.spec.access?.scheme || 'http' },
    storageMounts: (u.spec.storageMounts ?? []).map((m) => ({ name: m.name, mountPath: m.mountPath, readOnly: !!m.readOnly })),
    phase: u.status?.phase ?? 'Progressing',
    readyReplicas: u.status?.readyReplicas ?? 0,
    observedGeneration: u.status?.observedGeneration,
    lastSyncTime: u.status?.lastSyncTime,
    serviceName: u.status?.serviceName,
    accessURL: u.status?.accessURL,
    reason: ready?.reason,
    message: ready?.message,
    conditions: u.status?.conditions ?? [],
  };
}
