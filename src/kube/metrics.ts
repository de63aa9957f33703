/**
 * Prometheus metrics of the Kubernetes side of the service, under the names controller-runtime and
 * client-go use, so their dashboards and alerts work unchanged:
 * - `controller_runtime_reconcile_total{controller,result}`, `controller_runtime_reconcile_errors_total{controller}`,
 *   `controller_runtime_reconcile_time_seconds{controller}`, `controller_runtime_active_workers{controller}`,
 *   `controller_runtime_max_concurrent_reconciles{controller}` (controller-runtime's pkg/internal/controller/metrics);
 * - `workqueue_depth`, `workqueue_adds_total`, `workqueue_retries_total`, `workqueue_queue_duration_seconds`,
 *   `workqueue_work_duration_seconds`, `workqueue_unfinished_work_seconds`,
 *   `workqueue_longest_running_processor_seconds`, all `{name}` (client-go's workqueue metrics);
 * - `rest_client_requests_total{code,method,host}` and `rest_client_request_duration_seconds{verb,host}`
 *   (client-go's rest client metrics; `code` is `<error>` for a request that got no answer);
 * - `leader_election_master_status{name}` (client-go's leader election metric: 1 while leading);
 * - `gpu_runtime_informer_*{kind}`: relists, watch restarts, whether synced, and the age of the
 *   last event, read from the informers at scrape time.
 *
 * Everything lives in the process's registry (src/metrics.ts); src/http/metrics.ts serves it at /metrics.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { InformerHealth } from './informer';
import { metricsRegistry } from '../metrics';

const registers = [metricsRegistry];
// client-go's buckets for work and queue durations: 10 µs to 10 s, ×10.
const workBuckets = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10];

export const reconcileTotal = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'] as const, registers });
export const reconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'] as const, registers });
export const reconcileTime = new Histogram({
  name: 'controller_runtime_reconcile_time_seconds',
  help: 'Length of time per reconciliation per controller',
  labelNames: ['controller'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60],
  registers,
});
export const activeWorkers = new Gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller', labelNames: ['controller'] as const, registers });
export const maxConcurrentReconciles = new Gauge({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller', labelNames: ['controller'] as const, registers });

export const queueDepth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name'] as const, registers });
export const queueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name'] as const, registers });
export const queueRetries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name'] as const, registers });
export const queueLatency = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested', labelNames: ['name'] as const, buckets: workBuckets, registers });
export const workDuration = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes', labelNames: ['name'] as const, buckets: workBuckets, registers });

/** Work queues report their in-flight work at scrape time (they register here when created). */
const inFlight = new Set<{ name: string; startTimes: () => number[] }>();

function inFlightByName(): Map<string, number[]> {
  const byName = new Map<string, number[]>();
  for (const { name, startTimes } of inFlight) byName.set(name, [...(byName.get(name) ?? []), ...startTimes()]);
  return byName;
}

/**
 * Registers the start times (epoch ms) of a queue's items in processing, read at scrape time for
 * `workqueue_unfinished_work_seconds` and `workqueue_longest_running_processor_seconds`.
 * @returns the removal.
 */
export function trackInFlight(name: string, startTimes: () => number[]): () => void {
  const entry = { name, startTimes };
  inFlight.add(entry);
  return () => inFlight.delete(entry);
}

new Gauge({
  name: 'workqueue_unfinished_work_seconds',
  help: 'How many seconds of work has been done that is in progress and has not been observed by work_duration',
  labelNames: ['name'] as const,
  registers,
  collect() {
    this.reset();
    const now = Date.now();
    for (const [name, starts] of inFlightByName()) this.set({ name }, starts.reduce((s, t) => s + (now - t) / 1000, 0));
  },
});
new Gauge({
  name: 'workqueue_longest_running_processor_seconds',
  help: 'How many seconds has the longest running processor for workqueue been running',
  labelNames: ['name'] as const,
  registers,
  collect() {
    this.reset();
    const now = Date.now();
    for (const [name, starts] of inFlightByName()) this.set({ name }, Math.max(0, ...starts.map((t) => (now - t) / 1000)));
  },
});

export const restRequests = new Counter({ name: 'rest_client_requests_total', help: 'Number of HTTP requests to the API server, partitioned by status code, method, and host', labelNames: ['code', 'method', 'host'] as const, registers });
export const restLatency = new Histogram({
  name: 'rest_client_request_duration_seconds',
  help: 'Request latency in seconds to the API server, by verb and host (watches excluded)',
  labelNames: ['verb', 'host'] as const,
  buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
  registers,
});

/** client-go's name: how long requests waited for the client-side rate limiter (src/kube/throttle.ts). */
export const rateLimiterWait = new Histogram({
  name: 'rest_client_rate_limiter_duration_seconds',
  help: 'Client-side rate limiter latency in seconds, by verb and host',
  labelNames: ['verb', 'host'] as const,
  buckets: [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
  registers,
});
/** client-go's name: requests sent again after a 429 (or 5xx with Retry-After), by the answer that caused it. */
export const restRetries = new Counter({ name: 'rest_client_request_retries_total', help: 'Number of request retries, partitioned by status code, verb, and host', labelNames: ['code', 'verb', 'host'] as const, registers });

export const leaderStatus = new Gauge({ name: 'leader_election_master_status', help: '1 while this replica holds the leader lease `name`, else 0', labelNames: ['name'] as const, registers });

/** Informer sources read at scrape time (a ClusterCache registers its informers when it starts). */
const informerSources = new Set<() => InformerHealth[]>();

/** Adds informers whose health the `gpu_runtime_informer_*` gauges report; returns the removal. */
export function trackInformers(health: () => InformerHealth[]): () => void {
  informerSources.add(health);
  return () => informerSources.delete(health);
}

function informerGauge(name: string, help: string, value: (h: InformerHealth) => number | undefined): void {
  new Gauge({
    name,
    help,
    labelNames: ['kind'] as const,
    registers,
    collect() {
      this.reset();
      for (const source of informerSources)
        for (const h of source()) {
          const v = value(h);
          if (v !== undefined) this.set({ kind: h.kind }, v);
        }
    },
  });
}
informerGauge('gpu_runtime_informer_relists', 'Full relists of the informer since start (a watch that could not resume: 410 Gone)', (h) => h.relists);
informerGauge('gpu_runtime_informer_watch_restarts', 'Watches the informer restarted since start (ended, failed or went silent)', (h) => h.restarts);
informerGauge('gpu_runtime_informer_synced', '1 once the informer has listed and its cache is usable, else 0', (h) => (h.synced ? 1 : 0));
informerGauge('gpu_runtime_informer_last_event_age_seconds', 'Seconds since the informer last heard from the API server (event, bookmark or list)', (h) =>
  h.lastActivity ? (Date.now() - Date.parse(h.lastActivity)) / 1000 : undefined,
);
