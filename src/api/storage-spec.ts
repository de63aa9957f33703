/**
 * The rules a GPUStorage spec must satisfy that the CRD's schema and CEL rules cannot state (or
 * that an object applied with kubectl may have bypassed), shared by the service (which refuses such
 * a request with 400) and the storage controller (which marks such an object `Failed` with reason
 * `StorageInvalidSpec`, creates no children and does not requeue). Rules: ../shared/spec/contract.md
 * ("Rules the API enforces").
 */
import { STOCK_NAMESPACE } from './constants';
import { parseQuantity } from './quantity';
import type { GPUStorageSpec } from './types';

/** The largest quantity Kubernetes represents: 8 EiB. */
const MAX_BYTES = 8n * 1024n ** 6n;

/** What is wrong with a spec: the field (dotted path from the object root) and why. */
export interface SpecProblem {
  field: string;
  message: string;
}

/**
 * The first problem of storage `name`'s `spec` in `namespace`, or undefined when it is valid.
 * Pure; checks only the spec itself (existence of a clone source or a StorageClass is the
 * controller's observation, not a spec error).
 */
export function storageSpecProblem(namespace: string, name: string, spec: GPUStorageSpec | undefined): SpecProblem | undefined {
  if (namespace === STOCK_NAMESPACE) return { field: 'metadata.namespace', message: `storage may not live in the stock namespace ${STOCK_NAMESPACE}` };
  if (!spec) return { field: 'spec', message: 'is missing' };
  const q = typeof spec.size === 'string' ? parseQuantity(spec.size) : undefined;
  if (!q || q.num <= 0n) return { field: 'spec.size', message: `"${String(spec.size)}" is not a quantity greater than zero (for example 20Gi)` };
  if (q.num % q.den !== 0n) return { field: 'spec.size', message: `"${spec.size}" is not a whole number of bytes (use for example 512Mi or 20Gi)` };
  if (q.num / q.den > MAX_BYTES) return { field: 'spec.size', message: `"${spec.size}" is larger than Kubernetes can represent (at most 8Ei)` };
  const p = spec.prepare;
  if (!p) return undefined;
  const hasCmd = !!p.command?.length || !!p.args?.length;
  if (p.fromImage && p.fromStorageName) return { field: 'spec.prepare', message: 'fromImage and fromStorageName are exclusive; give one' };
  if (!p.fromImage && !p.fromStorageName) return { field: 'spec.prepare', message: 'needs fromImage or fromStorageName' };
  if (p.fromImage && /\s/.test(p.fromImage)) return { field: 'spec.prepare.fromImage', message: `"${p.fromImage}" is not an image reference` };
  if (p.fromImage && !hasCmd) return { field: 'spec.prepare', message: 'fromImage needs command or args' };
  if (p.fromStorageName && hasCmd) return { field: 'spec.prepare.command', message: 'command and args are only allowed with fromImage (a clone runs the platform copy)' };
  if (p.fromStorageName === name) return { field: 'spec.prepare.fromStorageName', message: 'a storage cannot be cloned from itself' };
  return undefined;
}
