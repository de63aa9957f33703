/**
 * The process's one Prometheus registry (prom-client), with Node's default process metrics
 * (`process_*`, `nodejs_*`). Every layer registers its metrics here, as logger.ts is shared for
 * logs: src/kube/metrics.ts (controllers, work queues, API-server requests, informers, leader),
 * src/graphql/ (operations, live subscriptions), src/http/metrics.ts (HTTP requests), which also
 * serves it at /metrics. README "Metrics" lists each.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });
