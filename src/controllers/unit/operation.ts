/**
 * Pure rules of the stock-seeding operation (GPUOperation, type seed_stock_units): the record's
 * name, the request hash, the stock units it makes and how its status follows from what exists.
 * Source: ../shared/spec/contract.md ("GPUUnit": batch `stock-<spec>-<10 hex>`, units
 * `<batch>-001`…, annotations operation-id, request-hash, stock-replicas, stock-ordinal; "A stock
 * operation is `succeeded` once all its units exist").
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseQuantity, quantityToBytes } from '../../api/quantity';
import { ANNOTATIONS, API_VERSION, STOCK_NAMESPACE } from '../../api/constants';
import { sha256Hex, stockBatchName, stockUnitName } from '../../api/naming';
import type { GPUOperation, GPUUnit } from '../../api/types';
import { canonicalJSON } from '../../kube/apply';
import { unitLabels } from './children';

/** The seeding request as the record keeps it. */
export interface SeedRequest {
  specName: string;
  memory: string;
  gpu: number;
  replicas: number;
}

/**
 * Name of the GPUOperation record of `operationID`: `seed-<first 20 hex of sha256(operationID)>`
 * (an operationID is any string, not necessarily a valid object name). Deterministic, so every
 * replica finds the same record and a concurrent duplicate create answers AlreadyExists.
 */
export function operationObjectName(operationID: string): string {
  return `seed-${sha256Hex(operationID).slice(0, 20)}`;
}

/** First 16 hex of sha256 over the canonical JSON of a request (keys sorted): the idempotency key's payload check. */
export function requestHash(request: unknown): string {
  return sha256Hex(canonicalJSON(request)).slice(0, 16);
}

/**
 * The payload hash of a stock-seeding request, with the memory quantity compared by value
 * (16Gi and 16384Mi are the same payload).
 */
export function seedRequestHash(request: { specName: string; memory: string; gpu: number; replicas: number }): string {
  const q = parseQuantity(request.memory);
  return requestHash({ ...request, memory: q ? String(quantityToBytes(q)) : request.memory });
}

/** Names of the stock units an operation makes: `<batch>-001` … `<batch>-<replicas>`. */
export function operationUnitNames(op: GPUOperation): string[] {
  const r = op.spec.request;
  if (!r) return [];
  const batch = stockBatchName(r.specName, op.spec.operationID);
  return Array.from({ length: r.replicas }, (_, i) => stockUnitName(batch, i + 1));
}

/**
 * The stock unit number `ordinal` (1-based) of an operation, in runtime-stock, labelled per the
 * contract and annotated with operation-id, request-hash, stock-replicas and stock-ordinal.
 * No ownerReference to the record: deleting a record must not delete capacity.
 */
export function desiredStockUnit(op: GPUOperation, ordinal: number): GPUUnit & KubernetesObject {
  const r = op.spec.request!;
  const name = stockUnitName(stockBatchName(r.specName, op.spec.operationID), ordinal);
  const metadata = {
    name,
    namespace: STOCK_NAMESPACE,
    annotations: {
      [ANNOTATIONS.operationID]: op.spec.operationID,
      [ANNOTATIONS.requestHash]: op.spec.requestHash,
      [ANNOTATIONS.stockReplicas]: String(r.replicas),
      [ANNOTATIONS.stockOrdinal]: String(ordinal),
    },
  };
  const spec = { specName: r.specName, memory: r.memory, gpu: r.gpu };
  return { apiVersion: API_VERSION, kind: 'GPUUnit', metadata: { ...metadata, labels: unitLabels({ metadata, spec }) }, spec };
}

/** An operation is finished (succeeded or failed): its reconciler does nothing more. */
export function operationFinished(op: GPUOperation): boolean {
  return op.status?.phase === 'succeeded' || op.status?.phase === 'failed';
}
