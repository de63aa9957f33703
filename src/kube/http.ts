/**
 * Raw JSON requests to the API server with the credentials of a KubeConfig. Used where the
 * generated clients get in the way: arbitrary paths (lists for informers, subresources), explicit
 * patch content types (controller-runtime-notes W10) and access to status codes and headers.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { RequestContext, HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
import { fetch } from 'undici';
import { KubeHttpError } from './errors';
import { restLatency, restRequests } from './metrics';

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
}

/**
 * Sends one request and returns the parsed JSON body.
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
  const ctx = new RequestContext(url.toString(), HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  const headers: Record<string, string> = { ...ctx.getHeaders(), accept: 'application/json' };
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = method === 'PATCH' ? PATCH_CONTENT_TYPE[opts.patchType ?? 'merge'] : 'application/json';
  }
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 30_000);
  const host = url.host;
  const end = restLatency.startTimer({ verb: method, host });
  let res: Awaited<ReturnType<typeof fetch>>;
  try {
    res = await fetch(url, {
      method,
      headers,
      body,
      dispatcher: ctx.getDispatcher(),
      signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout,
    });
  } catch (err) {
    restRequests.inc({ code: '<error>', method, host });
    throw err;
  }
  restRequests.inc({ code: String(res.status), method, host });
  const text = await res.text();
  end();
  const parsed = text ? safeParse(text) : undefined;
  if (res.status < 200 || res.status >= 300) {
    const status = parsed && typeof parsed === 'object' ? (parsed as { reason?: string; message?: string }) : undefined;
    const retry = Number(res.headers.get('retry-after'));
    throw new KubeHttpError(
      res.status,
      `${method} ${url.pathname}: ${res.status} ${status?.message ?? res.statusText}`,
      status,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
    );
  }
  return parsed as T;
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
  const ctx = new RequestContext(url.toString(), HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  const host = url.host;
  // The timeout bounds the wait for the answer's headers, not the streaming of a large body.
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`no answer from ${url.pathname} within ${(opts.timeoutMs ?? 15_000) / 1000} s`)), opts.timeoutMs ?? 15_000);
  try {
    const res = await fetch(url, {
      method,
      headers: { ...ctx.getHeaders(), ...opts.headers },
      dispatcher: ctx.getDispatcher(),
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
