/**
 * What a prepare Job and its pods say about an attempt (contract: "Owned objects and naming",
 * prepare Job; failures are "taken from the Job/pod, not 'see logs'"). Pure functions.
 */
import type { V1Pod } from '@kubernetes/client-node';

/** The terminated state of the prepare container of the latest failed pod, if any. */
export function podFailure(pods: V1Pod[]): { exitCode?: number; reason?: string; message?: string; pod: string } | undefined {
  const sorted = [...pods].sort((a, b) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')));
  for (const pod of sorted) {
    for (const cs of pod.status?.containerStatuses ?? []) {
      const t = cs.state?.terminated ?? cs.lastState?.terminated;
      if (t && t.exitCode !== 0) {
        return { exitCode: t.exitCode, reason: t.reason, message: t.message?.trim(), pod: pod.metadata?.name ?? '' };
      }
    }
  }
  return undefined;
}

/** Why a Job's pod is not running yet (image pull, scheduling, volume), for the Pending message. */
export function podWaitingReason(pods: V1Pod[]): string | undefined {
  for (const pod of pods) {
    for (const cs of pod.status?.containerStatuses ?? []) {
      const w = cs.state?.waiting;
      if (w?.reason && w.reason !== 'ContainerCreating') return `pod ${pod.metadata?.name}: ${w.reason}${w.message ? `: ${w.message}` : ''}`;
    }
    const sched = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
    if (sched) return `pod ${pod.metadata?.name} is not scheduled: ${sched.reason ?? ''}${sched.message ? `: ${sched.message}` : ''}`;
  }
  return undefined;
}

/**
 * The failure as a person reads it: the cause first (the container's exit and termination
 * message), then the Job's verdict: `prepare failed: container exited with code 1 (Error): <msg>;
 * job J: BackoffLimitExceeded (…)`.
 */
export function failureMessage(jobName: string, reason: string, jobMessage: string, pod?: { exitCode?: number; reason?: string; message?: string }): string {
  const verdict = `job ${jobName}: ${reason}${jobMessage ? ` (${jobMessage})` : ''}`;
  if (pod?.exitCode === undefined) return `prepare failed: ${verdict}`;
  const exit = `container exited with code ${pod.exitCode}${pod.reason ? ` (${pod.reason})` : ''}${pod.message ? `: ${pod.message}` : ''}`;
  return `prepare failed: ${exit}; ${verdict}`;
}
