/**
 * Types every domain shares: the Error interface and typed errors (mirrored in
 * `extensions.code` when thrown), Kubernetes conditions, watch event types.
 */
import { builder } from '../builder';
import { CapacityError, ConflictError, NotFoundError, ServiceError, ValidationError } from '../../service/errors';
import type { Condition } from '../../api/types';

/** GraphQL error code of a service error: the contract's code in SCREAMING_CASE. */
export function graphqlCode(err: ServiceError): string {
  return err.code.toUpperCase();
}

export const ErrorCodeEnum = builder.enumType('ErrorCode', {
  description: 'Machine-readable error codes; REST uses the same codes in lower case.',
  values: [
    'UNAUTHENTICATED',
    'FORBIDDEN',
    'RATE_LIMITED',
    'INVALID_REQUEST',
    'OPERATION_CONFLICT',
    'INSUFFICIENT_CAPACITY',
    'GPUSTORAGE_NOT_FOUND',
    'GPUUNIT_NOT_FOUND',
    'JOB_NOT_FOUND',
    'FILE_NOT_FOUND',
    'OPERATOR_UNAVAILABLE',
    'INTERNAL_ERROR',
  ] as const,
});

export const ErrorInterface = builder.interfaceRef<ServiceError>('Error').implement({
  description: 'An error the caller can act on.',
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.field({ type: ErrorCodeEnum, resolve: (e) => graphqlCode(e) as never }),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'The request is invalid (HTTP 400 invalid_request); `field` names the input at fault.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof ValidationError,
  fields: (t) => ({ field: t.exposeString('field', { nullable: true }) }),
});

builder.objectType(ConflictError, {
  name: 'ConflictError',
  description: 'The request conflicts with existing objects (HTTP 409 operation_conflict).',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof ConflictError,
  fields: () => ({}),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'An object the request names does not exist (HTTP 404).',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof NotFoundError,
  fields: () => ({}),
});

builder.objectType(CapacityError, {
  name: 'CapacityError',
  description: 'No ready stock for the spec (HTTP 409 insufficient_capacity); retry later.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof CapacityError,
  fields: () => ({}),
});

/** Error classes of mutations that validate, look up and may conflict. */
export const MUTATION_ERRORS = [ValidationError, NotFoundError, ConflictError];

export const ConditionType = builder.objectRef<Condition>('Condition').implement({
  description: 'A Kubernetes condition (metav1.Condition).',
  fields: (t) => ({
    type: t.exposeString('type'),
    status: t.exposeString('status'),
    reason: t.exposeString('reason'),
    message: t.exposeString('message'),
    observedGeneration: t.exposeInt('observedGeneration', { nullable: true }),
    lastTransitionTime: t.field({ type: 'DateTime', resolve: (c) => c.lastTransitionTime }),
  }),
});

export const WatchEventTypeEnum = builder.enumType('WatchEventType', {
  description: 'Kind of change; the first events of a subscription carry the current state as ADDED.',
  values: ['ADDED', 'MODIFIED', 'DELETED'] as const,
});

/**
 * The `namespace/name` local part of a global ID, or undefined unless it is exactly two non-empty
 * segments (so `node(id)` never resolves an ID to an object whose own ID differs).
 */
export function namespacedID(id: string): { namespace: string; name: string } | undefined {
  const parts = id.split('/');
  return parts.length === 2 && parts[0] && parts[1] ? { namespace: parts[0], name: parts[1] } : undefined;
}
