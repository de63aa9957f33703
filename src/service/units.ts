/**
 * GPUUnit operations shared by GraphQL and REST: create an active unit by consuming stock, read,
 * list (active and stock), update (image, template, access, mounts) and delete.
 *
 * Checks run in the contract's order, the first failure answers: whether the caller may (403, RBAC
 * through ctx.caller: create/get/list/update/delete on gpuunits in the namespace, and get on every
 * storage a create or update mounts) → the request's own validity (400, naming the field) → the objects it names exist (404; 400 for a missing mount storage) →
 * conflicts (409 operation_conflict: already exists, storage mounted by another active unit,
 * operationID reused with another payload) → capacity (409 insufficient_capacity). Nothing is
 * written before every check has passed.
 *
 * Consuming stock (createUnit): claim the oldest Ready, unclaimed stock unit of the specName
 * (./stock-claim.ts); create the active
 * unit (annotations operation-id, request-hash, source-stock-name, source-stock-namespace and the
 * claim id); delete the stock unit with a uid precondition. A failure after the claim releases it
 * (a JSON patch that tests the claim id first); a process that crashes in between leaves a claim
 * that the unit controller completes (the active unit exists) or releases (older than 60 s).
 * A request holds its operationID across replicas while it runs (./operation-lease.ts): a twin
 * replays, another payload conflicts, and only one of them ever claims stock.
 *
 * Exclusivity is checked against the cache first (a clear 409 in the contract's order), then made
 * atomic by reserving each mounted storage (./mounts.ts) just before the capacity step; the
 * reservation is taken back when the request fails afterwards (insufficient capacity included).
 * Validation is in ./unit-validate.ts, the view in ./unit-view.ts.
 * Source: ../shared/spec/contract.md ("GPUUnit", "Rules the API enforces").
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { ANNOTATIONS, API_VERSION, INSTANCE_NAMESPACE, STOCK_NAMESPACE } from '../api/constants';
import type { GPUUnit, StorageMount } from '../api/types';
import { isStock, unitLabels } from '../api/units';
import { claimState } from '../api/stock';
import { unitsMounting } from '../kube/cache-queries';
import { canonicalJSON } from '../api/canonical-json';
import { isAlreadyExists, isConflict, isInvalid, isNotFound, kubeMessageOf } from '../kube/errors';
import { R } from '../kube/resources';
import { logger } from '../logger';
import { awaitCached, awaitGone, requestedBy, requireNamespace, retryOnConflict, type RequestContext, type ServiceContext } from './context';
import { pageStockObjects, pageUnitObjects, type ObjectPage } from './listing';
import type { PageArgs, PageBounds } from './paging';
import { INDEX } from '../kube/cache';
import { releaseMounts, reserveMounts } from './mounts';
import { holdOperation, OPERATION_HASH_LABEL, operationHash } from './operation-lease';
import { conflict, invalid, notFound, ValidationError } from './errors';
import { namespaceOf, onlyKnownFields, optObject } from './validate';

import { toUnitView, type UnitView } from './unit-view';
import { createUnitHash, validateAccess, validateCreateUnit, validateMounts, validateTemplate, imageRef, type CreateUnitInput } from './unit-validate';
import { claimStock, releaseClaim } from './stock-claim';

type UnitObject = GPUUnit & KubernetesObject;
const log = logger.child({ service: 'units' });

// ---------------------------------------------------------------------------------------------
// Reads
// ---------------------------------------------------------------------------------------------

function getUnitObject(ctx: ServiceContext, namespace: string, name: string): UnitObject {
  const u = ctx.cache.units.get(namespace, name);
  if (!u || u.metadata.deletionTimestamp) throw notFound('gpuunit_not_found', `GPUUnit ${namespace}/${name} not found`);
  return u;
}

/** @throws ServiceError 403 (get denied), 404 gpuunit_not_found. */
export async function getUnit(ctx: RequestContext, namespace: string, name: string): Promise<UnitView> {
  await ctx.caller.require({ verb: 'get', resource: 'gpuunits', namespace, name });
  return toUnitView(getUnitObject(ctx, namespace, name));
}

/**
 * A page of the active units of a namespace (all namespaces but runtime-stock the caller may
 * list, when undefined), by namespace and name, from the cache's indexes (./listing.ts).
 * @throws ServiceError 403 when listing `namespace` is denied; ValidationError for a bad page size or cursor.
 */
export async function listUnits(ctx: RequestContext, namespace: string | undefined, args: PageArgs, bounds: PageBounds, fields?: { after: string; before: string }): Promise<ObjectPage<UnitView>> {
  const page = await pageUnitObjects(ctx, namespace, args, bounds, fields);
  return { ...page, items: page.items.map(toUnitView) };
}

/**
 * A page of stock units, optionally of one specName, oldest first (the order consumption takes them).
 * @throws 403 when listing gpuunits in runtime-stock is denied; ValidationError for a bad page size or cursor.
 */
export async function listStockUnits(ctx: RequestContext, specName: string | undefined, args: PageArgs, bounds: PageBounds, fields?: { after: string; before: string }): Promise<ObjectPage<UnitView>> {
  const page = await pageStockObjects(ctx, specName, args, bounds, fields);
  return { ...page, items: page.items.map(toUnitView) };
}

// ---------------------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------------------

/** The active unit that carries `operationID`, if this process's cache has one. */
function unitOfOperation(ctx: ServiceContext, operationID: string): UnitObject | undefined {
  // The operationID index holds active units not being deleted (src/kube/cache.ts).
  return ctx.cache.units.byIndex(INDEX.operationID, operationID)[0];
}

/** Another active unit (not `self`) that mounts one of `mounts` in `namespace`: the exclusivity rule. */
function mountConflict(ctx: ServiceContext, namespace: string, self: string, mounts: StorageMount[] | undefined): { storage: string; unit: string } | undefined {
  for (const m of mounts ?? []) {
    const other = unitsMounting(ctx.cache, namespace, m.name).find((u) => u.metadata.name !== self);
    if (other) return { storage: m.name, unit: other.metadata.name! };
  }
  return undefined;
}

/** Mounting a storage reads it: the caller needs get on each (403 naming the storage otherwise). */
async function requireMountable(ctx: RequestContext, namespace: string, mounts: StorageMount[] | undefined): Promise<void> {
  for (const m of mounts ?? []) await ctx.caller.require({ verb: 'get', resource: 'gpustorages', namespace, name: m.name });
}

/** Every mounted storage exists (400 naming `storageMounts[i].name` otherwise: contract, missing mount → 400). */
function checkMountsExist(ctx: ServiceContext, namespace: string, mounts: StorageMount[] | undefined): void {
  (mounts ?? []).forEach((m, i) => {
    const s = ctx.cache.storages.get(namespace, m.name);
    if (!s || s.metadata.deletionTimestamp) throw invalid(`storageMounts[${i}].name`, `GPUStorage ${namespace}/${m.name} does not exist`);
  });
}

/** Maps an API server rejection (422) to invalid_request; anything else propagates. */
function mapKubeError(err: unknown): never {
  if (isInvalid(err)) throw new ValidationError(kubeMessageOf(err));
  throw err;
}

/**
 * Creates an active unit by consuming one Ready, unclaimed stock unit of `specName`.
 * @returns the unit's view and `replay` (true: the same operationID and payload were accepted
 *   before; answer 200 instead of 201).
 * @throws ServiceError 400 invalid_request (naming the field; also a missing mount storage),
 *   409 operation_conflict (unit exists, storage mounted by another unit, operationID reused with
 *   another payload), 409 insufficient_capacity (no free Ready stock of the spec).
 */
export async function createUnit(ctx: RequestContext, body: unknown): Promise<{ unit: UnitView; replay: boolean }> {
  // 0. Authorization, in the namespace named (a malformed one is a validity error below).
  const asked = namespaceOf(body, INSTANCE_NAMESPACE);
  // A namespace no request may use (malformed, or the stock namespace) is a validity error below.
  if (asked && asked !== STOCK_NAMESPACE) await ctx.caller.require({ verb: 'create', resource: 'gpuunits', namespace: asked });
  // 1. Validity.
  const input = validateCreateUnit(body);
  await requireMountable(ctx, input.namespace, input.storageMounts);
  const hash = createUnitHash(input);
  const { name, namespace } = input;
  const prior = unitOfOperation(ctx, input.operationID);
  if (prior && sameOperation(prior, input.operationID, hash)) return { unit: toUnitView(prior), replay: true };
  // 2. Existence.
  await requireNamespace(ctx, namespace);
  checkMountsExist(ctx, namespace, input.storageMounts);
  // 3. Conflicts.
  if (prior) throw conflict(`operationID ${input.operationID} was already used with another payload (unit ${prior.metadata.namespace}/${prior.metadata.name}); use a new operationID`);
  const existing = ctx.cache.units.get(namespace, name);
  // A twin request may have made it while this one awaited above: that is a replay.
  if (existing && sameOperation(existing, input.operationID, hash)) return { unit: toUnitView(existing), replay: true };
  if (existing) throw conflict(`GPUUnit ${namespace}/${name} already exists`);
  const clash = mountConflict(ctx, namespace, name, input.storageMounts);
  if (clash) throw conflict(`GPUStorage ${namespace}/${clash.storage} is already mounted by unit ${clash.unit}; a storage is mounted by at most one active unit`);
  // The operationID, across replicas: held while this request runs (see ./operation-lease.ts).
  const hold = await holdOperation(ctx, input.operationID, hash, namespace, name);
  if (!hold.held) {
    await awaitCached(ctx.cache.units, hold.replay);
    return { unit: toUnitView(ctx.cache.units.get(namespace, name) ?? (hold.replay as UnitObject)), replay: true };
  }
  try {
    return await createHeld(ctx, input, hash);
  } finally {
    await hold.release();
  }
}

/** createUnit while holding the operationID: reserve the mounts, then capacity, create, consume. */
async function createHeld(ctx: RequestContext, input: CreateUnitInput, hash: string): Promise<{ unit: UnitView; replay: boolean }> {
  const { name, namespace } = input;
  // Exclusivity, atomically: reserve the mounts (released again if anything below fails).
  await reserveMounts(ctx, namespace, name, input.storageMounts);
  let succeeded = false;
  try {
    const result = await createReserved(ctx, input, hash);
    succeeded = true;
    return result;
  } finally {
    if (!succeeded && !ctx.cache.units.get(namespace, name)) await releaseMounts(ctx, namespace, name, (input.storageMounts ?? []).map((m) => m.name));
  }
}

/** True when `u` was made by the create request with this operationID and payload hash. */
function sameOperation(u: UnitObject, operationID: string, hash: string): boolean {
  const a = u.metadata.annotations ?? {};
  return !u.metadata.deletionTimestamp && a[ANNOTATIONS.operationID] === operationID && a[ANNOTATIONS.requestHash] === hash;
}

/**
 * The unit `namespace/name` as the API server has it now (the cache may lag behind a twin on
 * another replica), when the same operation and payload made it; undefined otherwise.
 */
async function madeBySame(ctx: ServiceContext, namespace: string, name: string, operationID: string, hash: string): Promise<UnitObject | undefined> {
  const live = await ctx.kube.get(R.unit, namespace, name).catch(() => undefined);
  if (!live || !sameOperation(live, operationID, hash)) return undefined;
  await awaitCached(ctx.cache.units, live);
  return ctx.cache.units.get(namespace, name) ?? live;
}

/** createUnit once its mounts are reserved: capacity (claim a stock unit), create, consume. */
async function createReserved(ctx: RequestContext, input: CreateUnitInput, hash: string): Promise<{ unit: UnitView; replay: boolean }> {
  const { name, namespace } = input;
  // 4. Capacity: claim a stock unit.
  const { stock, claimID } = await claimStock(ctx, input.specName);
  const obj: UnitObject = {
    apiVersion: API_VERSION,
    kind: 'GPUUnit',
    metadata: {
      name,
      namespace,
      annotations: {
        [ANNOTATIONS.operationID]: input.operationID,
        [ANNOTATIONS.requestHash]: hash,
        [ANNOTATIONS.sourceStockName]: stock.metadata.name!,
        [ANNOTATIONS.sourceStockNamespace]: STOCK_NAMESPACE,
        [ANNOTATIONS.stockClaimID]: claimID,
        ...requestedBy(ctx),
      },
    },
    spec: {
      specName: input.specName,
      image: input.image,
      memory: stock.spec.memory,
      gpu: stock.spec.gpu ?? 0,
      ...(input.template ? { template: input.template } : {}),
      ...(input.access ? { access: input.access } : {}),
      ...(input.storageMounts ? { storageMounts: input.storageMounts } : {}),
    },
  };
  obj.metadata.labels = { ...unitLabels(obj), [OPERATION_HASH_LABEL]: operationHash(input.operationID) };
  let created: UnitObject;
  try {
    created = await ctx.kube.create(R.unit, obj);
  } catch (err) {
    await releaseClaim(ctx, stock, claimID);
    if (isAlreadyExists(err)) {
      // Another request (maybe another replica) made this unit first: a replay or a conflict.
      const other = await madeBySame(ctx, namespace, name, input.operationID, hash);
      if (other) return { unit: toUnitView(other), replay: true };
      throw conflict(`GPUUnit ${namespace}/${name} already exists`);
    }
    mapKubeError(err);
  }
  // The stock unit is consumed: delete it (uid precondition: never a re-created namesake).
  try {
    await ctx.kube.delete(R.unit, STOCK_NAMESPACE, stock.metadata.name!, { uid: stock.metadata.uid });
  } catch (err) {
    if (!isNotFound(err)) log.warn({ stock: stock.metadata.name, err: kubeMessageOf(err) }, 'could not delete the consumed stock unit; the unit controller completes it');
  }
  // Reads follow the write: the new unit is listed, the consumed stock unit is not.
  await Promise.all([awaitCached(ctx.cache.units, created), awaitGone(ctx.cache.units, STOCK_NAMESPACE, stock.metadata.name!, stock.metadata.uid)]);
  return { unit: toUnitView(ctx.cache.units.get(namespace, name) ?? created), replay: false };
}

/**
 * Changes an active unit's image, template, access and/or storageMounts; fields absent from `body`
 * stay as they are (`template: null` / `access: null` remove them, `storageMounts: []` unmounts
 * all). specName, memory and gpu come from the stock and cannot change.
 * @throws ServiceError 400 (invalid field, stock unit, missing mount storage), 404, 409 (a storage
 *   mounted by another active unit).
 */
export async function updateUnit(ctx: RequestContext, namespace: string, name: string, body: unknown): Promise<UnitView> {
  await ctx.caller.require({ verb: 'update', resource: 'gpuunits', namespace, name });
  const b = optObject(body, 'body');
  if (!b) throw invalid('body', 'must be a JSON object');
  onlyKnownFields(b, 'body', ['image', 'template', 'access', 'storageMounts', 'specName', 'memory', 'gpu', 'name', 'namespace', 'operationID']);
  for (const f of ['specName', 'memory', 'gpu', 'name', 'namespace', 'operationID'] as const) {
    if (b[f] !== undefined) throw invalid(f, 'cannot be changed; a unit takes specName, memory and gpu from the stock it consumed (delete it and create a new one)');
  }
  const image = b.image === undefined ? undefined : imageRef(b.image);
  const template = 'template' in b ? (validateTemplate(b.template) ?? null) : undefined;
  const accessGiven = 'access' in b;
  const mounts = 'storageMounts' in b ? validateMounts(b.storageMounts) : undefined;
  await requireMountable(ctx, namespace, mounts);
  if (namespace === STOCK_NAMESPACE) throw invalid('namespace', `stock units in ${STOCK_NAMESPACE} are managed by the operator and cannot be updated`);
  const current = getUnitObject(ctx, namespace, name);
  /** The new spec from a base spec and the request's fields. */
  const nextSpec = (base: GPUUnit['spec']): GPUUnit['spec'] => {
    const spec: GPUUnit['spec'] = { ...base };
    if (image !== undefined) spec.image = image;
    if (template !== undefined) {
      if (template) spec.template = template;
      else delete spec.template;
    }
    const ports = spec.template?.ports;
    const access = accessGiven ? validateAccess(b.access, ports) : base.access;
    if (!accessGiven && access?.primaryPort && !ports?.some((p) => p.name === access.primaryPort)) {
      throw invalid('access.primaryPort', `"${access.primaryPort}" is not one of the new template's ports; change access with it`);
    }
    if (access) spec.access = access;
    else delete spec.access;
    if (mounts !== undefined) {
      if (mounts.length) spec.storageMounts = mounts;
      else delete spec.storageMounts;
    }
    return spec;
  };
  const wanted = nextSpec(current.spec);
  checkMountsExist(ctx, namespace, mounts);
  const clash = mountConflict(ctx, namespace, name, mounts);
  if (clash) throw conflict(`GPUStorage ${namespace}/${clash.storage} is already mounted by unit ${clash.unit}; a storage is mounted by at most one active unit`);
  if (canonicalJSON(wanted) === canonicalJSON(current.spec)) return toUnitView(current);
  // Exclusivity, atomically: reserve the storages this update adds; release those it drops after.
  const before = new Set((current.spec.storageMounts ?? []).map((m) => m.name));
  const after = new Set((wanted.storageMounts ?? []).map((m) => m.name));
  const added = (wanted.storageMounts ?? []).filter((m) => !before.has(m.name));
  const removed = [...before].filter((n) => !after.has(n));
  await reserveMounts(ctx, namespace, name, added);
  let updated: UnitObject;
  try {
    let base: UnitObject = current;
    updated = await retryOnConflict(async () => {
      try {
        const metadata = { ...base.metadata, annotations: { ...base.metadata.annotations, ...requestedBy(ctx) } };
        return await ctx.kube.replace(R.unit, { ...base, metadata, spec: nextSpec(base.spec) });
      } catch (err) {
        if (isConflict(err)) base = await ctx.kube.get(R.unit, namespace, name);
        throw err;
      }
    });
  } catch (err) {
    await releaseMounts(ctx, namespace, name, added.map((m) => m.name));
    if (isNotFound(err)) throw notFound('gpuunit_not_found', `GPUUnit ${namespace}/${name} not found`);
    mapKubeError(err);
  }
  await awaitCached(ctx.cache.units, updated);
  await releaseMounts(ctx, namespace, name, removed);
  return toUnitView(ctx.cache.units.get(namespace, name) ?? updated);
}

/**
 * Deletes a unit; its Deployment and Service go by garbage collection; the storages it mounted
 * and their PVCs stay. Answers once this process's reads no longer see the unit.
 * @throws ServiceError 404; 409 for a stock unit claimed by a create in flight.
 */
export async function deleteUnit(ctx: RequestContext, namespace: string, name: string): Promise<void> {
  await ctx.caller.require({ verb: 'delete', resource: 'gpuunits', namespace, name });
  const u = getUnitObject(ctx, namespace, name);
  if (isStock(u) && claimState(u, Date.now()).live) throw conflict(`stock unit ${name} is being consumed right now; retry shortly`);
  try {
    await ctx.kube.delete(R.unit, namespace, name, { uid: u.metadata.uid });
  } catch (err) {
    if (!isNotFound(err) && !isConflict(err)) throw err;
  }
  await awaitGone(ctx.cache.units, namespace, name, u.metadata.uid);
  await releaseMounts(ctx, namespace, name, (u.spec.storageMounts ?? []).map((m) => m.name));
}
