/**
 * Kubernetes Events on our resources (`kubectl describe` shows them), core/v1 Events as
 * client-go's EventRecorder writes them: reportingController `gpu-runtime-operator`.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { FIELD_MANAGER } from '../api/constants';
import { R, type Kube } from './resources';
import { logger } from '../logger';

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  constructor(private readonly kube: Kube) {}

  /** Records an event; failures are logged, never thrown (events are best effort). */
  async record(obj: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    const ns = obj.metadata?.namespace ?? 'default';
    try {
      await this.kube.create(R.event, {
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
        reportingInstance: process.env.HOSTNAME ?? 'local',
      });
    } catch (err) {
      logger.warn({ err: err instanceof Error ? err.message : String(err), reason }, 'could not record event');
    }
  }
}
