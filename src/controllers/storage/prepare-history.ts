/**
 * status.prepare.history: the last attempts of a storage's prepare, kept across recovers so a user
 * sees what ran before (contract "GPUStorage" status; issue 11). Pure.
 */
import { PREPARE_HISTORY_LIMIT, type PrepareAttempt, type PrepareStatus } from '../../api/types';

/** Prepare phases an attempt ends in. */
export const FINAL_PHASES: ReadonlySet<string> = new Set(['Succeeded', 'Failed']);

/**
 * status.prepare.history after this reconcile: the current attempt (once it has a Job) upserted by
 * its Job name with its phase, times, and failure reason and exit code; earlier attempts as they
 * were; the oldest dropped first beyond {@link PREPARE_HISTORY_LIMIT}. Pure and stable: an attempt
 * that did not change yields the same list (an idle storage writes nothing).
 */
export function nextPrepareHistory(prev: PrepareAttempt[] | undefined, current: PrepareStatus): PrepareAttempt[] | undefined {
  const list = [...(prev ?? [])];
  if (current.jobName && current.observedDigest) {
    const failed = current.phase === 'Failed' && current.lastFailure?.jobName === current.jobName ? current.lastFailure : undefined;
    const entry: PrepareAttempt = {
      jobName: current.jobName,
      digest: current.observedDigest,
      ...(current.startTime ? { startTime: current.startTime } : {}),
      ...(FINAL_PHASES.has(current.phase) && current.completionTime ? { completionTime: current.completionTime } : {}),
      result: current.phase,
      ...(failed ? { reason: failed.reason } : {}),
      ...(failed?.exitCode !== undefined ? { exitCode: failed.exitCode } : {}),
    };
    const at = list.findIndex((a) => a.jobName === entry.jobName);
    if (at >= 0) list[at] = entry;
    else list.push(entry);
  }
  const kept = list.slice(-PREPARE_HISTORY_LIMIT);
  return kept.length ? kept : undefined;
}
