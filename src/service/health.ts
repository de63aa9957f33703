/**
 * Service health (REST GET /api/v1/health, GraphQL `health`): uptime, whether the Kubernetes API
 * is reachable as the informers see it, and counts from the cache.
 * Fields: ../shared/spec/contract.md (REST table, /api/v1/health).
 */
import { STOCK_NAMESPACE } from '../api/constants';
import { NAMESPACE_INDEX, type InformerHealth } from '../kube/informer';
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

/** The health view from the informers' state and the cache's counts (no API call). */
export function health(ctx: ServiceContext): HealthView {
  const informers = ctx.cache.health();
  const failing = informers.find((i) => i.lastError);
  const { reasons } = ctx.availability.check();
  const kubeError = reasons.length ? reasons.join('; ') : failing?.lastError;
  return {
    startedAt: ctx.startedAt.toISOString(),
    uptimeSeconds: Math.floor((Date.now() - ctx.startedAt.getTime()) / 1000),
    kubernetesConnected: ctx.cache.synced && !kubeError,
    nodeCount: ctx.cache.nodes.size,
    ...(kubeError ? { kubeError } : {}),
    // From the namespace index: no scan of the units.
    stockUnitCount: ctx.cache.units.count(NAMESPACE_INDEX, STOCK_NAMESPACE),
    activeUnitCount: ctx.cache.units.size - ctx.cache.units.count(NAMESPACE_INDEX, STOCK_NAMESPACE),
    informers,
  };
}
