/**
 * What a Job's conditions say (Kubernetes Job API: Complete / SuccessCriteriaMet, Failed /
 * FailureTarget): whether a prepare Job can still run, which the API service (recover, clone
 * checks) and the storage controller both ask. Pure functions.
 */
import type { V1Job } from '@kubernetes/client-node';

/** True while a prepare Job can still run a pod: not being deleted and without an outcome. */
export function isJobActive(job: V1Job): boolean {
  return !job.metadata?.deletionTimestamp && !jobOutcome(job);
}

/** Job outcome: Complete/SuccessCriteriaMet → succeeded; Failed/FailureTarget → failed. */
export function jobOutcome(job: V1Job): { done: 'succeeded' } | { done: 'failed'; reason: string; message: string } | undefined {
  const conds = job.status?.conditions ?? [];
  const on = (t: string) => conds.find((c) => c.type === t && c.status === 'True');
  if (on('Complete') || on('SuccessCriteriaMet')) return { done: 'succeeded' };
  const failed = on('Failed') ?? on('FailureTarget');
  if (failed) return { done: 'failed', reason: failed.reason ?? 'Failed', message: failed.message ?? '' };
  return undefined;
}
