/** The `health` query: the same view as REST GET /api/v1/health. */
import { builder } from '../builder';
import { health, type HealthView } from '../../service/health';
import type { InformerHealth } from '../../kube/informer';

const InformerHealthType = builder.objectRef<InformerHealth>('InformerHealth').implement({
  fields: (t) => ({
    kind: t.exposeString('kind'),
    synced: t.exposeBoolean('synced'),
    lastActivity: t.field({ type: 'DateTime', nullable: true, resolve: (i) => i.lastActivity }),
    restarts: t.exposeInt('restarts'),
    relists: t.exposeInt('relists'),
    lastError: t.exposeString('lastError', { nullable: true }),
  }),
});

const HealthType = builder.objectRef<HealthView>('Health').implement({
  fields: (t) => ({
    startedAt: t.field({ type: 'DateTime', resolve: (h) => h.startedAt }),
    uptimeSeconds: t.exposeInt('uptimeSeconds'),
    kubernetesConnected: t.exposeBoolean('kubernetesConnected'),
    nodeCount: t.exposeInt('nodeCount'),
    kubeError: t.exposeString('kubeError', { nullable: true }),
    stockUnitCount: t.exposeInt('stockUnitCount'),
    activeUnitCount: t.exposeInt('activeUnitCount'),
    informers: t.field({ type: [InformerHealthType], resolve: (h) => h.informers }),
  }),
});

builder.queryField('health', (t) => t.field({ type: HealthType, resolve: (_r, _a, ctx) => health(ctx.svc) }));
