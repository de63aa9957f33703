/**
 * The storage domain of the GraphQL API: the Storage type, its queries, inputs, mutations and
 * subscriptions. Thin over src/service/storage.ts (the same rules serve REST).
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { TOTAL_COUNT_DESCRIPTION, toConnection, totalCountOf } from '../connection';
import { CONNECTION_BOUNDS } from '../../service/paging';
import { builder } from '../builder';
import { ConditionType, MUTATION_ERRORS, namespacedID, WatchEventTypeEnum } from './common';
import { eventOrThrow, type StreamEnd, type WatchEvent } from '../stream';
import { watchAuthorized } from '../subscriptions';
import { refreshLoaders, type GraphQLContext } from '../context';
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  createStorage,
  deleteStorage,
  getStorage,
  listStorages,
  recoverStorage,
  storageRef,
  toStorageView,
  updateStorage,
  validateCreateStorage,
  type StorageView,
} from '../../service/storage';
import type { AccessorStatus, GPUStorage, PrepareAttempt, PrepareFailure, PrepareSpec, PrepareStatus } from '../../api/types';
import { INSTANCE_NAMESPACE } from '../../api/constants';
import { namespaceName } from '../../service/validate';
import { invalid, NotFoundError, ValidationError } from '../../service/errors';

export const StoragePhaseEnum = builder.enumType('StoragePhase', { values: ['Pending', 'Ready', 'Failed'] as const });
export const PreparePhaseEnum = builder.enumType('PreparePhase', {
  values: ['NotRequested', 'Pending', 'Running', 'Succeeded', 'Failed'] as const,
});
export const RecoveryPhaseEnum = builder.enumType('RecoveryPhase', { values: ['None', 'Required', 'Running', 'Succeeded'] as const });
export const AccessorPhaseEnum = builder.enumType('AccessorPhase', { values: ['Disabled', 'Pending', 'Ready', 'Failed'] as const });

const PrepareSpecType = builder.objectRef<PrepareSpec>('PrepareSpec').implement({
  description: 'Where the initial data comes from (immutable after create).',
  fields: (t) => ({
    fromImage: t.exposeString('fromImage', { nullable: true }),
    fromStorageName: t.exposeString('fromStorageName', { nullable: true }),
    command: t.exposeStringList('command', { nullable: true }),
    args: t.exposeStringList('args', { nullable: true }),
  }),
});

const PrepareFailureType = builder.objectRef<PrepareFailure>('PrepareFailure').implement({
  description: 'The most recent failed prepare attempt; kept after later attempts.',
  fields: (t) => ({
    reason: t.exposeString('reason'),
    exitCode: t.exposeInt('exitCode', { nullable: true }),
    message: t.exposeString('message'),
    jobName: t.exposeString('jobName', { nullable: true }),
    time: t.field({ type: 'DateTime', resolve: (f) => f.time }),
  }),
});

const PrepareAttemptType = builder.objectRef<PrepareAttempt>('PrepareAttempt').implement({
  description: 'One prepare attempt (one Job).',
  fields: (t) => ({
    jobName: t.exposeString('jobName'),
    digest: t.exposeString('digest'),
    startTime: t.field({ type: 'DateTime', nullable: true, resolve: (a) => a.startTime }),
    completionTime: t.field({ type: 'DateTime', nullable: true, resolve: (a) => a.completionTime }),
    result: t.field({ type: PreparePhaseEnum, resolve: (a) => a.result }),
    reason: t.exposeString('reason', { nullable: true }),
    exitCode: t.exposeInt('exitCode', { nullable: true }),
  }),
});

const PrepareStatusType = builder.objectRef<PrepareStatus>('PrepareStatus').implement({
  fields: (t) => ({
    phase: t.field({ type: PreparePhaseEnum, resolve: (p) => p.phase }),
    jobName: t.exposeString('jobName', { nullable: true }),
    observedDigest: t.exposeString('observedDigest', { nullable: true }),
    recoveryPhase: t.field({ type: RecoveryPhaseEnum, resolve: (p) => p.recoveryPhase }),
    attempts: t.int({ resolve: (p) => p.attempts ?? 0 }),
    message: t.exposeString('message', { nullable: true }),
    startTime: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.startTime }),
    completionTime: t.field({ type: 'DateTime', nullable: true, resolve: (p) => p.completionTime }),
    lastFailure: t.field({ type: PrepareFailureType, nullable: true, resolve: (p) => p.lastFailure }),
    history: t.field({ type: [PrepareAttemptType], description: 'The last 5 attempts, oldest first.', resolve: (p) => p.history ?? [] }),
  }),
});

const AccessorStatusType = builder.objectRef<AccessorStatus>('AccessorStatus').implement({
  fields: (t) => ({
    phase: t.field({ type: AccessorPhaseEnum, resolve: (a) => a.phase }),
    serviceName: t.exposeString('serviceName', { nullable: true }),
    accessURL: t.exposeString('accessURL', { nullable: true }),
    readyReplicas: t.exposeInt('readyReplicas', { nullable: true }),
    message: t.exposeString('message', { nullable: true }),
  }),
});

export const StorageType = builder.objectRef<StorageView>('Storage');

builder.node(StorageType, {
  description: 'A GPUStorage: a volume prepared before any GPU runtime starts.',
  id: { resolve: (s) => `${s.namespace}/${s.name}` },
  isTypeOf: (v) => typeof v === 'object' && v !== null && 'claimName' in v && 'prepareStatus' in v,
  loadOne: async (id, ctx) => {
    const ref = namespacedID(id);
    if (!ref) return null;
    await ctx.svc.caller.require({ verb: 'get', resource: 'gpustorages', namespace: ref.namespace, name: ref.name });
    const s = ctx.svc.cache.storages.get(ref.namespace, ref.name);
    return s ? toStorageView(ctx.svc, s) : null;
  },
  fields: (t) => ({
    name: t.exposeString('name'),
    namespace: t.exposeString('namespace'),
    uid: t.exposeString('uid'),
    resourceVersion: t.exposeString('resourceVersion'),
    createdAt: t.field({ type: 'DateTime', resolve: (s) => s.createdAt }),
    size: t.exposeString('size', { description: 'Requested size, a Kubernetes quantity.' }),
    storageClassName: t.exposeString('storageClassName'),
    prepare: t.field({ type: PrepareSpecType, nullable: true, resolve: (s) => s.prepare }),
    accessorEnabled: t.boolean({ resolve: (s) => s.accessor.enabled }),
    claimName: t.exposeString('claimName'),
    capacity: t.exposeString('capacity', { nullable: true, description: "The PVC's bound capacity." }),
    mountedBy: t.stringList({
      description: 'Names of the active units that mount this storage.',
      resolve: async (s, _a, ctx) => (await ctx.loaders.unitsByStorage.load(`${s.namespace}/${s.name}`)).map((u) => u.metadata.name!).sort(),
    }),
    phase: t.field({ type: StoragePhaseEnum, resolve: (s) => s.phase as 'Pending' }),
    prepareStatus: t.field({ type: PrepareStatusType, resolve: (s) => s.prepareStatus }),
    accessorStatus: t.field({ type: AccessorStatusType, resolve: (s) => s.accessorStatus }),
    observedGeneration: t.exposeInt('observedGeneration', { nullable: true }),
    lastSyncTime: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.lastSyncTime }),
    reason: t.exposeString('reason', { nullable: true, description: "The Ready condition's reason." }),
    message: t.exposeString('message', { nullable: true, description: "The Ready condition's message." }),
    conditions: t.field({ type: [ConditionType], resolve: (s) => s.conditions }),
  }),
});

builder.queryFields((t) => ({
  storage: t.field({
    type: StorageType,
    nullable: true,
    description: 'One storage, or null when it does not exist.',
    args: {
      namespace: t.arg.string({ defaultValue: INSTANCE_NAMESPACE }),
      name: t.arg.string({ required: true }),
    },
    resolve: async (_r, args, ctx) => {
      const ref = storageRef(args.namespace, args.name);
      try {
        return await getStorage(ctx.svc, ref.namespace, ref.name);
      } catch (err) {
        if (err instanceof NotFoundError) return null;
        throw err;
      }
    },
  }),
  storages: t.connection(
    {
      type: StorageType,
      description:
        'Storages, by namespace and name; all namespaces when namespace is omitted. 20 per page unless first or last says otherwise, at most 1000; ' +
        'pageInfo.hasNextPage says when there are more. Cursors are keyset positions: a walk never repeats or skips a storage that exists throughout it.',
      args: {
        namespace: t.arg.string(),
        phase: t.arg({ type: StoragePhaseEnum }),
      },
      resolve: async (_r, args, ctx) => {
        const ns = args.namespace ? namespaceName(args.namespace, INSTANCE_NAMESPACE) : undefined;
        return toConnection(await listStorages(ctx.svc, { namespace: ns, phase: args.phase ?? undefined }, args, CONNECTION_BOUNDS));
      },
    },
    { fields: (c) => ({ totalCount: c.int({ description: TOTAL_COUNT_DESCRIPTION, resolve: totalCountOf }) }) },
  ),
}));

const PrepareInput = builder.inputType('PrepareInput', {
  description: 'Exactly one of fromImage (with command or args) and fromStorageName.',
  fields: (t) => ({
    fromImage: t.string(),
    fromStorageName: t.string(),
    command: t.stringList(),
    args: t.stringList(),
  }),
});

const AccessorInput = builder.inputType('AccessorInput', {
  fields: (t) => ({ enabled: t.boolean({ required: true }) }),
});

const CreateStorageInput = builder.inputType('CreateStorageInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'DNS-1123 subdomain, at most 63 characters.' }),
    namespace: t.string({ defaultValue: INSTANCE_NAMESPACE }),
    size: t.string({ required: true, description: 'A Kubernetes quantity greater than zero, e.g. 20Gi.' }),
    storageClassName: t.string({ description: 'Default rook-ceph-block.' }),
    prepare: t.field({ type: PrepareInput }),
    accessor: t.field({ type: AccessorInput }),
  }),
});

const CloneStorageInput = builder.inputType('CloneStorageInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    namespace: t.string({ defaultValue: INSTANCE_NAMESPACE }),
    sourceName: t.string({ required: true, description: 'The storage to copy, in the same namespace.' }),
    size: t.string({ description: "Default: the source's size." }),
    storageClassName: t.string(),
    accessor: t.field({ type: AccessorInput }),
  }),
});

const StorageRefInput = builder.inputType('StorageRefInput', {
  fields: (t) => ({
    namespace: t.string({ defaultValue: INSTANCE_NAMESPACE }),
    name: t.string({ required: true }),
  }),
});

const UpdateStorageInput = builder.inputType('UpdateStorageInput', {
  description: 'Fields left out stay as they are.',
  fields: (t) => ({
    namespace: t.string({ defaultValue: INSTANCE_NAMESPACE }),
    name: t.string({ required: true }),
    size: t.string({ description: 'May grow, never shrink.' }),
    accessor: t.field({ type: AccessorInput }),
  }),
});

const DeletedStorageType = builder.objectRef<{ id: string; namespace: string; name: string }>('DeletedStorage').implement({
  fields: (t) => ({
    deletedId: t.exposeID('id'),
    namespace: t.exposeString('namespace'),
    name: t.exposeString('name'),
  }),
});

/**
 * Renames the service's `prepare.*` fields to the clone input's `sourceName`, so a clone's
 * ValidationError names a field the caller sent.
 */
function cloneFieldNames(err: unknown): unknown {
  if (err instanceof ValidationError && err.field?.startsWith('prepare')) {
    const detail = err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message;
    return invalid('sourceName', detail);
  }
  return err;
}

const storageResult = { types: MUTATION_ERRORS, dataField: { name: 'storage' } };

builder.mutationFields((t) => ({
  createStorage: t.field({
    type: StorageType,
    description: 'Creates a storage, optionally prepared from an image or another storage, optionally with an accessor.',
    args: { input: t.arg({ type: CreateStorageInput, required: true }) },
    errors: storageResult,
    resolve: (_r, { input }, ctx) => createStorage(ctx.svc, input),
  }),
  cloneStorage: t.field({
    type: StorageType,
    description: 'Creates a storage prepared by copying another storage of the same namespace.',
    args: { input: t.arg({ type: CloneStorageInput, required: true }) },
    errors: storageResult,
    resolve: async (_r, { input }, ctx) => {
      const ns = namespaceName(input.namespace, INSTANCE_NAMESPACE);
      const src = ctx.svc.cache.storages.get(ns, input.sourceName);
      const body = {
        name: input.name,
        namespace: ns,
        size: input.size ?? src?.spec.size,
        storageClassName: input.storageClassName ?? undefined,
        prepare: { fromStorageName: input.sourceName },
        accessor: input.accessor ?? undefined,
      };
      try {
        // The request's own validity first (the source's size is only known once it exists, so a
        // stand-in is checked when none is given), then the source's existence, then the rest.
        validateCreateStorage({ ...body, size: body.size ?? '1' });
        if (!src) throw invalid('sourceName', `source storage ${ns}/${input.sourceName} does not exist`);
        return await createStorage(ctx.svc, body);
      } catch (err) {
        throw cloneFieldNames(err);
      }
    },
  }),
  recoverStorage: t.field({
    type: StorageType,
    description: 'Starts a new prepare attempt (a fresh recovery nonce). Refused while an attempt runs or a running unit writes to the storage.',
    args: { input: t.arg({ type: StorageRefInput, required: true }) },
    errors: storageResult,
    resolve: (_r, { input }, ctx) => {
      const ref = storageRef(input.namespace, input.name);
      return recoverStorage(ctx.svc, ref.namespace, ref.name);
    },
  }),
  updateStorage: t.field({
    type: StorageType,
    description: 'Grows the storage and/or toggles its accessor.',
    args: { input: t.arg({ type: UpdateStorageInput, required: true }) },
    errors: storageResult,
    resolve: (_r, { input }, ctx) => {
      const ref = storageRef(input.namespace, input.name);
      return updateStorage(ctx.svc, ref.namespace, ref.name, {
        ...(input.size != null ? { size: input.size } : {}),
        ...(input.accessor != null ? { accessor: input.accessor } : {}),
      });
    },
  }),
  deleteStorage: t.field({
    type: DeletedStorageType,
    description: 'Deletes the storage and everything it owns. Refused while a unit mounts it or an unfinished clone reads from it.',
    args: { input: t.arg({ type: StorageRefInput, required: true }) },
    errors: { types: MUTATION_ERRORS, dataField: { name: 'deleted' } },
    resolve: async (_r, { input }, ctx) => {
      const ref = storageRef(input.namespace, input.name);
      await deleteStorage(ctx.svc, ref.namespace, ref.name);
      return { id: encodeGlobalID('Storage', `${ref.namespace}/${ref.name}`), ...ref };
    },
  }),
}));

interface StorageEventShape {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  resourceVersion: string;
  storage: StorageView;
}

/** One subscription event, resolved against the cache as it is now. */
function storageEvent(ctx: GraphQLContext, item: WatchEvent<GPUStorage & KubernetesObject> | StreamEnd): StorageEventShape {
  const e = eventOrThrow(item);
  refreshLoaders(ctx);
  return { type: e.type, resourceVersion: e.resourceVersion, storage: toStorageView(ctx.svc, e.object) };
}

const StorageEventType = builder.objectRef<StorageEventShape>('StorageEvent').implement({
  fields: (t) => ({
    type: t.field({ type: WatchEventTypeEnum, resolve: (e) => e.type }),
    resourceVersion: t.exposeString('resourceVersion'),
    storage: t.field({ type: StorageType, resolve: (e) => e.storage }),
  }),
});

builder.subscriptionFields((t) => ({
  storageChanged: t.field({
    type: StorageEventType,
    description: 'The current state of one storage, then every change (fed by the shared watch).',
    args: {
      namespace: t.arg.string({ defaultValue: INSTANCE_NAMESPACE }),
      name: t.arg.string({ required: true }),
    },
    subscribe: (_r, args, ctx) => {
      const ref = storageRef(args.namespace, args.name);
      return watchAuthorized(ctx, ctx.svc.cache.storages, { resource: 'gpustorages', ...ref }, (s) => s.metadata.namespace === ref.namespace && s.metadata.name === ref.name);
    },
    resolve: (e, _a, ctx) => storageEvent(ctx, e),
  }),
  storagesChanged: t.field({
    type: StorageEventType,
    description: 'The current state of every storage of a namespace (all when omitted), then every change.',
    args: { namespace: t.arg.string() },
    subscribe: (_r, args, ctx) => {
      const ns = args.namespace ? namespaceName(args.namespace, INSTANCE_NAMESPACE) : undefined;
      return watchAuthorized(ctx, ctx.svc.cache.storages, { resource: 'gpustorages', namespace: ns }, (s) => !ns || s.metadata.namespace === ns);
    },
    resolve: (e, _a, ctx) => storageEvent(ctx, e),
  }),
}));
