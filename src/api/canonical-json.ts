/**
 * Canonical JSON: equal objects serialise to equal strings whatever the order of their keys, so
 * they hash equally (the applied hash of owned objects, the request hash of an operationID).
 * safe-stable-stringify (deterministic: object keys sorted by UTF-16 code units, as
 * Array.prototype.sort does) with JSON.stringify's output for JSON data; a circular reference
 * throws a TypeError instead of being written as "[Circular]".
 */
import { configure } from 'safe-stable-stringify';

const stringify = configure({ deterministic: true, circularValue: TypeError });

/** `v` as JSON with every object's keys sorted; undefined for what JSON.stringify leaves out. @throws TypeError on a circular reference. */
export function canonicalJSON(v: unknown): string {
  return stringify(v) as string;
}
