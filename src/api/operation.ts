/**
 * Rules of an operationID that the API service and the controllers both apply: the name of the
 * GPUOperation record that holds it and the request hash that tells a replay from a conflicting
 * payload. Source: ../shared/spec/contract.md ("Idempotency": operationID; "GPUUnit": request-hash).
 */
import { canonicalJSON } from './canonical-json';
import { sha256Hex } from './naming';
import { parseQuantity, quantityToBytes } from './quantity';

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
export function seedRequestHash(request: SeedRequest): string {
  const q = parseQuantity(request.memory);
  return requestHash({ ...request, memory: q ? String(quantityToBytes(q)) : request.memory });
}
