/**
 * Kubernetes Events on our resources (`kubectl describe` shows them), core/v1 Events as
 * client-go's EventRecorder writes them: reportingController `gpu-runtime-operator`.
 *
 * As in client-go (the recorder hands events to a broadcaster that sends them from its own
 * goroutine), recording never waits for the API server: a reconcile's critical path does not pay
 * one round trip per Event (issue 14 measured it as part of every step's lag). Events are sent in
 * the background, {@link EVENT_SEND_CONCURRENCY} at a time; past {@link EVENT_QUEUE_LIMIT}
 * waiting, new ones are dropped and counted (client-go drops too, after its 1000-event buffer).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import pLimit from 'p-limit';
import { FIELD_MANAGER } from '../api/constants';
import { REPLICA_NAME } from './http';
import { R, type Kube } from './resources';
import { logger } from '../logger';

export type EventType = 'Normal' | 'Warning';

/** Events sent at once. */
export const EVENT_SEND_CONCURRENCY = 4;
/** Events waiting to be sent beyond which new ones are dropped. */
export const EVENT_QUEUE_LIMIT = 1000;

/**
 * Kubernetes Events (core/v1) about our objects, sent in the background with bounded concurrency
 * ({@link EVENT_SEND_CONCURRENCY}) and queue ({@link EVENT_QUEUE_LIMIT}; beyond it dropped and
 * counted), as client-go's recorder does: a reconcile never waits for an Event.
 */
export class EventRecorder {
  private readonly limit = pLimit(EVENT_SEND_CONCURRENCY);
  private readonly inFlight = new Set<Promise<void>>();
  /** Events dropped because the queue was full. */
  dropped = 0;

  constructor(private readonly kube: Kube) {}

  /**
   * Queues an event and returns at once; failures are logged, never thrown (events are best
   * effort). The involved object's identity (uid, resourceVersion) is taken now.
   */
  record(obj: KubernetesObject, type: EventType, reason: string, message: string): void {
    if (this.limit.pendingCount >= EVENT_QUEUE_LIMIT) {
      this.dropped++;
      logger.warn({ reason, dropped: this.dropped }, 'event queue full: event dropped');
      return;
    }
    const event = this.build(obj, type, reason, message);
    const sent = this.limit(async () => {
      try {
        await this.kube.create(R.event, event);
      } catch (err) {
        logger.warn({ err: err instanceof Error ? err.message : String(err), reason }, 'could not record event');
      }
    });
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
  }

  /**
   * Resolves when every queued event has been sent (or failed), or after `timeoutMs`.
   * @returns true when the queue is empty.
   */
  async flush(timeoutMs = 5000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    try {
      for (;;) {
        if (!this.inFlight.size) return true;
        const r = await Promise.race([Promise.allSettled([...this.inFlight]).then(() => true as const), late]);
        if (!r) return false;
      }
    } finally {
      clearTimeout(timer);
    }
  }

  private build(obj: KubernetesObject, type: EventType, reason: string, message: string) {
    const now = new Date().toISOString();
    const ns = obj.metadata?.namespace ?? 'default';
    return {
      metadata: { name: `${obj.metadata?.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata?.name,
        namespace: ns,
        uid: obj.metadata?.uid,
        resourceVersion: obj.metadata?.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      firstTimestamp: now as unknown as Date,
      lastTimestamp: now as unknown as Date,
      count: 1,
      source: { component: FIELD_MANAGER },
      reportingComponent: FIELD_MANAGER,
      reportingInstance: REPLICA_NAME,
    };
  }
}
