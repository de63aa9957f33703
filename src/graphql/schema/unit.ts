/**
 * The unit domain of the GraphQL API: the Unit type (active and stock GPU units), its queries,
 * inputs, mutations and subscriptions, and the storage↔unit links (Storage.mountedByUnits,
 * Unit.storages) resolved through the request's DataLoaders. Thin over src/service/units.ts (the
 * same rules serve REST).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { TOTAL_COUNT_DESCRIPTION, toConnection, totalCountOf } from '../connection';
import { CONNECTION_BOUNDS } from '../../service/paging';
import { builder } from '../builder';
import { ConditionType, WatchEventTypeEnum, namespacedID } from './common';
import { StorageType } from './storage';
import { eventOrThrow, type StreamEnd, type WatchEvent } from '../stream';
import { watchAuthorized } from '../subscriptions';
import { refreshLoaders, type GraphQLContext } from '../context';
import { createUnit, deleteUnit, getUnit, listStockUnits, listUnits, updateUnit } from '../../service/units';
import { unitRef } from '../../service/unit-validate';
import { toUnitView, type UnitView } from '../../service/unit-view';
import { toStorageView } from '../../service/storage';
import { CapacityError, ConflictError, NotFoundError, ValidationError } from '../../service/errors';
import { namespaceName } from '../../service/validate';
import { INSTANCE_NAMESPACE, STOCK_NAMESPACE } from '../../api/constants';
import type { GPUUnit, StorageMount, UnitAccess, UnitPort, UnitTemplate } from '../../api/types';

export const UnitPhaseEnum = builder.enumType('UnitPhase', {
  description: 'Ready: all replicas ready; Progressing: on its way (or waiting for storage); Failed; Empty: no replicas.',
  values: ['Ready', 'Progressing', 'Failed', 'Empty'] as const,
});

export const UnitLifecycleEnum = builder.enumType('UnitLifecycle', {
  description: 'stock: a reservation in runtime-stock, waiting to be consumed; instance: an active unit.',
  values: ['stock', 'instance'] as const,
});

export const PortProtocolEnum = builder.enumType('PortProtocol', { values: ['TCP', 'UDP', 'SCTP'] as const });

const EnvVarType = builder.objectRef<{ name: string; value?: string }>('EnvVar').implement({
  description: 'An environment variable of the runtime container.',
  fields: (t) => ({
    name: t.exposeString('name'),
    value: t.string({ resolve: (e) => e.value ?? '' }),
  }),
});

const UnitPortType = builder.objectRef<UnitPort>('UnitPort').implement({
  description: 'A container port, published by the unit Service.',
  fields: (t) => ({
    name: t.exposeString('name'),
    port: t.exposeInt('port'),
    protocol: t.field({ type: PortProtocolEnum, resolve: (p) => p.protocol ?? 'TCP' }),
  }),
});

const UnitTemplateType = builder.objectRef<UnitTemplate>('UnitTemplate').implement({
  description: "What the runtime container runs; without one, the image's own command.",
  fields: (t) => ({
    command: t.stringList({ resolve: (x) => x.command ?? [] }),
    args: t.stringList({ resolve: (x) => x.args ?? [] }),
    envs: t.field({ type: [EnvVarType], resolve: (x) => x.envs ?? [] }),
    ports: t.field({ type: [UnitPortType], resolve: (x) => x.ports ?? [] }),
  }),
});

const UnitAccessType = builder.objectRef<UnitAccess>('UnitAccess').implement({
  description: 'How the unit is reached: the primary port (default the first port) and scheme (default http).',
  fields: (t) => ({
    primaryPort: t.exposeString('primaryPort', { nullable: true }),
    scheme: t.string({ resolve: (a) => a.scheme || 'http' }),
  }),
});

/** A mount as the view has it, with the namespace of its unit (to find the storage). */
type MountShape = StorageMount & { namespace: string };

const StorageMountType = builder.objectRef<MountShape>('StorageMount').implement({
  description: "A storage's PVC mounted into the runtime container.",
  fields: (t) => ({
    name: t.exposeString('name', { description: 'The GPUStorage, in the unit namespace.' }),
    mountPath: t.exposeString('mountPath'),
    readOnly: t.boolean({ resolve: (m) => !!m.readOnly }),
    storage: t.field({
      type: StorageType,
      nullable: true,
      description: 'The mounted storage; null when it does not exist (any more).',
      resolve: async (m, _a, ctx) => {
        await ctx.svc.caller.require({ verb: 'get', resource: 'gpustorages', namespace: m.namespace, name: m.name });
        const s = await ctx.loaders.storage.load(`${m.namespace}/${m.name}`);
        return s ? toStorageView(ctx.svc, s) : null;
      },
    }),
  }),
});

export const UnitType = builder.objectRef<UnitView>('Unit');

builder.node(UnitType, {
  description: 'A GPUUnit: a GPU runtime (active, in a user namespace) or a stock reservation (in runtime-stock).',
  id: { resolve: (u) => `${u.namespace}/${u.name}` },
  isTypeOf: (v) => typeof v === 'object' && v !== null && 'lifecycle' in v && 'specName' in v,
  loadOne: async (id, ctx) => {
    const ref = namespacedID(id);
    if (!ref) return null;
    await ctx.svc.caller.require({ verb: 'get', resource: 'gpuunits', namespace: ref.namespace, name: ref.name });
    const u = ctx.svc.cache.units.get(ref.namespace, ref.name);
    return u && !u.metadata.deletionTimestamp ? toUnitView(u) : null;
  },
  fields: (t) => ({
    name: t.exposeString('name'),
    namespace: t.exposeString('namespace'),
    uid: t.exposeString('uid'),
    resourceVersion: t.exposeString('resourceVersion'),
    createdAt: t.field({ type: 'DateTime', resolve: (u) => u.createdAt }),
    lifecycle: t.field({ type: UnitLifecycleEnum, resolve: (u) => u.lifecycle }),
    specName: t.exposeString('specName'),
    operationID: t.exposeString('operationID', { nullable: true, description: 'The operation that made this unit.' }),
    sourceStockName: t.exposeString('sourceStockName', { nullable: true, description: 'The stock unit this active unit consumed.' }),
    sourceStockNamespace: t.exposeString('sourceStockNamespace', { nullable: true }),
    image: t.exposeString('image', { nullable: true }),
    memory: t.exposeString('memory', { description: 'Memory envelope, a Kubernetes quantity (from the stock).' }),
    gpu: t.exposeInt('gpu', { description: 'nvidia.com/gpu count (from the stock).' }),
    template: t.field({ type: UnitTemplateType, nullable: true, resolve: (u) => u.template }),
    access: t.field({ type: UnitAccessType, nullable: true, description: 'Null for stock units.', resolve: (u) => u.access }),
    storageMounts: t.field({ type: [StorageMountType], resolve: (u) => u.storageMounts.map((m) => ({ ...m, namespace: u.namespace })) }),
    storages: t.field({
      type: [StorageType],
      description: 'The storages this unit mounts (those that exist), in mount order.',
      resolve: async (u, _a, ctx) => {
        for (const m of u.storageMounts) await ctx.svc.caller.require({ verb: 'get', resource: 'gpustorages', namespace: u.namespace, name: m.name });
        const found = await ctx.loaders.storage.loadMany(u.storageMounts.map((m) => `${u.namespace}/${m.name}`));
        return found.flatMap((s) => (s && !(s instanceof Error) ? [toStorageView(ctx.svc, s)] : []));
      },
    }),
    phase: t.field({ type: UnitPhaseEnum, resolve: (u) => u.phase as 'Progressing' }),
    readyReplicas: t.exposeInt('readyReplicas'),
    observedGeneration: t.exposeInt('observedGeneration', { nullable: true }),
    lastSyncTime: t.field({ type: 'DateTime', nullable: true, resolve: (u) => u.lastSyncTime }),
    serviceName: t.exposeString('serviceName', { nullable: true }),
    accessURL: t.exposeString('accessURL', { nullable: true }),
    reason: t.exposeString('reason', { nullable: true, description: "The Ready condition's reason." }),
    message: t.exposeString('message', { nullable: true, description: "The Ready condition's message." }),
    conditions: t.field({ type: [ConditionType], resolve: (u) => u.conditions }),
  }),
});

builder.objectField(StorageType, 'mountedByUnits', (t) =>
  t.field({
    type: [UnitType],
    description: 'The active units that mount this storage (at most one, by the mount rule).',
    resolve: async (s, _a, ctx) => {
      await ctx.svc.caller.require({ verb: 'list', resource: 'gpuunits', namespace: s.namespace });
      return (await ctx.loaders.unitsByStorage.load(`${s.namespace}/${s.name}`)).map(toUnitView);
    },
  }),
);

builder.queryFields((t) => ({
  unit: t.field({
    type: UnitType,
    nullable: true,
    description: 'One unit (active, or stock with namespace runtime-stock), or null when it does not exist.',
    args: {
      namespace: t.arg.string({ defaultValue: INSTANCE_NAMESPACE }),
      name: t.arg.string({ required: true }),
    },
    resolve: async (_r, args, ctx) => {
      const ref = unitRef(args.namespace, args.name);
      try {
        return await getUnit(ctx.svc, ref.namespace, ref.name);
      } catch (err) {
        if (err instanceof NotFoundError) return null;
        throw err;
      }
    },
  }),
  units: t.connection(
    {
      type: UnitType,
      description: 'Active units, by namespace and name; all namespaces when namespace is omitted. 20 per page unless first or last says otherwise, at most 1000 (keyset cursors).',
      args: { namespace: t.arg.string() },
      resolve: async (_r, args, ctx) => {
        const ns = args.namespace ? namespaceName(args.namespace, INSTANCE_NAMESPACE) : undefined;
        return toConnection(await listUnits(ctx.svc, ns, args, CONNECTION_BOUNDS));
      },
    },
    { fields: (c) => ({ totalCount: c.int({ description: TOTAL_COUNT_DESCRIPTION, resolve: totalCountOf }) }) },
  ),
  stockUnits: t.connection(
    {
      type: UnitType,
      description: 'Stock units (runtime-stock), optionally of one specName, oldest first: the order consumption takes them. 20 per page unless first or last says otherwise, at most 1000 (keyset cursors).',
      args: { specName: t.arg.string() },
      resolve: async (_r, args, ctx) => toConnection(await listStockUnits(ctx.svc, args.specName ?? undefined, args, CONNECTION_BOUNDS)),
    },
    { fields: (c) => ({ totalCount: c.int({ description: TOTAL_COUNT_DESCRIPTION, resolve: totalCountOf }) }) },
  ),
}));

const EnvVarInput = builder.inputType('EnvVarInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'Not one the platform injects (SPEC_NAME, UNIT_NAME, GPU_COUNT, MEMORY_LIMIT).' }),
    value: t.string(),
  }),
});

const UnitPortInput = builder.inputType('UnitPortInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'An IANA service name: at most 15 lowercase letters, digits and "-".' }),
    port: t.int({ required: true, description: '1–65535.' }),
    protocol: t.field({ type: PortProtocolEnum, description: 'Default TCP.' }),
  }),
});

const UnitTemplateInput = builder.inputType('UnitTemplateInput', {
  fields: (t) => ({
    command: t.stringList(),
    args: t.stringList(),
    envs: t.field({ type: [EnvVarInput] }),
    ports: t.field({ type: [UnitPortInput] }),
  }),
});

const UnitAccessInput = builder.inputType('UnitAccessInput', {
  fields: (t) => ({
    primaryPort: t.string({ description: "One of the template's port names; default the first port." }),
    scheme: t.string({ description: 'http (default), https, tcp, grpc, ws or wss.' }),
  }),
});

const StorageMountInput = builder.inputType('StorageMountInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'A GPUStorage in the unit namespace, mounted by no other active unit.' }),
    mountPath: t.string({ required: true, description: 'Absolute, not "/", unique within the unit.' }),
    readOnly: t.boolean(),
  }),
});

const CreateUnitInput = builder.inputType('CreateUnitInput', {
  fields: (t) => ({
    operationID: t.string({ description: 'Idempotency key: the same operationID and payload replayed answer the same unit (replay true).' }),
    name: t.string({ required: true, description: 'DNS-1123 subdomain, at most 63 characters.' }),
    namespace: t.string({ defaultValue: INSTANCE_NAMESPACE, description: 'Not runtime-stock.' }),
    specName: t.string({ required: true, description: 'The stock spec to consume, e.g. g1.1.' }),
    image: t.string({ required: true }),
    template: t.field({ type: UnitTemplateInput }),
    access: t.field({ type: UnitAccessInput }),
    storageMounts: t.field({ type: [StorageMountInput] }),
  }),
});

const UpdateUnitInput = builder.inputType('UpdateUnitInput', {
  description: 'Fields left out stay as they are; template: null and access: null remove them; storageMounts: [] unmounts all.',
  fields: (t) => ({
    namespace: t.string({ defaultValue: INSTANCE_NAMESPACE }),
    name: t.string({ required: true }),
    image: t.string(),
    template: t.field({ type: UnitTemplateInput }),
    access: t.field({ type: UnitAccessInput }),
    storageMounts: t.field({ type: [StorageMountInput] }),
  }),
});

const UnitRefInput = builder.inputType('UnitRefInput', {
  fields: (t) => ({
    namespace: t.string({ defaultValue: INSTANCE_NAMESPACE }),
    name: t.string({ required: true }),
  }),
});

const CreateUnitSuccess = builder.objectRef<{ unit: UnitView; replay: boolean }>('CreateUnitSuccess').implement({
  description: 'The unit made (or, on replay, the one made before with the same operationID and payload).',
  fields: (t) => ({
    unit: t.field({ type: UnitType, resolve: (r) => r.unit }),
    replay: t.exposeBoolean('replay', { description: 'True when this operationID and payload were accepted before (REST answers 200 instead of 201).' }),
  }),
});

const DeletedUnitType = builder.objectRef<{ id: string; namespace: string; name: string }>('DeletedUnit').implement({
  description: 'The unit deleted; its storages and their PVCs stay.',
  fields: (t) => ({
    deletedId: t.exposeID('id', { description: 'The global ID the unit had.' }),
    namespace: t.exposeString('namespace'),
    name: t.exposeString('name'),
  }),
});

/** The body handed to updateUnit: only the fields the input carries (null kept: it removes). */
function updateBody(input: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const k of ['image', 'template', 'access', 'storageMounts'] as const) if (k in input) body[k] = input[k];
  return body;
}

builder.mutationFields((t) => ({
  createUnit: t.field({
    type: CreateUnitSuccess,
    description:
      'Makes an active unit by consuming one Ready stock unit of specName (oldest first). CapacityError when there is none: seed stock and retry once it is Ready.',
    args: { input: t.arg({ type: CreateUnitInput, required: true }) },
    errors: { types: [ValidationError, NotFoundError, ConflictError, CapacityError], directResult: true },
    resolve: (_r, { input }, ctx) => createUnit(ctx.svc, input),
  }),
  updateUnit: t.field({
    type: UnitType,
    description: "Changes an active unit's image, template, access and/or storage mounts.",
    args: { input: t.arg({ type: UpdateUnitInput, required: true }) },
    errors: { types: [ValidationError, NotFoundError, ConflictError], dataField: { name: 'unit' } },
    resolve: (_r, { input }, ctx) => {
      const ref = unitRef(input.namespace, input.name);
      return updateUnit(ctx.svc, ref.namespace, ref.name, updateBody(input as Record<string, unknown>));
    },
  }),
  deleteUnit: t.field({
    type: DeletedUnitType,
    description: 'Deletes a unit (its Deployment and Service go with it; its storages stay).',
    args: { input: t.arg({ type: UnitRefInput, required: true }) },
    errors: { types: [ValidationError, NotFoundError, ConflictError], dataField: { name: 'deleted' } },
    resolve: async (_r, { input }, ctx) => {
      const ref = unitRef(input.namespace, input.name);
      await deleteUnit(ctx.svc, ref.namespace, ref.name);
      return { id: encodeGlobalID('Unit', `${ref.namespace}/${ref.name}`), ...ref };
    },
  }),
}));

interface UnitEventShape {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  resourceVersion: string;
  unit: UnitView;
}

/** One subscription event, resolved against the cache as it is now. */
function unitEvent(ctx: GraphQLContext, item: WatchEvent<GPUUnit & KubernetesObject> | StreamEnd): UnitEventShape {
  const e = eventOrThrow(item);
  refreshLoaders(ctx);
  return { type: e.type, resourceVersion: e.resourceVersion, unit: toUnitView(e.object) };
}

const UnitEventType = builder.objectRef<UnitEventShape>('UnitEvent').implement({
  description: 'A change of a unit; the first events carry the current state as ADDED.',
  fields: (t) => ({
    type: t.field({ type: WatchEventTypeEnum, resolve: (e) => e.type }),
    resourceVersion: t.exposeString('resourceVersion'),
    unit: t.field({ type: UnitType, resolve: (e) => e.unit }),
  }),
});

builder.subscriptionFields((t) => ({
  unitChanged: t.field({
    type: UnitEventType,
    description: 'The current state of one unit, then every change (fed by the shared watch).',
    args: {
      namespace: t.arg.string({ defaultValue: INSTANCE_NAMESPACE }),
      name: t.arg.string({ required: true }),
    },
    subscribe: (_r, args, ctx) => {
      const ref = unitRef(args.namespace, args.name);
      return watchAuthorized(ctx, ctx.svc.cache.units, { resource: 'gpuunits', ...ref }, (u) => u.metadata.namespace === ref.namespace && u.metadata.name === ref.name);
    },
    resolve: (e, _a, ctx) => unitEvent(ctx, e),
  }),
  unitsChanged: t.field({
    type: UnitEventType,
    description: `The current state of every unit of a namespace, then every change; all active units when namespace is omitted (${STOCK_NAMESPACE} for stock).`,
    args: { namespace: t.arg.string() },
    subscribe: (_r, args, ctx) => {
      const ns = args.namespace ? namespaceName(args.namespace, INSTANCE_NAMESPACE) : undefined;
      return watchAuthorized(ctx, ctx.svc.cache.units, { resource: 'gpuunits', namespace: ns }, (u) => (ns ? u.metadata.namespace === ns : u.metadata.namespace !== STOCK_NAMESPACE));
    },
    resolve: (e, _a, ctx) => unitEvent(ctx, e),
  }),
}));
