/**
 * The HTTP server: one port for GraphQL (/graphql, HTTP + SSE + WebSocket, GraphiQL in browsers)
 * and the REST compatibility surface (/api/v1). Fastify serves both and writes the request log
 * (method, path, status, duration) to the service's structured log.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { ServiceContext } from './service/context';
import { attachGraphQLWs, createGraphQL, graphqlRequestError, type GraphQLOptions } from './graphql/yoga';
import { registerRestErrorHandlers, registerRestRoutes } from './rest/index';
import { registerAuth } from './auth/http';
import type { Auth } from './auth/index';
import { logger } from './logger';
import { registerProbes } from './http/probes';
import { registerMetrics } from './http/metrics';
import { endStreams } from './graphql/stream';
import { OperatorUnavailableError } from './service/errors';

export interface HttpServer {
  app: FastifyInstance;
  /** http://host:port */
  url: string;
  /**
   * Graceful stop: `/readyz` fails at once, live subscriptions end with a reason (graphql-ws
   * closes with 1001 Going away; SSE and graphql-ws streams first get an OPERATOR_UNAVAILABLE
   * error saying the service is shutting down), the port stops accepting, and in-flight requests
   * finish; connections still open after `deadlineMs` (default 10000) are cut.
   */
  close(deadlineMs?: number): Promise<void>;
}

/**
 * What Node's HTTP parser refuses before any route sees it (headers or URL too large: 431, a
 * malformed request: 400, a body not sent in time: 408) answers in the REST envelope, then closes.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) return void socket.destroy();
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message =
    status === 431 ? 'request line or headers are larger than the server accepts (16 KiB); send names in bounds and large inputs in the body' : status === 408 ? 'the request did not arrive within 30 s' : `malformed HTTP request (${err.code ?? 'parse error'})`;
  const body = JSON.stringify({ error: { code: 'invalid_request', message } });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * Starts listening on `host:port` (port 0 picks a free one).
 * @throws when the port is taken.
 */
export async function startHttpServer(svc: ServiceContext, auth: Auth, opts: { host?: string; port?: number; graphql?: GraphQLOptions; bodyLimitBytes?: number } = {}): Promise<HttpServer> {
  const app = Fastify({
    loggerInstance: logger.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes ?? 1 << 20,
    // A request must arrive whole within 30 s (slow-loris bodies are cut; answers such as SSE
    // streams may last longer: Node's requestTimeout bounds receiving only).
    requestTimeout: 30_000,
    clientErrorHandler: answerClientError,
    // Kubernetes names are at most 253 characters; longer path segments are refused (414).
    routerOptions: { maxParamLength: 256 },
    // Errors the router raises before any route (a segment too long, a malformed URL encoding)
    // answer in the REST envelope too.
    frameworkErrors: (err, _req, reply) => {
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
      const message = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path segment is longer than 256 characters (Kubernetes names are at most 253)' : err.message;
      void (reply as FastifyReply).status(status).send({ error: { code: 'invalid_request', message } });
    },
  });
  app.addHook('onResponse', (req, reply, done) => {
    req.log.info({ method: req.method, path: req.url.split('?')[0], status: reply.statusCode, durationMs: Math.round(reply.elapsedTime), user: req.caller?.user.username }, 'request');
    done();
  });
  let shuttingDown = false;
  registerRestErrorHandlers(app);
  registerMetrics(app);
  const stopProbes = registerProbes(app, svc, { shuttingDown: () => shuttingDown });
  await registerAuth(app, svc, auth);
  // Only JSON bodies: a text/plain POST (which a browser form can send without a preflight) is 415.
  app.removeContentTypeParser('text/plain');
  // A body-less POST (recover) sent with Content-Type application/json, as many clients do, has
  // no body rather than a malformed one; anything else goes to Fastify's own (safe) JSON parser.
  const parseJSON = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body === '') return done(null, undefined);
    parseJSON(req, String(body), done);
  });

  const yoga = createGraphQL(svc, auth, opts.graphql);
  app.route({
    url: yoga.graphqlEndpoint,
    method: ['GET', 'POST', 'OPTIONS'],
    // Bodies Fastify refuses (too large, malformed JSON) answer as GraphQL errors, not REST ones.
    errorHandler: (err, _req, reply) => {
      const { status, body } = graphqlRequestError(err);
      return reply.status(status).send(body);
    },
    handler: async (req, reply) => {
      const response = await yoga.handleNodeRequestAndResponse(req, reply, { caller: req.caller });
      response.headers.forEach((value, key) => reply.header(key, value));
      reply.status(response.status);
      reply.send(response.body);
      return reply;
    },
  });
  // Yoga reads multipart and other bodies itself.
  app.addContentTypeParser('multipart/form-data', {}, (_req, _payload, done) => done(null));

  registerRestRoutes(app, svc);

  const closeWs = attachGraphQLWs(app.server, yoga, auth);
  const address = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 8080 });
  return {
    app,
    url: address,
    close: async (deadlineMs = 10_000) => {
      shuttingDown = true;
      const ended = await endStreams(svc.cache.informers(), new OperatorUnavailableError('the service is shutting down; subscribe again (another replica serves)', 1));
      logger.info({ subscriptions: ended }, 'closing the HTTP server');
      const cut = setTimeout(() => app.server.closeAllConnections(), deadlineMs).unref();
      await closeWs();
      await app.close();
      clearTimeout(cut);
      stopProbes();
    },
  };
}
