/**
 * Rules of a GPUUnit that the API service and the unit controller both apply: which units are
 * stock, the labels a unit and its children carry, and the env names the platform injects.
 * Source: ../shared/spec/contract.md ("GPUUnit", "Labels on everything the platform creates").
 */
import { COMMON_LABELS, LABELS, STOCK_NAMESPACE } from './constants';
import type { GPUUnit } from './types';

/** Env names the platform injects into every active unit's container; a template may not set them. */
export const INJECTED_ENV = ['SPEC_NAME', 'UNIT_NAME', 'GPU_COUNT', 'MEMORY_LIMIT'] as const;

/** True for a unit in the stock namespace (contract: "A unit in runtime-stock is stock"). */
export function isStock(unit: GPUUnit): boolean {
  return unit.metadata.namespace === STOCK_NAMESPACE;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * Labels of a unit and its children: the common ones, `runtime.lokiwager.io/unit=<name>`,
 * `runtime.lokiwager.io/lifecycle=stock|instance` and `runtime.lokiwager.io/spec-name` (left out
 * when the specName is not a valid label value, which only a hand-written manifest can cause).
 */
export function unitLabels(unit: Pick<GPUUnit, 'metadata' | 'spec'>): Record<string, string> {
  const specName = unit.spec.specName;
  return {
    ...COMMON_LABELS,
    [LABELS.unit]: unit.metadata.name!,
    [LABELS.lifecycle]: unit.metadata.namespace === STOCK_NAMESPACE ? 'stock' : 'instance',
    ...(specName && specName.length <= 63 && LABEL_VALUE.test(specName) ? { [LABELS.specName]: specName } : {}),
  };
}
