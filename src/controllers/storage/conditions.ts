/**
 * Status conditions of GPUStorage and GPUUnit in the metav1.Condition shape (contract: "conditions
 * … metav1.Condition shape: type, status, reason, message, observedGeneration, lastTransitionTime").
 */
import type { Condition } from '../../api/types';

/** A condition without its transition time: `status` is True when `ok`. */
export function condition(type: string, ok: boolean, reason: string, message: string): Omit<Condition, 'lastTransitionTime'> {
  return { type, status: ok ? 'True' : 'False', reason, message };
}

/**
 * Conditions with lastTransitionTime kept from `prev` when the status did not change
 * (metav1.Condition semantics, as apimachinery's meta.SetStatusCondition).
 */
export function mergeConditions(
  prev: Condition[] | undefined,
  next: Omit<Condition, 'lastTransitionTime'>[],
  generation: number | undefined,
  now: string,
): Condition[] {
  return next.map((c) => {
    const old = prev?.find((p) => p.type === c.type);
    return {
      ...c,
      observedGeneration: generation,
      lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now,
    };
  });
}
