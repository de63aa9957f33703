/**
 * Service health (REST GET /api/v1/health, GraphQL `health`): uptime, whether the Kubernetes API
 * is reachable as the informers see it, and counts from the cache.
 * Fields: ../shared/spec/contract.md (REST table, /api/v1/health).
 */
import { STOCK_NAMESPACE } from '../api/constants';
import type { InformerHealth } from '../kube/informer';
import type { ServiceContext } from './context';

export interface HealthView {
  startedAt: string;
  uptimeSeconds: number;
  kubernetesConnected: boolean;
  nodeCount: number;
  kubeError?: string;
  stockUnitCount: number;
  activeUnitCount: number;
  informers: InformerHealth[];
}

export function health(ctx: ServiceContext): HealthView {
  const informers = ctx.cache.health();
  const failing = informers.find((i) => i.lastError);
  const { reasons } = ctx.availability.check();
  const units = ctx.cache.units.list();
  const kubeError = reasons.length ? reasons.join('; ') : failing?.lastError;
  return {
    startedAt: ctx.startedAt.toISOString(),
    uptimeSeconds: Math.floor((Date.now() - ctx.startedAt.getTime()) / 1000),
    kubernetesConnected: ctx.cache.synced && !kubeError,
    nodeCount: ctx.cache.nodes.list().length,
    ...(kubeError ? { kubeError } : {}),
    stockUnitCount: units.filter((u) => u.metadata.namespace === STOCK_NAMESPACE).length,
    activeUnitCount: units.filter((u) => u.metadata.namespace !== STOCK_NAMESPACE).length,
    informers,
  };
}
