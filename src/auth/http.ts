/**
 * The Fastify side of src/auth: one onRequest hook that, for every API route, checks the
 * browser origin of state-changing requests (CSRF), authenticates the bearer token
 * (TokenReview), counts the request against the caller's rate limit, and hands the route a
 * RequestContext acting for the caller (`req.ctx`); plus CORS from the allow-list (off unless
 * CORS_ORIGINS lists origins). Answers are the REST envelope under /api/v1 and GraphQL error
 * bodies at /graphql: 401 unauthenticated (with `WWW-Authenticate: Bearer`), 403 forbidden,
 * 429 rate_limited (with `Retry-After`), 503 operator_unavailable.
 */
import cors from '@fastify/cors';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { forCaller, type RequestContext, type ServiceContext } from '../service/context';
import { ForbiddenError, RateLimitedError, ServiceError, UnauthenticatedError, OperatorUnavailableError } from '../service/errors';
import { logger } from '../logger';
import type { Auth, Caller } from './index';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller (set by the auth hook on API routes). */
    caller: Caller;
    /** The service acting for {@link FastifyRequest.caller}. */
    ctx: RequestContext;
  }
}

/** Paths served without authentication: health and probes (and metrics, scraped by Prometheus). */
export const PUBLIC_PATHS = new Set(['/api/v1/health', '/livez', '/readyz', '/healthz', '/metrics']);

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The `WWW-Authenticate` challenge of a 401 (RFC 6750). */
export function wwwAuthenticate(err: UnauthenticatedError): string {
  return `Bearer realm="gpu-runtime", error="invalid_token", error_description="${err.message.replace(/["\\]/g, "'")}"`;
}

/** Headers an auth failure answers with (WWW-Authenticate for 401, Retry-After for 429). */
export function authHeaders(err: unknown): Record<string, string> {
  if (err instanceof UnauthenticatedError) return { 'www-authenticate': wwwAuthenticate(err) };
  if (err instanceof RateLimitedError || err instanceof OperatorUnavailableError) return { 'retry-after': String(err.retryAfterSeconds) };
  return {};
}

function isGraphQL(req: FastifyRequest): boolean {
  return req.url === '/graphql' || req.url.startsWith('/graphql?');
}

function refuse(req: FastifyRequest, reply: FastifyReply, err: ServiceError): FastifyReply {
  for (const [k, v] of Object.entries(authHeaders(err))) reply.header(k, v);
  reply.status(err.httpStatus);
  if (isGraphQL(req)) return reply.send({ errors: [{ message: err.message, extensions: { code: err.code.toUpperCase() } }] });
  return reply.send({ error: { code: err.code, message: err.message } });
}

/** Registers CORS (allow-list only) and the auth hook on `app`. */
export async function registerAuth(app: FastifyInstance, svc: ServiceContext, auth: Auth): Promise<void> {
  await app.register(cors, {
    // Only listed origins get CORS headers; every other origin (and no CORS_ORIGINS) gets none.
    origin: (origin, cb) => cb(null, auth.origins.corsAllowed(origin)),
    credentials: false,
    methods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['authorization', 'content-type', 'accept', 'x-graphql-yoga-csrf'],
    maxAge: 600,
  });
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (PUBLIC_PATHS.has(path) || req.method === 'OPTIONS') return;
    // A browser always sends Origin on state-changing requests: only our own origin or a
    // listed one may change anything (no cookies are used, but the embedded default grants
    // anonymous access, so a web page must not be able to drive it).
    const origin = req.headers.origin;
    if (STATE_CHANGING.has(req.method) && !auth.origins.accepts(origin, req.headers.host)) {
      return refuse(req, reply, new ForbiddenError(`cross-origin ${req.method} from ${origin} refused; allowed origins: the service's own${auth.origins.origins.length ? `, ${auth.origins.origins.join(', ')}` : ''} (CORS_ORIGINS)`));
    }
    try {
      const caller = await auth.callerFor(req.headers.authorization);
      await auth.limits.consumeRequest(caller.user);
      req.caller = caller;
      req.ctx = forCaller(svc, caller);
    } catch (err) {
      if (err instanceof ServiceError) return refuse(req, reply, err);
      logger.error({ err }, 'authentication failed unexpectedly');
      return refuse(req, reply, new ServiceError('internal_error', 'authentication failed unexpectedly; see the service log'));
    }
  });
}
