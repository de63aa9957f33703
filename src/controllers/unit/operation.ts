/**
 * Pure rules of the stock-seeding operation (GPUOperation, type seed_stock_units): the stock units
 * it makes and how its status follows from what exists (the record's name and the request hash,
 * which the API service needs too, are in ../../api/operation.ts).
 * Source: ../shared/spec/contract.md ("GPUUnit": batch `stock-<spec>-<10 hex>`, units
 * `<batch>-001`…, annotations operation-id, request-hash, stock-replicas, stock-ordinal; "A stock
 * operation is `succeeded` once all its units exist").
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { ANNOTATIONS, API_VERSION, STOCK_NAMESPACE } from '../../api/constants';
import { stockBatchName, stockUnitName } from '../../api/naming';
import type { GPUOperation, GPUUnit } from '../../api/types';
import { unitLabels } from '../../api/units';

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
