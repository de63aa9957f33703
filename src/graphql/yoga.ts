/**
 * GraphQL over HTTP (graphql-yoga: POST/GET, SSE subscriptions, GraphiQL in browsers) and over
 * WebSocket (graphql-ws), both at /graphql and both through the same envelop pipeline, so the
 * document limits (graphql-armor) and error masking hold on every transport.
 */
import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import { useSharedSubscriptionExecution } from './shared-execution';
import { metricsRegistry } from '../metrics';
import { useAvailability } from './availability';
import type { Server as HttpServer } from 'node:http';
import { createYoga, type GraphiQLOptions, type YogaServerInstance } from 'graphql-yoga';
import { GraphQLError, type DocumentNode, type ExecutionArgs, type ValidationContext } from 'graphql';
import { LRUCache } from 'lru-cache';
import { dropSlowConsumers, slowConsumerOptionsFromEnv, type SlowConsumerOptions } from './slow-consumer';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import type { Auth, Caller } from '../auth/index';
import { authHeaders } from '../auth/http';
import { schema } from './schema/index';
import { createContext, type GraphQLContext } from './context';
import { graphqlCode } from './schema/common';
import { asServiceError, RateLimitedError, ServiceError, UnauthenticatedError } from '../service/errors';
import type { ServiceContext } from '../service/context';
import { logger } from '../logger';
import { envInt } from '../env';

export interface GraphQLOptions {
  /** Allow introspection (default true; env GRAPHQL_INTROSPECTION=false turns it off). */
  introspection?: boolean;
  maxDepth?: number;
  maxCost?: number;
  maxAliases?: number;
  maxTokens?: number;
  maxDirectives?: number;
}

/** What the transport hands yoga: the authenticated caller and, over graphql-ws, the connection. */
type ServerContext = { caller: Caller; connection?: object };

/**
 * Masks unexpected errors (logged with their stack, answered as INTERNAL_ERROR) and maps service
 * errors to their code in `extensions.code`. Kubernetes error bodies never reach clients.
 */
function maskError(error: unknown): Error {
  const raw = error instanceof GraphQLError ? (error.originalError ?? undefined) : error;
  const original = asServiceError(raw) ?? raw;
  if (original instanceof ServiceError) {
    // Who-and-whether errors set the HTTP status of the answer (401/403/429/503; yoga reads
    // extensions.http and leaves it out of the body); validity and conflict errors stay data.
    const http = HTTP_STATUS_ERRORS.has(original.code) ? { http: { status: original.httpStatus, headers: authHeaders(original) } } : {};
    return new GraphQLError(original.message, {
      extensions: { code: graphqlCode(original), ...(original.field ? { field: original.field } : {}), ...http },
      path: error instanceof GraphQLError ? error.path : undefined,
    });
  }
  if (error instanceof GraphQLError && !error.originalError) return error;
  // A GraphQLError wrapping another (variable coercion: 'Variable "$i" got invalid value 5 at
  // "i.size"; …'): the outer one names the input; mark it as the client's mistake.
  if (error instanceof GraphQLError && original instanceof GraphQLError) {
    return new GraphQLError(error.message, { nodes: error.nodes, path: error.path, extensions: { code: 'BAD_USER_INPUT', ...error.extensions } });
  }
  logger.error({ err: original }, 'unexpected GraphQL resolver error');
  return new GraphQLError('Unexpected error.', {
    extensions: { code: 'INTERNAL_ERROR' },
    path: error instanceof GraphQLError ? error.path : undefined,
  });
}

const wsLog = logger.child({ component: 'graphql-ws' });

/** Service error codes whose HTTP status a GraphQL-over-HTTP answer takes. */
const HTTP_STATUS_ERRORS = new Set(['unauthenticated', 'forbidden', 'rate_limited', 'operator_unavailable']);

const graphiqlPages = new Map<string, string>();

/**
 * GraphiQL's page with its JS, CSS and Monaco workers inlined (@graphql-yoga/render-graphiql), so
 * it works without internet access. The page is about 9 MB; it is rendered once per options.
 * The module is imported on the first page request, not at startup: its source (a 10 MB string
 * literal, kept by V8 with the module) was 28 MB of an idle replica's 107 MB heap (heap snapshot,
 * issue 14), and most replicas never serve a browser.
 */
async function renderLocalGraphiQL(opts: GraphiQLOptions): Promise<string> {
  const key = JSON.stringify(opts);
  let page = graphiqlPages.get(key);
  if (!page) {
    const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
    page = renderGraphiQL(opts);
    graphiqlPages.set(key, page);
  }
  return page;
}

/** Text of parsed documents kept by the parse cache, in UTF-16 code units (256 Ki). */
export const DOCUMENT_CACHE_MAX_CHARS = 256 * 1024;

/**
 * Yoga's parse caches (documents and parse errors by their text), bounded by the text they hold
 * instead of yoga's default of 1,024 entries each for an hour: a parsed document keeps every token
 * of its text (graphql-js links them from `loc`, about 84 bytes a token), so 1,024 distinct
 * documents of 2,000 tokens (the maxTokens limit) would pin ~170 MB, and a hostile client only has
 * to send them once. Bounded by {@link DOCUMENT_CACHE_MAX_CHARS} of text (at most ~10 MB of
 * tokens and AST whatever is sent; the few documents of real clients stay cached); parse errors,
 * which keep their stack, by 128 entries. Measured by bench/hostile.ts (heap growth by constructor).
 */
export function boundedParseCaches() {
  const bySize = { sizeCalculation: (_v: unknown, text: string) => Math.max(1, text.length), ttl: 3_600_000 };
  return {
    documentCache: new LRUCache<string, DocumentNode>({ max: 1024, maxSize: DOCUMENT_CACHE_MAX_CHARS, ...bySize }),
    errorCache: new LRUCache<string, object>({ max: 128, maxSize: DOCUMENT_CACHE_MAX_CHARS / 4, ...bySize }),
  };
}

/** extensions.code of a document refused by a limit (depth, cost, aliases, directives). */
export const LIMIT_EXCEEDED = 'DOCUMENT_LIMIT_EXCEEDED';

/** Armor rule options: report a rejection as a validation error (no "Syntax Error:" prefix: it is not one). */
const reportLimit = {
  propagateOnRejection: false,
  onReject: [
    (ctx: ValidationContext | null, err: GraphQLError) => {
      ctx?.reportError(new GraphQLError(err.message.replace(/^Syntax Error: /, ''), { extensions: { code: LIMIT_EXCEEDED } }));
    },
  ],
};

/**
 * Builds the yoga instance serving the schema over HTTP (and, through attachGraphQLWs, over
 * WebSocket), with the document limits, error masking and the introspection policy of `opts`.
 */
export function createGraphQL(svc: ServiceContext, auth: Auth, opts: GraphQLOptions = {}): YogaServerInstance<ServerContext, GraphQLContext> {
  const introspection = opts.introspection ?? process.env.GRAPHQL_INTROSPECTION !== 'false';
  // CSRF: a POST a browser sends without a preflight (form-encoded, multipart, text/plain) must
  // carry the x-graphql-yoga-csrf header (yoga's plugin). GET only ever runs queries and
  // subscriptions (yoga refuses mutations over GET), whose answers a foreign page cannot read.
  const csrf = useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf'] });
  return createYoga<ServerContext, GraphQLContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // Subscriptions from GraphiQL go over SSE: plain HTTP, so the headers a user pastes in the
    // headers tab (Authorization: Bearer …) apply to them as to queries; graphql-ws clients send
    // their token in connection_init instead.
    graphiql: { title: 'GPU runtime control plane', subscriptionsProtocol: 'SSE' },
    // GraphiQL from local assets (yoga's default page loads its JS/CSS from a CDN).
    renderGraphiQL: renderLocalGraphiQL,
    logging: false,
    // CORS is the HTTP server's (src/auth/http.ts: allow-list only); yoga's default would
    // reflect any Origin.
    cors: false,
    context: ({ caller, connection }) => createContext(svc, auth, caller, connection),
    maskedErrors: { maskError },
    parserAndValidationCache: boundedParseCaches(),
    plugins: [
      // GraphQL operation metrics (graphql_envelop_*, graphql_yoga_http_duration) in the process's
      // registry; /metrics is served by src/http/metrics.ts, not by the plugin.
      usePrometheus({
        registry: metricsRegistry,
        endpoint: false,
        // The URL would carry GET query strings: unbounded label values.
        labels: { url: false },
        metrics: {
          graphql_envelop_request: true,
          graphql_envelop_request_duration: true,
          graphql_envelop_phase_parse: true,
          graphql_envelop_phase_validate: true,
          graphql_envelop_phase_execute: true,
          graphql_envelop_phase_subscribe: true,
          graphql_envelop_error_result: true,
          graphql_yoga_http_duration: true,
        },
      }),
      useAvailability(svc),
      // Subscription events executed once per document, variables and identity, not per subscriber.
      useSharedSubscriptionExecution(),
      { onRequestParse: (args: Parameters<NonNullable<typeof csrf.onRequestParse>>[0]) => (args.request.method === 'GET' ? undefined : csrf.onRequestParse?.(args)) },
      // Each validation limit reports a validation error instead of throwing (armor's envelop
      // default): a thrown error answers HTTP 200 and breaks graphql-ws's message handling, a
      // reported one answers 400 over HTTP and an `error` message over WebSocket.
      // The standard introspection query (GraphiQL's) is exempt from depth and cost
      // (ignoreIntrospection); circular introspection is refused by graphql-js's
      // MaxIntrospectionDepthRule, one of the specified rules.
      EnvelopArmorPlugin({
        maxDepth: { n: opts.maxDepth ?? 10, ...reportLimit },
        costLimit: { maxCost: opts.maxCost ?? envInt('GRAPHQL_MAX_COST', 20_000, 1), ...reportLimit },
        maxAliases: { n: opts.maxAliases ?? 15, ...reportLimit },
        maxTokens: { n: opts.maxTokens ?? 2000 },
        maxDirectives: { n: opts.maxDirectives ?? 20, ...reportLimit },
        blockFieldSuggestion: { enabled: !introspection },
      }),
      ...(introspection
        ? []
        : [
            {
              onValidate({ addValidationRule }: { addValidationRule: (rule: unknown) => void }) {
                addValidationRule(NoIntrospection);
              },
            },
          ]),
    ],
  });
}

/** A validation rule refusing __schema/__type when introspection is off. */
function NoIntrospection(context: { reportError: (e: GraphQLError) => void }) {
  return {
    Field(node: { name: { value: string } }) {
      if (node.name.value === '__schema' || node.name.value === '__type') {
        context.reportError(new GraphQLError('GraphQL introspection is disabled on this server.', { extensions: { code: 'INTROSPECTION_DISABLED' } }));
      }
    },
  };
}

/** A copy of `e` without yoga's `extensions.http` (an HTTP status means nothing over WebSocket). */
function withoutHttpExtension(e: GraphQLError): GraphQLError {
  if (!e.extensions?.http) return e;
  const { http: _http, ...extensions } = e.extensions;
  return new GraphQLError(e.message, { nodes: e.nodes, source: e.source, positions: e.positions, path: e.path, originalError: e.originalError, extensions });
}

/**
 * Serves graphql-ws on `server` at the yoga endpoint, through yoga's envelop (parse, validate,
 * context, execute, subscribe), so the same limits and masking apply as over HTTP.
 * @returns a function that closes the WebSocket server and its connections.
 */
export function attachGraphQLWs(
  server: HttpServer,
  yoga: YogaServerInstance<ServerContext, GraphQLContext>,
  auth: Auth,
  { maxPayloadBytes = 1 << 20, slowConsumers = slowConsumerOptionsFromEnv() }: { maxPayloadBytes?: number; slowConsumers?: SlowConsumerOptions } = {},
): () => Promise<void> {
  const wss = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    maxPayload: maxPayloadBytes,
    // Browsers send Origin on every WebSocket: only the service's own origin or a listed one
    // (CORS_ORIGINS) may open one (403 at the upgrade otherwise).
    verifyClient: (info, done) => {
      if (auth.origins.accepts(info.origin || undefined, info.req.headers.host)) return done(true);
      done(false, 403, `WebSocket from origin ${info.origin} refused (allowed: the service's own origin${auth.origins.origins.length ? `, ${auth.origins.origins.join(', ')}` : ''})`);
    },
  });
  type EnvelopedRoot = { execute: (args: ExecutionArgs) => unknown; subscribe: (args: ExecutionArgs) => unknown };
  type Extra = { caller?: Caller };
  const disposable = useServer<Record<string, unknown> | undefined, Extra>(
    {
      // Who is asking: connection_init's payload `{ "authorization": "Bearer …" }`, else the
      // upgrade request's Authorization header, else anonymous. A rejected token closes the
      // socket with 4401 (graphql-ws's Unauthorized); an unreachable cluster with 1013.
      onConnect: async (ctx) => {
        const fromInit = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const header = typeof fromInit === 'string' ? fromInit : ctx.extra.request.headers.authorization;
        try {
          ctx.extra.caller = await auth.callerFor(header);
          return true;
        } catch (err) {
          const unauthenticated = err instanceof UnauthenticatedError;
          const reason = (unauthenticated ? `Unauthorized: ${err.message}` : `Try again later: ${err instanceof Error ? err.message : String(err)}`).slice(0, 120);
          ctx.extra.socket.close(unauthenticated ? 4401 : 1013, reason);
          return false;
        }
      },
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
        const caller = ctx.extra.caller!;
        try {
          await auth.limits.consumeRequest(caller.user);
        } catch (err) {
          if (err instanceof RateLimitedError) return [new GraphQLError(err.message, { extensions: { code: 'RATE_LIMITED', retryAfterSeconds: err.retryAfterSeconds } })];
          throw err;
        }
        const { schema: s, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          caller,
          connection: ctx,
        });
        let document;
        try {
          document = parse(params.query);
        } catch (err) {
          return [err instanceof GraphQLError ? err : new GraphQLError(String(err))];
        }
        const args: ExecutionArgs = {
          schema: s,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        // A validation rule that throws (instead of reporting) must not become a graphql-ws
        // internal error that drops the connection: it is answered as the operation's error.
        let errors: readonly GraphQLError[];
        try {
          errors = validate(args.schema, args.document);
        } catch (err) {
          return [err instanceof GraphQLError ? err : (maskError(err) as GraphQLError)];
        }
        if (errors.length) return errors.map(withoutHttpExtension);
        return args;
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
        if ('errors' in result && result.errors) {
          return { ...result, errors: result.errors.map((e) => withoutHttpExtension(maskError(e) as GraphQLError)) };
        }
        return result;
      },
    },
    wss,
  );
  // graphql-ws logs every socket 'error' through console.error with a stack trace ("Please check
  // your implementation"), but ws emits 'error' only for a client's protocol violation (a message
  // over maxPayload, invalid UTF-8, a malformed frame), once it has already closed the connection
  // with the matching code (1009, 1007, 1002): any client could fill the log. This listener runs
  // after graphql-ws's (registered by useServer above) and puts one log line in place of its.
  wss.on('connection', (socket) => {
    socket.removeAllListeners('error');
    socket.on('error', (err: Error & { code?: string }) => wsLog.info({ code: err.code, reason: err.message }, 'graphql-ws connection closed: the client broke the WebSocket protocol'));
  });
  // Clients that stopped reading are closed with 4008 (src/graphql/slow-consumer.ts).
  const stopDropping = dropSlowConsumers(wss, slowConsumers);
  return async () => {
    stopDropping();
    await disposable.dispose();
    await new Promise<void>((r) => wss.close(() => r()));
  };
}

/**
 * The GraphQL answer to a request Fastify refused before yoga saw it (body too large, malformed
 * JSON): a GraphQL-over-HTTP error body instead of the REST envelope. 5xx are masked and logged.
 */
export function graphqlRequestError(err: { statusCode?: number; message: string; code?: string }): { status: number; body: { errors: { message: string; extensions: { code: string } }[] } } {
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
  if (status === 413) return { status, body: { errors: [{ message: `Request body is too large: ${err.message}`, extensions: { code: 'PAYLOAD_TOO_LARGE' } }] } };
  if (status < 500) return { status, body: { errors: [{ message: err.message, extensions: { code: 'BAD_REQUEST' } }] } };
  logger.error({ err }, 'unexpected error before GraphQL execution');
  return { status, body: { errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_ERROR' } }] } };
}
