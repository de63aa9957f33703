/**
 * Errors of the service layer, shared by GraphQL and REST: one code each, the HTTP status the
 * REST surface answers with, and the field at fault where there is one.
 * Codes and statuses: ../shared/spec/contract.md ("Rules the API enforces", "REST compatibility surface").
 */
import { isUnreachable } from '../kube/errors';

export type ErrorCode =
  | 'unauthenticated'
  | 'forbidden'
  | 'rate_limited'
  | 'invalid_request'
  | 'operation_conflict'
  | 'insufficient_capacity'
  | 'gpustorage_not_found'
  | 'gpuunit_not_found'
  | 'job_not_found'
  | 'file_not_found'
  | 'operator_unavailable'
  | 'internal_error';

const HTTP_STATUS: Record<ErrorCode, number> = {
  unauthenticated: 401,
  forbidden: 403,
  rate_limited: 429,
  invalid_request: 400,
  operation_conflict: 409,
  insufficient_capacity: 409,
  gpustorage_not_found: 404,
  gpuunit_not_found: 404,
  job_not_found: 404,
  file_not_found: 404,
  operator_unavailable: 503,
  internal_error: 500,
};

/**
 * An error the API answers as the contract's envelope: `code` (contract error codes, e.g.
 * `invalid_request`, `operation_conflict`), the HTTP status it maps to, and for validation the field.
 */
export class ServiceError extends Error {
  readonly httpStatus: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Input field at fault, as a dotted path (`prepare.fromImage`, `storageMounts[0].mountPath`). */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ServiceError';
    this.httpStatus = HTTP_STATUS[code];
  }
}

/** 400 invalid_request: the request itself is wrong; `field` names the input at fault. */
export class ValidationError extends ServiceError {
  constructor(message: string, field?: string) {
    super('invalid_request', message, field);
    this.name = 'ValidationError';
  }
}

/** 409 operation_conflict: already exists, in use, attempt running, idempotency mismatch. */
export class ConflictError extends ServiceError {
  constructor(message: string) {
    super('operation_conflict', message);
    this.name = 'ConflictError';
  }
}

/** 404: the named object does not exist. */
export class NotFoundError extends ServiceError {
  constructor(code: 'gpustorage_not_found' | 'gpuunit_not_found' | 'job_not_found' | 'file_not_found', message: string) {
    super(code, message);
    this.name = 'NotFoundError';
  }
}

/** 409 insufficient_capacity: no ready stock for the spec; retry later. */
export class CapacityError extends ServiceError {
  constructor(message: string) {
    super('insufficient_capacity', message);
    this.name = 'CapacityError';
  }
}

/**
 * 401 unauthenticated: the bearer token was rejected by the cluster's TokenReview (or the
 * Authorization header is malformed). REST answers carry `WWW-Authenticate: Bearer`.
 */
export class UnauthenticatedError extends ServiceError {
  constructor(message: string) {
    super('unauthenticated', message);
    this.name = 'UnauthenticatedError';
  }
}

/**
 * 403 forbidden: Kubernetes RBAC (a SubjectAccessReview) denied the caller the verb on the
 * resource in the namespace; the message names all three (and the user).
 */
export class ForbiddenError extends ServiceError {
  constructor(message: string) {
    super('forbidden', message);
    this.name = 'ForbiddenError';
  }
}

/** 429 rate_limited: the caller's identity exceeded its request or subscription budget. */
export class RateLimitedError extends ServiceError {
  constructor(
    message: string,
    /** Seconds after which a retry may succeed (the `Retry-After` header). */
    readonly retryAfterSeconds: number,
  ) {
    super('rate_limited', message);
    this.name = 'RateLimitedError';
  }
}

/** 400 invalid_request naming the field: `"<field>: <message>"`. */
export const invalid = (field: string, message: string) => new ValidationError(`${field}: ${message}`, field);
/** 409 operation_conflict. */
export const conflict = (message: string) => new ConflictError(message);
/** 404 with the resource's not-found code. */
export const notFound = (code: 'gpustorage_not_found' | 'gpuunit_not_found' | 'job_not_found' | 'file_not_found', message: string) => new NotFoundError(code, message);
/** 409 insufficient_capacity (no free stock of the spec). */
export const insufficientCapacity = (message: string) => new CapacityError(message);
/** 503 operator_unavailable. */
export const unavailable = (message: string) => new OperatorUnavailableError(message);

/**
 * 503 operator_unavailable: the cluster cannot serve the request now (kube-apiserver unreachable,
 * a CRD not installed); the message says what is missing. Retry after `retryAfterSeconds`.
 */
export class OperatorUnavailableError extends ServiceError {
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
  ) {
    super('operator_unavailable', message);
    this.name = 'OperatorUnavailableError';
  }
}

/**
 * The service error a failure maps to when it has an API meaning: a ServiceError as it is; a
 * request to the API server that got no answer as 503 operator_unavailable; anything else undefined
 * (a bug: 500 with the route's code).
 */
export function asServiceError(err: unknown): ServiceError | undefined {
  if (err instanceof ServiceError) return err;
  if (isUnreachable(err)) return new OperatorUnavailableError(`the Kubernetes API server did not answer: ${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}`);
  return undefined;
}
