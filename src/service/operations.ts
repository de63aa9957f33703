/**
 * Stock seeding as an operation keyed by the caller's operationID (REST POST
 * /api/v1/operator/stock-units and GET /api/v1/operator/jobs/{operationID}; GraphQL builds on the
 * same functions).
 *
 * The record is a GPUOperation in runtime-stock named `seed-<sha256(operationID)…>`, created
 * synchronously; the OperationController (src/controllers/unit/controller.ts) makes the units in
 * the background, level-triggered from the record, so an operation survives a restart of the
 * service and every replica sees it. Replaying the same payload answers the same operation
 * (200 instead of 202); the same operationID with another payload is a conflict (409).
 * Source: ../shared/spec/contract.md ("GPUUnit", "Rules the API enforces", REST table).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, STOCK_NAMESPACE } from '../api/constants';
import { stockBatchName } from '../api/naming';
import type { GPUOperation, OperationPhase } from '../api/types';
import { operationObjectName, seedRequestHash, type SeedRequest } from '../api/operation';
import { isAlreadyExists, isInvalid, isNotFound, kubeMessageOf } from '../kube/errors';
import { R } from '../kube/resources';
import { awaitCached, requestedBy, type RequestContext, type ServiceContext } from './context';
import { conflict, invalid, notFound, ValidationError } from './errors';
import { onlyKnownFields, optInt, optObject, positiveQuantity, reqString } from './validate';

type OperationObject = GPUOperation & KubernetesObject;

/** Most stock units one operation may seed (unit names carry a 3-digit ordinal). */
export const MAX_SEED_REPLICAS = 100;
/** GPUs per unit (the CRD's bound). */
export const MAX_UNIT_GPU = 64;

/** The contract's view of an operation (GET /api/v1/operator/jobs/{operationID}). */
export interface OperationView {
  /** The record's name in runtime-stock (`kubectl get gpuoperation <id> -n runtime-stock`). */
  id: string;
  operationID: string;
  type: 'seed_stock_units';
  status: OperationPhase;
  error?: string;
  /** The batch name: stock units are `<objectName>-001` … */
  objectName: string;
  objectNamespace: string;
  /** Names of the stock units made, once known. */
  objects: string[];
  request?: SeedRequest;
  createdAt: string;
  updatedAt: string;
}

/** A validated seeding request. */
export interface SeedStockInput extends SeedRequest {
  operationID: string;
}

/** specName: what a label value allows, short enough that `stock-<spec>-<10 hex>-NNN` fits 63. */
const SPEC_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
export const MAX_SPEC_NAME = 42;

/**
 * A specName such as `g1.1`: letters, digits, `.`, `_`, `-`, alphanumeric at both ends, at most
 * 42 characters (so the batch name and the unit names stay within 63 characters).
 * @throws ValidationError naming `field`.
 */
export function specName(v: unknown, field = 'specName'): string {
  const s = reqString(v, field);
  if (s.length > MAX_SPEC_NAME) throw invalid(field, `must be at most ${MAX_SPEC_NAME} characters (got ${s.length})`);
  if (!SPEC_NAME.test(s)) throw invalid(field, `"${s}" may hold letters, digits, ".", "_" and "-", starting and ending with a letter or digit`);
  return s;
}

/** An operationID: a non-empty string of at most 253 characters. @throws ValidationError. */
export function operationID(v: unknown, field = 'operationID'): string {
  const s = reqString(v, field);
  if (s.length > 253) throw invalid(field, `must be at most 253 characters (got ${s.length})`);
  return s;
}

/**
 * Checks a seeding request's own validity: operationID, specName, memory (a quantity > 0),
 * gpu (integer 0–64, default 0), replicas (integer 1–100, default 1).
 * @throws ValidationError (400 invalid_request) naming the field.
 */
export function validateSeedStock(body: unknown): SeedStockInput {
  const b = optObject(body, 'body');
  if (!b) throw invalid('body', 'must be a JSON object');
  onlyKnownFields(b, 'body', ['operationID', 'specName', 'memory', 'gpu', 'replicas']);
  return {
    operationID: operationID(b.operationID),
    specName: specName(b.specName),
    memory: positiveQuantity(b.memory, 'memory').text,
    gpu: optInt(b.gpu, 'gpu', 0, MAX_UNIT_GPU) ?? 0,
    replicas: optInt(b.replicas, 'replicas', 1, MAX_SEED_REPLICAS) ?? 1,
  };
}

/** Builds the contract's view of a record. */
export function toOperationView(op: GPUOperation): OperationView {
  const created = op.metadata.creationTimestamp ? new Date(op.metadata.creationTimestamp).toISOString() : '';
  return {
    id: op.metadata.name!,
    operationID: op.spec.operationID,
    type: op.spec.type,
    status: op.status?.phase ?? 'pending',
    ...(op.status?.error ? { error: op.status.error } : {}),
    objectName: op.spec.objectName ?? '',
    objectNamespace: op.spec.objectNamespace ?? STOCK_NAMESPACE,
    objects: op.status?.objects ?? [],
    ...(op.spec.request ? { request: op.spec.request } : {}),
    createdAt: created,
    updatedAt: op.status?.updatedAt ?? created,
  };
}

/** The record of `operationID` from the cache, else from the API server (another replica may have just made it). */
async function findOperation(ctx: ServiceContext, id: string): Promise<OperationObject | undefined> {
  const name = operationObjectName(id);
  const cached = ctx.cache.operations.get(STOCK_NAMESPACE, name);
  if (cached) return cached;
  try {
    return await ctx.kube.get(R.operation, STOCK_NAMESPACE, name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Same operationID and payload: the same operation; same operationID, other payload: 409. */
function replayOrConflict(op: OperationObject, input: SeedStockInput, hash: string): OperationView {
  if (op.spec.operationID !== input.operationID || op.spec.requestHash !== hash) {
    throw conflict(`operationID ${input.operationID} was already used with another payload (operation ${op.metadata.name}); use a new operationID`);
  }
  return toOperationView(op);
}

/**
 * Accepts a seeding operation. The GPUOperation record is written before this answers; the units
 * are made in the background.
 * @returns the operation and `replay` (true: the same payload was accepted before; answer 200, else 202).
 * @throws ServiceError 400 invalid_request (naming the field), 409 operation_conflict (operationID
 *   reused with another payload).
 */
export async function seedStock(ctx: RequestContext, body: unknown): Promise<{ operation: OperationView; replay: boolean }> {
  await ctx.caller.require({ verb: 'create', resource: 'gpuoperations', namespace: STOCK_NAMESPACE });
  const input = validateSeedStock(body);
  const request: SeedRequest = { specName: input.specName, memory: input.memory, gpu: input.gpu, replicas: input.replicas };
  const hash = seedRequestHash(request);
  const existing = await findOperation(ctx, input.operationID);
  if (existing) return { operation: replayOrConflict(existing, input, hash), replay: true };
  const obj: OperationObject = {
    apiVersion: API_VERSION,
    kind: 'GPUOperation',
    metadata: { name: operationObjectName(input.operationID), namespace: STOCK_NAMESPACE, annotations: requestedBy(ctx) },
    spec: {
      operationID: input.operationID,
      type: 'seed_stock_units',
      requestHash: hash,
      objectName: stockBatchName(input.specName, input.operationID),
      objectNamespace: STOCK_NAMESPACE,
      request,
    },
  };
  let created: OperationObject;
  try {
    created = await ctx.kube.create(R.operation, obj);
  } catch (err) {
    if (isAlreadyExists(err)) {
      const raced = await findOperation(ctx, input.operationID);
      if (raced) return { operation: replayOrConflict(raced, input, hash), replay: true };
    }
    if (isInvalid(err)) throw new ValidationError(kubeMessageOf(err));
    throw err;
  }
  await awaitCached(ctx.cache.operations, created);
  return { operation: toOperationView(ctx.cache.operations.get(STOCK_NAMESPACE, created.metadata.name!) ?? created), replay: false };
}

/**
 * The operation of `operationID`.
 * @throws ServiceError 400 for an empty operationID, 404 job_not_found.
 */
export async function getOperation(ctx: RequestContext, id: unknown): Promise<OperationView> {
  const opID = operationID(id);
  await ctx.caller.require({ verb: 'get', resource: 'gpuoperations', namespace: STOCK_NAMESPACE, name: operationObjectName(opID) });
  const op = await findOperation(ctx, opID);
  if (!op || op.spec.operationID !== opID) throw notFound('job_not_found', `no operation with operationID ${opID}`);
  return toOperationView(op);
}

/** Every seeding operation known to the cache, newest first. @throws 403 when listing gpuoperations in runtime-stock is denied. */
export async function listOperations(ctx: RequestContext): Promise<OperationView[]> {
  await ctx.caller.require({ verb: 'list', resource: 'gpuoperations', namespace: STOCK_NAMESPACE });
  return ctx.cache.operations
    .list(STOCK_NAMESPACE)
    .map(toOperationView)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
}
