/**
 * Input checks shared by GraphQL and REST: types first (a REST body is any JSON), then the
 * contract's rules, each failure a 400 `invalid_request` naming the field.
 * Rules: ../shared/spec/contract.md ("Rules the API enforces", GPUStorage/GPUUnit spec tables).
 */
import { invalid } from './errors';
import { isDNS1123Label, resourceNameProblem } from '../api/naming';
import { parseQuantity, type Quantity } from '../api/quantity';

type Obj = Record<string, unknown>;

/** A JSON object (not null, not an array). */
export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value as an object, or undefined when absent/null. @throws invalid_request for other types. */
export function optObject(v: unknown, field: string): Obj | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw invalid(field, 'must be an object');
  return v;
}

/** @throws invalid_request when `v` is not a non-empty string. */
export function reqString(v: unknown, field: string): string {
  if (typeof v !== 'string') throw invalid(field, v === undefined || v === null ? 'is required' : 'must be a string');
  if (v.trim() === '') throw invalid(field, 'must not be empty');
  return v;
}

/** The value as a string, or undefined when absent, null or empty. @throws invalid_request for other types. */
export function optString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(field, 'must be a string');
  return v;
}

/** The value as a boolean, or undefined when absent/null. @throws invalid_request for other types. */
export function optBool(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalid(field, 'must be true or false');
  return v;
}

/** The value as an integer in [min, max], or undefined when absent/null. @throws invalid_request naming the field otherwise. */
export function optInt(v: unknown, field: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(field, 'must be an integer');
  if (v < min || v > max) throw invalid(field, `must be between ${min} and ${max}`);
  return v;
}

/** The value as a list of strings, or undefined when absent/null. @throws invalid_request for anything else. */
export function optStringList(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw invalid(field, 'must be a list of strings');
  return v as string[];
}

/** The value as a list (items unchecked), or undefined when absent/null. @throws invalid_request for other types. */
export function optArray(v: unknown, field: string): unknown[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw invalid(field, 'must be a list');
  return v;
}

/** A GPUStorage/GPUUnit name: DNS-1123 subdomain of at most 63 characters. */
export function resourceName(v: unknown, field = 'name'): string {
  const s = reqString(v, field);
  const problem = resourceNameProblem(s);
  if (problem) throw invalid(field, `"${s}" ${problem}`);
  return s;
}

/** A namespace: DNS-1123 label; `fallback` when absent. */
export function namespaceName(v: unknown, fallback: string, field = 'namespace'): string {
  const s = optString(v, field) ?? fallback;
  if (!isDNS1123Label(s)) throw invalid(field, `"${s}" must be a DNS-1123 label (lowercase letters, digits and "-", at most 63 characters)`);
  return s;
}

/** A quantity greater than zero, e.g. `20Gi`. */
export function positiveQuantity(v: unknown, field: string): Quantity {
  const s = reqString(v, field);
  const q = parseQuantity(s);
  if (!q) throw invalid(field, `"${s}" is not a Kubernetes quantity (for example 20Gi, 512Mi, 1.5G)`);
  if (q.num <= 0n) throw invalid(field, `must be greater than zero (got "${s}")`);
  return q;
}

/** Kubernetes keeps quantities as int64: the largest byte count it can hold. */
const MAX_BYTES = 2n ** 63n - 1n;

/**
 * A size in bytes: a quantity greater than zero, a whole number of bytes, and within what the API
 * server can represent (int64). @throws invalid_request naming the field.
 */
export function byteSize(v: unknown, field: string): Quantity {
  const q = positiveQuantity(v, field);
  if (q.num % q.den !== 0n) throw invalid(field, `"${q.text}" is not a whole number of bytes (use for example 512Mi or 20Gi)`);
  if (q.num / q.den > MAX_BYTES) throw invalid(field, `"${q.text}" is larger than Kubernetes can represent (at most 8Ei)`);
  return q;
}

/**
 * Refuses fields the API does not know, so a typo ("acessor") is an error naming it rather than
 * silently ignored. @throws invalid_request naming the first unknown field.
 */
export function onlyKnownFields(obj: Record<string, unknown>, where: string, known: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) {
      const field = where === 'body' ? k : `${where}.${k}`;
      throw invalid(field, `unknown field; expected one of ${known.join(', ')}`);
    }
  }
}

/**
 * The namespace a request body names (`fallback` when it names none), read before the body is
 * validated so that authorization can be asked first (contract order: 401 → 403 → 400); undefined
 * when the namespace is malformed (validation then answers 400 naming it).
 */
export function namespaceOf(body: unknown, fallback: string): string | undefined {
  const ns = isObject(body) ? body.namespace : undefined;
  if (ns === undefined || ns === null || ns === '') return fallback;
  return typeof ns === 'string' && isDNS1123Label(ns) ? ns : undefined;
}
