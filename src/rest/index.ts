/**
 * The /api/v1 REST compatibility surface: routes, the envelope for every error (malformed JSON,
 * unknown routes and methods included), request logging.
 */
import type { FastifyInstance } from 'fastify';
import type { ServiceContext } from '../service/context';
import { health } from '../service/health';
import { requireAvailable, staleSeconds } from '../service/availability';
import { sendData, sendError, sendFailure } from './envelope';
import { registerStorageRoutes } from './storages';
import { registerUnitRoutes } from './units';
import { registerOperatorRoutes } from './operator';

/**
 * Registers the /api/v1 routes. Every route but health first asks src/service/availability.ts:
 * writes answer 503 operator_unavailable while kube-apiserver is unreachable, everything does
 * while a CRD is not installed; a read served from a cache that may be stale carries
 * `Warning: 110 - "Response is Stale: …"` (RFC 9111 §5.5's stale warning code).
 */
export function registerRestRoutes(app: FastifyInstance, svc: ServiceContext): void {
  app.addHook('preHandler', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (!path.startsWith('/api/v1/') || path === '/api/v1/health' || !req.routeOptions.url) return;
    const write = req.method !== 'GET' && req.method !== 'HEAD';
    try {
      requireAvailable(svc, { write });
    } catch (err) {
      return sendFailure(reply, err, 'unavailable');
    }
    const stale = write ? undefined : staleSeconds(svc);
    if (stale !== undefined) reply.header('warning', `110 - "Response is Stale: served from the cache; the Kubernetes API server has not answered for ${stale} s"`);
  });
  app.get('/api/v1/health', async (_req, reply) => {
    const { informers: _i, ...view } = health(svc);
    return sendData(reply, 200, view);
  });
  registerStorageRoutes(app);
  registerUnitRoutes(app);
  registerOperatorRoutes(app);
}

/**
 * Envelope answers for Fastify's own errors: bad JSON and wrong content (400), body too large
 * (413), a known path with another method (405 method_not_allowed, with Allow), unknown routes
 * (404 not_found). Call before registering routes: it records them as they are added.
 */
export function registerRestErrorHandlers(app: FastifyInstance): void {
  const routes: { pattern: RegExp; methods: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    if (route.url.includes('*')) return; // CORS preflight catch-all: not a resource route
    const pattern = new RegExp(`^${route.url.replace(/:[^/]+/g, '[^/]+')}/?$`);
    const methods = ([] as string[]).concat(route.method).filter((m) => m !== 'HEAD');
    const known = routes.find((r) => r.pattern.source === pattern.source);
    if (known) known.methods.push(...methods);
    else routes.push({ pattern, methods });
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const allowed = routes.filter((r) => r.pattern.test(path)).flatMap((r) => r.methods);
    if (allowed.length) {
      reply.header('allow', allowed.join(', '));
      sendError(reply, 405, 'method_not_allowed', `${req.method} is not allowed on ${path}; use ${allowed.join(', ')}`);
      return;
    }
    sendError(reply, 404, 'not_found', `no route ${req.method} ${path}`);
  });
  app.setErrorHandler((err: { statusCode?: number; message: string; code?: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 413) return sendError(reply, 413, 'invalid_request', `request body is larger than the limit of ${app.initialConfig.bodyLimit} bytes`);
    if (status === 415) return sendError(reply, 415, 'invalid_request', 'unsupported Content-Type; send the body as JSON with Content-Type: application/json');
    if (status < 500) {
      const message = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/i.test(err.message) ? `malformed JSON body: ${err.message}` : err.message;
      return sendError(reply, 400, 'invalid_request', message);
    }
    return sendError(reply, 500, 'internal_error', 'unexpected error; see the service log');
  });
}
