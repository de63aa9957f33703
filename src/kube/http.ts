/**
 * Raw JSON requests to the API server with the credentials of a KubeConfig. Used where the
 * generated clients get in the way: arbitrary paths (lists for informers, subresources), explicit
 * patch content types (controller-runtime-notes W10) and access to status codes and headers.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { RequestContext, HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
import { hostname } from 'node:os';
import { fetch, getGlobalDispatcher, type Dispatcher } from 'undici';
import { KubeHttpError } from './errors';
import { restLatency, restRequests, restRetries } from './metrics';
import { retryDelayMs, throttle } from './throttle';
import { setTimeout as sleep } from 'node:timers/promises';

/** This replica's name: HOSTNAME (the pod's name in a pod), else the machine's host name. */
export const REPLICA_NAME = process.env.HOSTNAME || hostname();

/**
 * The User-Agent of every request, as client-go's `binary/version (os/arch)` plus the replica:
 * the audit log's `userAgent` then tells two replicas of one ServiceAccount apart.
 */
export const USER_AGENT = `gpu-runtime-operator/v1alpha1 (${process.platform}/${process.arch}) host/${REPLICA_NAME} pid/${process.pid}`;

export type PatchType = 'merge' | 'apply' | 'json' | 'strategic';

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  apply: 'application/apply-patch+yaml',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  patchType?: PatchType;
  signal?: AbortSignal;
  /** Milliseconds before the request is aborted (default 30000). */
  timeoutMs?: number;
  /**
   * Checked again right before the request is handed to undici (after the credentials are
   * ready), and once more when undici hands it to a connection, just before its first byte is
   * written ({@link guardAtSend}): a process frozen anywhere before the send re-checks when it
   * resumes (Kube.guarded: the leadership term's write guard). Throws to refuse; the request then
   * rejects with what it threw.
   */
  guard?: () => void;
  /**
   * false: not held back by the client-side rate limit (leader election's Lease requests, which
   * client-go sends through a client of their own so a burst of reconciles cannot delay a renewal
   * past the renew deadline). Retry-After is honoured either way.
   */
  throttle?: boolean;
}

/**
 * Sends one request and returns the parsed JSON body. The request waits for the client-side
 * rate limit of `kc` (./throttle.ts) and is sent again, up to 10 times, when the API server
 * answers 429 or a 5xx with Retry-After (after the seconds it asked for; the guard is checked
 * again before each send).
 * @throws KubeHttpError for any non-2xx answer (status code, metav1.Status, Retry-After);
 *   network errors propagate as thrown by undici.
 */
export async function kubeRequest<T = unknown>(
  kc: KubeConfig,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  opts: RequestOptions = {},
): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
  const host = url.host;
  let body: string | undefined;
  if (opts.body !== undefined) body = JSON.stringify(opts.body);
  for (let attempt = 0; ; attempt++) {
    if (opts.throttle !== false) await throttle(kc, method, host);
    const transport = await transportFor(kc, url.toString());
    opts.guard?.();
    const headers: Record<string, string> = { ...transport.headers, accept: 'application/json', 'user-agent': USER_AGENT };
    if (body !== undefined) headers['content-type'] = method === 'PATCH' ? PATCH_CONTENT_TYPE[opts.patchType ?? 'merge'] : 'application/json';
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? 30_000);
    const end = restLatency.startTimer({ verb: method, host });
    let res: Awaited<ReturnType<typeof fetch>>;
    let refused: Error | undefined; // what the guard threw at send, if it did
    try {
      res = await fetch(url, {
        method,
        headers,
        body,
        dispatcher: opts.guard ? (transport.dispatcher ?? getGlobalDispatcher()).compose(guardAtSend(opts.guard, (err) => (refused = err))) : transport.dispatcher,
        signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout,
      });
    } catch (err) {
      restRequests.inc({ code: '<error>', method, host });
      // fetch wraps what aborted it in "fetch failed": reject with the guard's own error.
      throw refused ?? err;
    }
    restRequests.inc({ code: String(res.status), method, host });
    const text = await res.text();
    end();
    if (res.status >= 200 && res.status < 300) return (text ? safeParse(text) : undefined) as T;
    // The API server did not execute it and said when to come back (APF's 429): send it again.
    const waitMs = retryDelayMs(res.status, res.headers.get('retry-after'), attempt);
    if (waitMs !== undefined) {
      restRetries.inc({ code: String(res.status), verb: method, host });
      await sleep(waitMs, undefined, { signal: opts.signal });
      continue;
    }
    const parsed = text ? safeParse(text) : undefined;
    const status = parsed && typeof parsed === 'object' ? (parsed as { reason?: string; message?: string }) : undefined;
    const retry = Number(res.headers.get('retry-after'));
    throw new KubeHttpError(
      res.status,
      `${method} ${url.pathname}: ${res.status} ${status?.message ?? res.statusText}`,
      status,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
    );
  }
}

/**
 * An undici interceptor that runs `guard` when the request has been handed to a connection and
 * before its first byte is written (undici calls `onRequestStart` there, HTTP/1.1 and HTTP/2, and
 * writes nothing once the request is aborted), aborting the request with what `guard` throws.
 * kubeRequest's own check runs before fetch; between the two a request can wait for a free
 * connection, or the process can be frozen (SIGSTOP) and resumed after its leadership term ended.
 * A write must not leave then (issue 12, "Leadership lost": seen once as an Event the resumed old
 * leader created). Bytes already written before a freeze reach the API server during it.
 * `refused` receives the guard's error (fetch rejects with "fetch failed", it as the cause).
 */
export function guardAtSend(guard: () => void, refused?: (err: Error) => void): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) =>
    dispatch(
      options,
      // fetch's handler keeps state on itself (`this`): every other hook goes to it unchanged.
      new Proxy(handler, {
        get(target, prop, receiver) {
          if (prop !== 'onRequestStart') return Reflect.get(target, prop, receiver);
          return (controller: Dispatcher.DispatchController, context: unknown) => {
            target.onRequestStart?.(controller, context);
            if (controller.aborted) return;
            try {
              guard();
            } catch (thrown) {
              const err = thrown instanceof Error ? thrown : new Error(String(thrown));
              refused?.(err);
              controller.abort(err);
            }
          };
        },
      }),
    );
}

/**
 * The connection pool and credentials of one KubeConfig: `@kubernetes/client-node`'s
 * `applySecurityAuthentication` builds a new undici Agent on every call, so using its dispatcher
 * per request opened a new TLS connection for every API call (a handshake each, and an Agent
 * left behind each: measured as most of the reconcile latency and heap under a burst; issue 14).
 * Here the Agent is built once per cluster/user identity and reused (keep-alive, as client-go's
 * shared transport does); the headers (a bearer token that an exec plugin or a projected token
 * file may rotate) are asked for again every {@link AUTH_REFRESH_MS}.
 */
interface Transport {
  /** cluster server, CA, client certificate and proxy: a change builds a new Agent. */
  identity: string;
  dispatcher: Dispatcher | undefined;
  headers: Record<string, string>;
  /** epoch ms after which the headers are asked for again. */
  refreshAt: number;
}

/** How long the credentials headers of a KubeConfig are reused, in ms. */
export const AUTH_REFRESH_MS = 10_000;

const transports = new WeakMap<KubeConfig, Promise<Transport>>();

function identityOf(kc: KubeConfig): string {
  const c = kc.getCurrentCluster();
  const u = kc.getCurrentUser();
  return JSON.stringify([c?.server, c?.caFile, c?.caData, c?.skipTLSVerify, c?.tlsServerName, c?.proxyUrl, u?.certFile, u?.certData, u?.keyFile, u?.keyData]);
}

async function transportFor(kc: KubeConfig, url: string): Promise<Transport> {
  const cached = transports.get(kc);
  if (cached) {
    const t = await cached;
    if (t.refreshAt > Date.now() && t.identity === identityOf(kc)) return t;
    if (transports.get(kc) !== cached) return transportFor(kc, url); // another caller refreshed it
  }
  const next = (async (): Promise<Transport> => {
    const previous = cached ? await cached.catch(() => undefined) : undefined;
    const ctx = new RequestContext(url, HttpMethod.GET);
    await kc.applySecurityAuthentication(ctx);
    const identity = identityOf(kc);
    let dispatcher = ctx.getDispatcher();
    if (previous && previous.identity === identity) {
      // Same cluster and TLS material: keep the pool; the fresh Agent never connected.
      void dispatcher?.close();
      dispatcher = previous.dispatcher;
    } else {
      void previous?.dispatcher?.close();
    }
    return { identity, dispatcher, headers: { ...ctx.getHeaders() }, refreshAt: Date.now() + AUTH_REFRESH_MS };
  })();
  transports.set(kc, next);
  next.catch(() => {
    if (transports.get(kc) === next) transports.delete(kc);
  });
  return next;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Sends one GET or HEAD and returns the answer unread (status, headers, a streaming body), for
 * byte streams such as a Service proxied by the API server (`…/services/<svc>:<port>/proxy/…`).
 * Counted in rest_client_requests_total like {@link kubeRequest}; the caller must consume or
 * cancel the body.
 * @throws network errors as thrown by undici (also when `timeoutMs` passes before the headers).
 */
export async function kubeStream(
  kc: KubeConfig,
  method: 'GET' | 'HEAD',
  path: string,
  opts: { headers?: Record<string, string>; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<Awaited<ReturnType<typeof fetch>>> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  const host = url.host;
  await throttle(kc, method, host);
  const transport = await transportFor(kc, url.toString());
  // The timeout bounds the wait for the answer's headers, not the streaming of a large body.
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`no answer from ${url.pathname} within ${(opts.timeoutMs ?? 15_000) / 1000} s`)), opts.timeoutMs ?? 15_000);
  try {
    const res = await fetch(url, {
      method,
      headers: { ...transport.headers, 'user-agent': USER_AGENT, ...opts.headers },
      dispatcher: transport.dispatcher,
      signal: opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal,
    });
    restRequests.inc({ code: String(res.status), method, host });
    return res;
  } catch (err) {
    restRequests.inc({ code: '<error>', method, host });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
