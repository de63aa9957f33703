/**
 * Storage operations shared by GraphQL and REST: create (optionally prepared from an image or
 * cloned), read, list, update (grow, accessor toggle), recover, delete.
 *
 * Checks run in the contract's order, the first failure answers: whether the caller may (403,
 * RBAC through ctx.caller: create/get/list/update/delete on gpustorages in the namespace, create on
 * gpustorages/recover, get on a clone's source) → the request's own validity (400)
 * → the objects it names exist (404; 400 for a missing clone source) → conflicts (409
 * operation_conflict) → capacity. Nothing is written before every check has passed.
 * Source: ../shared/spec/contract.md ("Rules the API enforces", "GPUStorage").
 */
import { randomUUID } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ANNOTATIONS, API_VERSION, COMMON_LABELS, DEFAULT_STORAGE_CLASS, INSTANCE_NAMESPACE, LABELS, STOCK_NAMESPACE } from '../api/constants';
import { compareQuantities, parseQuantity } from '../api/quantity';
import { currentDigest, prepareDigest } from '../api/digest';
import { isJobActive } from '../api/job';
import type { AccessorStatus, Condition, GPUStorage, PrepareSpec, PrepareStatus } from '../api/types';
import { isAlreadyExists, isConflict, isNotFound, isInvalid, kubeMessageOf } from '../kube/errors';
import { R } from '../kube/resources';
import { runningWriterOf, unitsMounting } from '../kube/cache-queries';
import { awaitCached, awaitGone, requestedBy, retryOnConflict, type RequestContext, type ServiceContext } from './context';
import { pageStorageObjects, type ObjectPage } from './listing';
import type { PageArgs, PageBounds } from './paging';
import { INDEX } from '../kube/cache';
import { reservationAlive, reservationOf } from './mounts';
import { conflict, invalid, notFound, ValidationError } from './errors';
import {
  namespaceName,
  onlyKnownFields,
  optBool,
  optObject,
  optString,
  optStringList,
  byteSize,
  namespaceOf,
  resourceName,
} from './validate';

type StorageObject = GPUStorage & KubernetesObject;

/** A validated create request. */
export interface CreateStorageInput {
  name: string;
  namespace: string;
  size: string;
  storageClassName: string;
  prepare?: PrepareSpec;
  accessor?: { enabled: boolean };
}

/** The contract's storage view (REST `data`, GraphQL `Storage`). */
export interface StorageView {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  createdAt: string;
  size: string;
  storageClassName: string;
  prepare?: PrepareSpec;
  accessor: { enabled: boolean };
  claimName: string;
  capacity?: string;
  mountedBy: string[];
  phase: string;
  prepareStatus: PrepareStatus;
  accessorStatus: AccessorStatus;
  observedGeneration?: number;
  lastSyncTime?: string;
  reason?: string;
  message?: string;
  conditions: Condition[];
}

/** Builds the view of a storage; `mountedBy` lists the active units naming it in storageMounts. */
export function toStorageView(ctx: ServiceContext, s: GPUStorage): StorageView {
  const ns = s.metadata.namespace!;
  const ready = s.status?.conditions?.find((c) => c.type === 'Ready');
  return {
    name: s.metadata.name!,
    namespace: ns,
    uid: s.metadata.uid ?? '',
    resourceVersion: s.metadata.resourceVersion ?? '',
    createdAt: s.metadata.creationTimestamp ? new Date(s.metadata.creationTimestamp).toISOString() : '',
    size: s.spec.size,
    storageClassName: s.spec.storageClassName ?? DEFAULT_STORAGE_CLASS,
    prepare: s.spec.prepare,
    accessor: { enabled: !!s.spec.accessor?.enabled },
    claimName: s.status?.claimName ?? s.metadata.name!,
    capacity: s.status?.capacity,
    mountedBy: unitsMounting(ctx.cache, ns, s.metadata.name!).map((u) => u.metadata.name!).sort(),
    phase: s.status?.phase ?? 'Pending',
    prepareStatus: s.status?.prepare ?? { phase: s.spec.prepare ? 'Pending' : 'NotRequested', recoveryPhase: 'None' },
    accessorStatus: s.status?.accessor ?? { phase: s.spec.accessor?.enabled ? 'Pending' : 'Disabled' },
    observedGeneration: s.status?.observedGeneration,
    lastSyncTime: s.status?.lastSyncTime,
    reason: ready?.reason,
    message: ready?.message,
    conditions: s.status?.conditions ?? [],
  };
}

/**
 * Checks a create request's own validity (no cluster reads).
 * @throws ServiceError invalid_request naming the field.
 */
export function validateCreateStorage(body: unknown): CreateStorageInput {
  const b = optObject(body, 'body');
  if (!b) throw invalid('body', 'must be a JSON object');
  onlyKnownFields(b, 'body', ['name', 'namespace', 'size', 'storageClassName', 'prepare', 'accessor']);
  const name = resourceName(b.name);
  const namespace = namespaceName(b.namespace, INSTANCE_NAMESPACE);
  if (namespace === STOCK_NAMESPACE) throw invalid('namespace', `storage may not be created in the stock namespace ${STOCK_NAMESPACE}`);
  const size = byteSize(b.size, 'size').text;
  const storageClassName = optString(b.storageClassName, 'storageClassName') ?? DEFAULT_STORAGE_CLASS;
  const p = optObject(b.prepare, 'prepare');
  let prepare: PrepareSpec | undefined;
  if (p) {
    onlyKnownFields(p, 'prepare', ['fromImage', 'fromStorageName', 'command', 'args']);
    const fromImage = optString(p.fromImage, 'prepare.fromImage');
    const fromStorageName = optString(p.fromStorageName, 'prepare.fromStorageName');
    const command = optStringList(p.command, 'prepare.command');
    const args = optStringList(p.args, 'prepare.args');
    if (fromImage && fromStorageName) throw invalid('prepare', 'fromImage and fromStorageName are exclusive; give one');
    if (!fromImage && !fromStorageName) throw invalid('prepare', 'needs fromImage or fromStorageName');
    if (fromImage) {
      if (/\s/.test(fromImage)) throw invalid('prepare.fromImage', `"${fromImage}" is not an image reference`);
      if (!command?.length && !args?.length) throw invalid('prepare', 'fromImage needs command or args');
    }
    if (fromStorageName) {
      resourceName(fromStorageName, 'prepare.fromStorageName');
      if (fromStorageName === name) throw invalid('prepare.fromStorageName', 'a storage cannot be cloned from itself');
      if (command?.length || args?.length) throw invalid('prepare', 'command and args are only allowed with fromImage');
    }
    prepare = {
      ...(fromImage ? { fromImage } : {}),
      ...(fromStorageName ? { fromStorageName } : {}),
      ...(command?.length ? { command } : {}),
      ...(args?.length ? { args } : {}),
    };
  }
  const a = optObject(b.accessor, 'accessor');
  if (a) onlyKnownFields(a, 'accessor', ['enabled']);
  const accessor = a ? { enabled: optBool(a.enabled, 'accessor.enabled') ?? false } : undefined;
  return { name, namespace, size, storageClassName, prepare, accessor };
}

function getStorageObject(ctx: ServiceContext, namespace: string, name: string): StorageObject {
  const s = ctx.cache.storages.get(namespace, name);
  if (!s) throw notFound('gpustorage_not_found', `GPUStorage ${namespace}/${name} not found`);
  return s;
}

async function storageClass(ctx: ServiceContext, name: string): Promise<{ allowVolumeExpansion?: boolean } | undefined> {
  // From the StorageClass informer; the API server is asked only for a class it has not delivered
  // (created a moment ago): no round trip on every create (bench/converge.ts, issue 14).
  const cached = ctx.cache.storageClasses.get(undefined, name);
  if (cached) return cached;
  try {
    return await ctx.kube.get(R.storageClass, undefined, name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Maps an API server rejection (422) to invalid_request; anything else propagates. */
function mapKubeError(err: unknown): never {
  if (isInvalid(err)) throw new ValidationError(kubeMessageOf(err));
  throw err;
}

/**
 * Creates a storage. 201 semantics; the returned view is what this process's reads show next.
 * @throws ServiceError 400 (invalid input, missing clone source, unknown storage class, clone
 *   cycle), 409 operation_conflict (already exists).
 */
export async function createStorage(ctx: RequestContext, body: unknown): Promise<StorageView> {
  const asked = namespaceOf(body, INSTANCE_NAMESPACE);
  // A namespace no request may use (malformed, or the stock namespace) is a validity error below.
  if (asked && asked !== STOCK_NAMESPACE) await ctx.caller.require({ verb: 'create', resource: 'gpustorages', namespace: asked });
  const input = validateCreateStorage(body);
  const { name, namespace } = input;
  // A clone reads its source: the caller must be allowed to read it too.
  if (input.prepare?.fromStorageName) await ctx.caller.require({ verb: 'get', resource: 'gpustorages', namespace, name: input.prepare.fromStorageName });
  // Existence of what the request names.
  if (!(await storageClass(ctx, input.storageClassName))) {
    throw invalid('storageClassName', `StorageClass ${input.storageClassName} does not exist`);
  }
  const from = input.prepare?.fromStorageName;
  let sourceUID: string | undefined;
  if (from) {
    const src = ctx.cache.storages.get(namespace, from);
    sourceUID = src?.metadata.uid;
    if (!src) throw invalid('prepare.fromStorageName', `source storage ${namespace}/${from} does not exist`);
    if (compareQuantities(parseQuantity(input.size)!, parseQuantity(src.spec.size)!) < 0) {
      throw invalid('size', `a clone must be at least as large as its source ${from} (${src.spec.size}); got ${input.size}`);
    }
    // Following the source's own clone chain must not lead back to the new storage.
    const chain = [name, from];
    let cur = src.spec.prepare?.fromStorageName;
    while (cur) {
      if (chain.includes(cur)) throw invalid('prepare.fromStorageName', `clone cycle: ${[...chain, cur].join(' → ')}`);
      chain.push(cur);
      cur = ctx.cache.storages.get(namespace, cur)?.spec.prepare?.fromStorageName;
    }
  }
  // Conflicts.
  if (ctx.cache.storages.get(namespace, name)) throw conflict(`GPUStorage ${namespace}/${name} already exists`);
  const obj: StorageObject = {
    apiVersion: API_VERSION,
    kind: 'GPUStorage',
    metadata: {
      name,
      namespace,
      labels: { ...COMMON_LABELS, [LABELS.storage]: name },
      annotations: { ...requestedBy(ctx), ...(sourceUID ? { [ANNOTATIONS.cloneSourceUID]: sourceUID } : {}) },
    },
    spec: {
      size: input.size,
      storageClassName: input.storageClassName,
      ...(input.prepare ? { prepare: input.prepare } : {}),
      ...(input.accessor ? { accessor: input.accessor } : {}),
    },
  };
  let created: StorageObject;
  try {
    created = await ctx.kube.create(R.storage, obj);
  } catch (err) {
    if (isAlreadyExists(err)) throw conflict(`GPUStorage ${namespace}/${name} already exists`);
    // The only object a create names that the API server looks up is the namespace.
    if (isNotFound(err)) throw invalid('namespace', `namespace ${namespace} does not exist`);
    mapKubeError(err);
  }
  await awaitCached(ctx.cache.storages, created);
  return toStorageView(ctx, ctx.cache.storages.get(namespace, name) ?? created);
}

/** @throws ServiceError 403 (get denied), 404 gpustorage_not_found. */
export async function getStorage(ctx: RequestContext, namespace: string, name: string): Promise<StorageView> {
  await ctx.caller.require({ verb: 'get', resource: 'gpustorages', namespace, name });
  return toStorageView(ctx, getStorageObject(ctx, namespace, name));
}

/**
 * A page of the storages of a namespace (all namespaces the caller may list when undefined),
 * optionally of one phase, by namespace and name (code-unit order), served from the cache's
 * indexes (./listing.ts, keyset cursors: ./paging.ts). `fields` names the cursor arguments in
 * errors (REST: `continue`).
 * @throws ServiceError 403 when listing `namespace` is denied; ValidationError (400) for a bad
 *   page size or cursor.
 */
export async function listStorages(
  ctx: RequestContext,
  filter: { namespace?: string; phase?: string },
  args: PageArgs,
  bounds: PageBounds,
  fields?: { after: string; before: string },
): Promise<ObjectPage<StorageView>> {
  const page = await pageStorageObjects(ctx, filter, args, bounds, fields);
  return { ...page, items: page.items.map((s) => toStorageView(ctx, s)) };
}

/**
 * Changes size (grow only) and/or the accessor toggle; fields absent from `body` stay as they are.
 * @throws ServiceError 400 (shrink, bad quantity, class without volume expansion), 404.
 */
export async function updateStorage(ctx: RequestContext, namespace: string, name: string, body: unknown): Promise<StorageView> {
  await ctx.caller.require({ verb: 'update', resource: 'gpustorages', namespace, name });
  const b = optObject(body, 'body');
  if (!b) throw invalid('body', 'must be a JSON object');
  if ('prepare' in b) throw invalid('prepare', 'the prepare contract is immutable; use recover to start a new attempt');
  onlyKnownFields(b, 'body', ['size', 'accessor', 'name', 'namespace']);
  const size = b.size === undefined || b.size === null ? undefined : byteSize(b.size, 'size');
  const a = optObject(b.accessor, 'accessor');
  if (a) onlyKnownFields(a, 'accessor', ['enabled']);
  const accessorEnabled = a ? optBool(a.enabled, 'accessor.enabled') ?? false : undefined;
  const current = getStorageObject(ctx, namespace, name);
  if (size) {
    const now = parseQuantity(current.spec.size)!;
    const cmp = compareQuantities(size, now);
    if (cmp < 0) throw invalid('size', `may grow, never shrink (current ${current.spec.size}, requested ${size.text})`);
    if (cmp > 0) {
      const className = current.spec.storageClassName ?? DEFAULT_STORAGE_CLASS;
      const sc = await storageClass(ctx, className);
      if (!sc?.allowVolumeExpansion) {
        throw invalid('size', `StorageClass ${className} does not allow volume expansion (allowVolumeExpansion is not true); the size cannot grow`);
      }
    }
  }
  const patch: { spec: Record<string, unknown>; metadata?: object } = { spec: {} };
  if (size && compareQuantities(size, parseQuantity(current.spec.size)!) !== 0) patch.spec.size = size.text;
  if (accessorEnabled !== undefined && accessorEnabled !== !!current.spec.accessor?.enabled) patch.spec.accessor = { enabled: accessorEnabled };
  if (Object.keys(patch.spec).length === 0) return toStorageView(ctx, current);
  patch.metadata = { annotations: requestedBy(ctx) };
  let updated: StorageObject;
  try {
    updated = await ctx.kube.patch(R.storage, namespace, name, patch, 'merge');
  } catch (err) {
    if (isNotFound(err)) throw notFound('gpustorage_not_found', `GPUStorage ${namespace}/${name} not found`);
    mapKubeError(err);
  }
  await awaitCached(ctx.cache.storages, updated);
  return toStorageView(ctx, ctx.cache.storages.get(namespace, name) ?? updated);
}

/**
 * Asks for a new prepare attempt: sets a fresh recovery nonce (annotation
 * runtime.lokiwager.io/storage-recovery-nonce), which changes the digest and so starts a new Job.
 * @throws ServiceError 404; 400 without a prepare contract; 409 while an attempt runs or a
 *   running unit mounts the storage read-write.
 */
export async function recoverStorage(ctx: RequestContext, namespace: string, name: string): Promise<StorageView> {
  // Modelled as pods/exec is: an action, verb create on the subresource gpustorages/recover.
  await ctx.caller.require({ verb: 'create', resource: 'gpustorages', subresource: 'recover', namespace, name });
  const nonce = randomUUID();
  // Check and write against one resourceVersion: a concurrent recover (or any other write) makes
  // the patch fail with 409, and the checks run again on what the cache then shows.
  const { updated, prepare } = await retryOnConflict(async () => {
    const s = getStorageObject(ctx, namespace, name);
    if (!s.spec.prepare) throw invalid('prepare', `GPUStorage ${namespace}/${name} has no prepare contract; there is nothing to recover`);
    const p = s.status?.prepare;
    if (p && (p.phase === 'Running' || (p.phase === 'Pending' && p.jobName))) {
      throw conflict(`GPUStorage ${namespace}/${name}: prepare attempt ${p.jobName ?? ''} is still running; wait for it to finish`);
    }
    if (p?.observedDigest && currentDigest(s) !== p.observedDigest) {
      throw conflict(`GPUStorage ${namespace}/${name}: a recover was just requested and its attempt is starting`);
    }
    // The status may not name a Job that runs (created a moment ago, or an earlier attempt a new
    // one waits for): ask the API server for the storage's prepare Jobs.
    const jobs = await ctx.kube.list(R.job, namespace, `${LABELS.storagePrepare}=${name}`);
    const running = jobs.items.find(isJobActive);
    if (running) throw conflict(`GPUStorage ${namespace}/${name}: prepare attempt ${running.metadata?.name} is still running; wait for it to finish`);
    const writer = runningWriterOf(ctx.cache, namespace, name);
    if (writer) throw conflict(`GPUStorage ${namespace}/${name} is mounted read-write by running unit ${writer}; stop it before recovering`);
    try {
      const patch = { metadata: { resourceVersion: s.metadata.resourceVersion, annotations: { [ANNOTATIONS.recoveryNonce]: nonce, ...requestedBy(ctx) } } };
      return { updated: await ctx.kube.patch(R.storage, namespace, name, patch, 'merge'), prepare: s.spec.prepare };
    } catch (err) {
      if (isNotFound(err)) throw notFound('gpustorage_not_found', `GPUStorage ${namespace}/${name} not found`);
      if (isConflict(err)) {
        // Let the cache catch up with whatever won, then check again.
        await ctx.cache.storages.waitFor(namespace, name, (o) => o?.metadata.resourceVersion !== s.metadata.resourceVersion, 2000);
      }
      if (isInvalid(err)) throw new ValidationError(kubeMessageOf(err));
      throw err;
    }
  });
  ctx.recorder.record(updated, 'Normal', 'RecoverRequested', `recover requested by ${ctx.caller.user.username} (nonce ${nonce}): a new prepare attempt will start`);
  // Answer with the new attempt, not the old outcome: wait (bounded) until the reconciler has
  // taken up the new digest.
  const digest = prepareDigest(prepare, nonce);
  await ctx.cache.storages.waitFor(namespace, name, (o) => !o || o.status?.prepare?.observedDigest === digest, 10_000);
  return toStorageView(ctx, ctx.cache.storages.get(namespace, name) ?? updated);
}

/**
 * Deletes a storage and, by garbage collection, everything it owns.
 * @throws ServiceError 404; 409 while an active unit mounts it or a clone from it has not succeeded.
 */
export async function deleteStorage(ctx: RequestContext, namespace: string, name: string): Promise<void> {
  await ctx.caller.require({ verb: 'delete', resource: 'gpustorages', namespace, name });
  getStorageObject(ctx, namespace, name);
  // Checks and delete share one resourceVersion: a mount reserved meanwhile (src/service/mounts.ts)
  // makes the delete fail with 409, and the checks run again on the live object.
  const uid = await retryOnConflict(async () => {
    let s: StorageObject;
    try {
      s = await ctx.kube.get(R.storage, namespace, name);
    } catch (err) {
      if (isNotFound(err)) throw notFound('gpustorage_not_found', `GPUStorage ${namespace}/${name} not found`);
      throw err;
    }
    const mounted = unitsMounting(ctx.cache, namespace, name).map((u) => u.metadata.name);
    const r = reservationOf(s);
    if (r && !mounted.includes(r.unit) && reservationAlive(ctx, namespace, name, r)) mounted.push(r.unit);
    if (mounted.length) throw conflict(`GPUStorage ${namespace}/${name} is mounted by unit ${mounted.join(', ')}; delete or update the unit first`);
    const clones = ctx.cache.storages
      .byIndex(INDEX.cloneSource, `${namespace}/${name}`)
      .filter((c) => c.spec.prepare?.fromStorageName === name && c.status?.prepare?.phase !== 'Succeeded' && !c.metadata.deletionTimestamp)
      .map((c) => c.metadata.name);
    if (clones.length) throw conflict(`GPUStorage ${namespace}/${name} is the source of clone ${clones.join(', ')} that has not yet succeeded`);
    try {
      await ctx.kube.delete(R.storage, namespace, name, { uid: s.metadata.uid, resourceVersion: s.metadata.resourceVersion });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return s.metadata.uid;
  });
  await awaitGone(ctx.cache.storages, namespace, name, uid);
}

/** Validates a `{namespace, name}` pair from a path or arguments. */
export function storageRef(namespace: unknown, name: unknown): { namespace: string; name: string } {
  return { namespace: namespaceName(namespace, INSTANCE_NAMESPACE), name: resourceName(name, 'name') };
}
