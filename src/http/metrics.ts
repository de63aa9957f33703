/**
 * `/metrics` in the Prometheus text format (prom-client's registry of the process, src/metrics.ts),
 * and the HTTP request metrics of this server:
 * `http_request_duration_seconds{method,route,status_code}` (a histogram; `route` is the route
 * pattern, e.g. `/api/v1/gpu-storages/:name`, or `unmatched`). Served without authentication
 * (src/auth/http.ts PUBLIC_PATHS), as kube-state-metrics and controller-runtime serve theirs on a
 * port a NetworkPolicy guards; README "Metrics" names every series.
 */
import type { FastifyInstance } from 'fastify';
import { Histogram } from 'prom-client';
import { metricsRegistry } from '../metrics';

const httpDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'Duration of HTTP requests served, by method, route pattern and status code',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [metricsRegistry],
});

/** Registers `/metrics` and the request-duration hook on `app`. */
export function registerMetrics(app: FastifyInstance): void {
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    httpDuration.observe({ method: req.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metricsRegistry.contentType);
    return reply.send(await metricsRegistry.metrics());
  });
}
