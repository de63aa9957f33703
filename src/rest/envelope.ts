/**
 * The REST envelope of the original platform: `{"data": …}` or
 * `{"error": {"code": "…", "message": "…"}}` (../shared/spec/contract.md, "REST compatibility surface").
 */
import type { FastifyReply, FastifyRequest, RouteGenericInterface } from 'fastify';
import { asServiceError } from '../service/errors';
import { authHeaders } from '../auth/http';
import { logger } from '../logger';
import { restListMeta, type KeyPage } from '../service/paging';

/** Answers `{"data": data, ...extra}` (`extra`: a list's `metadata`). */
export function sendData(reply: FastifyReply, status: number, data: unknown, extra?: Record<string, unknown>): FastifyReply {
  return reply.status(status).send({ data, ...extra });
}

/**
 * A list answer: `data` stays the array of views (as the original platform's curl scripts read
 * it), `metadata` beside it carries Kubernetes ListMeta's `continue` (pass it back as `?continue=`
 * for the next page) and `remainingItemCount`, both absent on the last page. Paging:
 * src/service/paging.ts (REST_LIST_BOUNDS: the whole list without `limit` up to 1000 items).
 */
export function listAnswer(page: KeyPage & { items: unknown[] }): [number, unknown, Record<string, unknown>] {
  return [200, page.items, { metadata: restListMeta(page) }];
}

/** Answers `status` with the contract's error envelope `{"error":{"code","message","field"?}}`. */
export function sendError(reply: FastifyReply, status: number, code: string, message: string, field?: string): FastifyReply {
  return reply.status(status).send({ error: { code, message, ...(field ? { field } : {}) } });
}

/**
 * Answers a thrown error: ServiceError with its own code and status (an API server that did not
 * answer: 503 operator_unavailable); anything else is logged and
 * answered 500 with the route's `fallbackCode`, never with a Kubernetes error body.
 */
export function sendFailure(reply: FastifyReply, err: unknown, fallbackCode: string): FastifyReply {
  const known = asServiceError(err);
  if (known) {
    for (const [k, v] of Object.entries(authHeaders(known))) reply.header(k, v);
    return sendError(reply, known.httpStatus, known.code, known.message, known.field);
  }
  logger.error({ err }, `unexpected error (${fallbackCode})`);
  return sendError(reply, 500, fallbackCode, 'unexpected error; see the service log');
}

/**
 * A route handler in the envelope: `fn` answers `[status, data]` (`data` undefined: an empty body,
 * as for 204), or `[status, data, extra]` with top-level fields beside `data`; anything it throws answers through {@link sendFailure} with `fallbackCode` as the
 * route-specific 500 code (contract: "500 with a route-specific code").
 */
export function handle<R extends RouteGenericInterface>(
  fallbackCode: string,
  fn: (req: FastifyRequest<R>) => Promise<[number, unknown, Record<string, unknown>?]> | [number, unknown, Record<string, unknown>?],
): (req: FastifyRequest<R>, reply: FastifyReply) => Promise<FastifyReply> {
  return async (req, reply) => {
    try {
      const [status, data, extra] = await fn(req);
      return data === undefined ? reply.status(status).send() : sendData(reply, status, data, extra);
    } catch (err) {
      return sendFailure(reply, err, fallbackCode);
    }
  };
}
