/**
 * One place that reads HTTP status codes off the different error shapes of
 * @kubernetes/client-node (controller-runtime-notes W8): ApiException (`code`, `body`, `headers`)
 * from typed calls, Error with `statusCode` from watches, our own {@link KubeHttpError}, and plain
 * network errors (no status).
 */
import { ApiException } from '@kubernetes/client-node';

/** A non-2xx answer of the API server to a raw request made in ./http.ts. */
export class KubeHttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** Parsed metav1.Status body when the server sent one. */
    readonly status?: { reason?: string; message?: string; details?: unknown },
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'KubeHttpError';
  }
}

/** HTTP status code of a Kubernetes client error, or undefined for network errors and the like. */
export function statusCodeOf(err: unknown): number | undefined {
  if (err instanceof KubeHttpError) return err.statusCode;
  if (err instanceof ApiException) return err.code;
  if (err && typeof err === 'object') {
    const e = err as { statusCode?: unknown; code?: unknown; response?: { statusCode?: unknown } };
    if (typeof e.statusCode === 'number') return e.statusCode;
    // Not a DOMException's legacy code (a timeout is TIMEOUT_ERR = 23): only HTTP status codes.
    if (typeof e.code === 'number' && !(err instanceof DOMException) && e.code >= 100 && e.code <= 599) return e.code;
    if (typeof e.response?.statusCode === 'number') return e.response.statusCode;
  }
  return undefined;
}

/** Seconds from a Retry-After header carried by the error (429/503), if any. */
export function retryAfterSecondsOf(err: unknown): number | undefined {
  if (err instanceof KubeHttpError) return err.retryAfterSeconds;
  if (err instanceof ApiException) {
    const h = err.headers?.['retry-after'] ?? err.headers?.['Retry-After'];
    const n = Number(h);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  }
  return undefined;
}

/** The API server's own message (metav1.Status.message) when the error carries one. */
export function kubeMessageOf(err: unknown): string {
  if (err instanceof KubeHttpError) return err.status?.message ?? err.message;
  if (err instanceof ApiException) {
    const body = typeof err.body === 'string' ? safeJSON(err.body) : err.body;
    if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

function safeJSON(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** The API server answered 404 NotFound. */
export const isNotFound = (err: unknown) => statusCodeOf(err) === 404;
/** The API server answered 409 AlreadyExists (a create of a name that exists). */
export const isAlreadyExists = (err: unknown) =>
  statusCodeOf(err) === 409 && err instanceof KubeHttpError && err.status?.reason === 'AlreadyExists';
/** 409 from an optimistic-concurrency clash (a stale resourceVersion), not AlreadyExists. */
export const isConflict = (err: unknown) => statusCodeOf(err) === 409 && !isAlreadyExists(err);
/** The API server answered 410 Gone (a watch's resourceVersion was compacted away). */
export const isGone = (err: unknown) => statusCodeOf(err) === 410;
/** The API server answered 422 Invalid (the object failed validation, CEL rules included). */
export const isInvalid = (err: unknown) => statusCodeOf(err) === 422;

/**
 * True for an error that got no answer from the API server: connection refused or reset, DNS,
 * TLS, or the request's timeout (undici's `fetch failed` with a cause, an AbortSignal timeout).
 */
export function isUnreachable(err: unknown): boolean {
  if (statusCodeOf(err) !== undefined) return false;
  if (!(err instanceof Error)) return false;
  if (err.name === 'TimeoutError') return true;
  const cause = (err as { cause?: { code?: unknown; name?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : (err as { code?: unknown }).code;
  return (
    (err instanceof TypeError && err.message === 'fetch failed') ||
    (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|UND_ERR_)/.test(code))
  );
}
