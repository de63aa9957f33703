/**
 * The operation domain of the GraphQL API: stock seeding operations (the GPUOperation records in
 * runtime-stock), the `operation` query, the `seedStock` mutation and the `operationChanged`
 * subscription. Thin over src/service/operations.ts (the same rules serve REST).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { builder } from '../builder';
import { WatchEventTypeEnum } from './common';
import { UnitType } from './unit';
import { eventOrThrow, type StreamEnd, type WatchEvent } from '../stream';
import { watchAuthorized } from '../subscriptions';
import { refreshLoaders, type GraphQLContext } from '../context';
import { getOperation, operationID as validOperationID, seedStock, toOperationView, type OperationView } from '../../service/operations';
import { toUnitView } from '../../service/unit-view';
import { ConflictError, NotFoundError, ValidationError } from '../../service/errors';
import { operationObjectName } from '../../api/operation';
import { STOCK_NAMESPACE } from '../../api/constants';
import type { GPUOperation } from '../../api/types';

export const OperationStatusEnum = builder.enumType('OperationStatus', {
  description: 'pending: accepted; running: making units; succeeded: all units exist (they become consumable when Ready); failed: see error.',
  values: ['pending', 'running', 'succeeded', 'failed'] as const,
});

export const OperationTypeEnum = builder.enumType('OperationType', { values: ['seed_stock_units'] as const });

const SeedRequestType = builder.objectRef<NonNullable<OperationView['request']>>('SeedRequest').implement({
  description: 'What a seeding operation was asked to make.',
  fields: (t) => ({
    specName: t.exposeString('specName'),
    memory: t.exposeString('memory'),
    gpu: t.exposeInt('gpu'),
    replicas: t.exposeInt('replicas'),
  }),
});

export const OperationType = builder.objectRef<OperationView>('Operation');

builder.node(OperationType, {
  description: 'A stock seeding operation, keyed by the caller’s operationID (REST GET /api/v1/operator/jobs/{operationID}).',
  id: { resolve: (o) => o.id },
  isTypeOf: (v) => typeof v === 'object' && v !== null && 'operationID' in v && 'objectName' in v,
  loadOne: async (id, ctx) => {
    await ctx.svc.caller.require({ verb: 'get', resource: 'gpuoperations', namespace: STOCK_NAMESPACE, name: id });
    const op = ctx.svc.cache.operations.get(STOCK_NAMESPACE, id);
    return op ? toOperationView(op) : null;
  },
  fields: (t) => ({
    recordName: t.exposeString('id', { description: 'The GPUOperation record in runtime-stock (kubectl get gpuoperation <recordName> -n runtime-stock).' }),
    operationID: t.exposeString('operationID'),
    type: t.field({ type: OperationTypeEnum, resolve: (o) => o.type }),
    status: t.field({ type: OperationStatusEnum, resolve: (o) => o.status }),
    error: t.exposeString('error', { nullable: true }),
    objectName: t.exposeString('objectName', { description: 'The batch name; stock units are <objectName>-001, -002, …' }),
    objectNamespace: t.exposeString('objectNamespace'),
    objects: t.exposeStringList('objects', { description: 'Names of the stock units made, once known.' }),
    units: t.field({
      type: [UnitType],
      description: 'The stock units of this operation that still exist (consumed ones are gone).',
      resolve: async (o, _a, ctx) => {
        await ctx.svc.caller.require({ verb: 'list', resource: 'gpuunits', namespace: o.objectNamespace });
        return o.objects.flatMap((name) => {
          const u = ctx.svc.cache.units.get(o.objectNamespace, name);
          return u && !u.metadata.deletionTimestamp ? [toUnitView(u)] : [];
        });
      },
    }),
    request: t.field({ type: SeedRequestType, nullable: true, resolve: (o) => o.request }),
    createdAt: t.field({ type: 'DateTime', resolve: (o) => o.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (o) => o.updatedAt }),
  }),
});

builder.queryField('operation', (t) =>
  t.field({
    type: OperationType,
    nullable: true,
    description: 'The operation of an operationID, or null when there is none.',
    args: { operationID: t.arg.string({ required: true }) },
    resolve: async (_r, args, ctx) => {
      try {
        return await getOperation(ctx.svc, args.operationID);
      } catch (err) {
        if (err instanceof NotFoundError) return null;
        throw err;
      }
    },
  }),
);

const SeedStockInput = builder.inputType('SeedStockInput', {
  fields: (t) => ({
    operationID: t.string({ required: true, description: 'Idempotency key: the same payload replayed answers the same operation; another payload is a ConflictError.' }),
    specName: t.string({ required: true, description: 'e.g. g1.1: letters, digits, ".", "_", "-", at most 42 characters.' }),
    memory: t.string({ required: true, description: 'Memory per unit, a Kubernetes quantity greater than zero.' }),
    gpu: t.int({ description: 'GPUs per unit, 0–64 (default 0).' }),
    replicas: t.int({ description: 'Units to make, 1–100 (default 1).' }),
  }),
});

const SeedStockSuccess = builder.objectRef<{ operation: OperationView; replay: boolean }>('SeedStockSuccess').implement({
  description: 'The operation accepted; its units are made in the background (follow with operationChanged).',
  fields: (t) => ({
    operation: t.field({ type: OperationType, resolve: (r) => r.operation }),
    replay: t.exposeBoolean('replay', { description: 'True when this operationID and payload were accepted before (REST answers 200 instead of 202).' }),
  }),
});

builder.mutationField('seedStock', (t) =>
  t.field({
    type: SeedStockSuccess,
    description: 'Seeds stock units of a spec in runtime-stock, as an idempotent operation.',
    args: { input: t.arg({ type: SeedStockInput, required: true }) },
    errors: { types: [ValidationError, ConflictError], directResult: true },
    resolve: (_r, { input }, ctx) => seedStock(ctx.svc, input),
  }),
);

interface OperationEventShape {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  resourceVersion: string;
  operation: OperationView;
}

const OperationEventType = builder.objectRef<OperationEventShape>('OperationEvent').implement({
  description: 'A change of an operation; the first event carries the current state as ADDED.',
  fields: (t) => ({
    type: t.field({ type: WatchEventTypeEnum, resolve: (e) => e.type }),
    resourceVersion: t.exposeString('resourceVersion'),
    operation: t.field({ type: OperationType, resolve: (e) => e.operation }),
  }),
});

/** One subscription event, resolved against the cache as it is now. */
function operationEvent(ctx: GraphQLContext, item: WatchEvent<GPUOperation & KubernetesObject> | StreamEnd): OperationEventShape {
  const e = eventOrThrow(item);
  refreshLoaders(ctx);
  return { type: e.type, resourceVersion: e.resourceVersion, operation: toOperationView(e.object) };
}

builder.subscriptionField('operationChanged', (t) =>
  t.field({
    type: OperationEventType,
    description: 'The current state of the operation of an operationID (nothing until it exists), then every change.',
    args: { operationID: t.arg.string({ required: true }) },
    subscribe: (_r, args, ctx) => {
      const id = validOperationID(args.operationID);
      const recordName = operationObjectName(id);
      return watchAuthorized(ctx, ctx.svc.cache.operations, { resource: 'gpuoperations', namespace: STOCK_NAMESPACE, name: recordName }, (o) => o.metadata.namespace === STOCK_NAMESPACE && o.metadata.name === recordName && o.spec.operationID === id);
    },
    resolve: (e, _a, ctx) => operationEvent(ctx, e),
  }),
);
