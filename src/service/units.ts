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
 * Consuming stock (createUnit): pick the oldest Ready, unclaimed stock unit of the specName; claim
 * it with a PUT carrying the resourceVersion read (409 when anyone wrote first: read again, try
 * again or move on), writing annotations stock-claim-id and stock-claimed-at; create the active
 * unit (annotations operation-id, request-hash, source-stock-name, source-stock-namespace and the
 * claim id); delete the stock unit with a uid precondition. A failure after the claim releases it
 * (a JSON patch that tests the claim id first); a process that crashes in between leaves a claim
 * that the unit controller completes (the active unit exists) or releases (older than 60 s).
 * A request holds its operationID across replicas while it runs (./operation-lease.ts): a twin
 * replays, another payload conflicts, and only one of them ever claims stock. With no free stock,
 * a request looks again at the live list and waits (up to 5 s) for claims in flight to settle
 * before answering insufficient_capacity.
 *
 * Exclusivity is checked against the cache first (a clear 409 in the contract's order), then made
 * atomic by reserving each mounted storage (./mounts.ts) just before the capacity step; the
 * reservation is taken back when the request fails afterwards (insufficient capacity included).
 * Source: ../shared/spec/contract.md ("GPUUnit", "Rules the API enforces", "Unit view fields").
 */
import { randomUUID } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import { ANNOTATIONS, API_VERSION, INSTANCE_NAMESPACE, STOCK_NAMESPACE } from '../api/constants';
import type { Condition, GPUUnit, StorageMount, UnitAccess, UnitPort, UnitTemplate } from '../api/types';
import { INJECTED_ENV, isStock, unitLabels } from '../api/units';
import { releaseStockClaim } from '../kube/stock-claim';
import { requestHash } from '../api/operation';
import { claimState, consumableStock, isReadyUnit, sourceStockOf, STOCK_CLAIMED_AT } from '../api/stock';
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
import { conflict, insufficientCapacity, invalid, notFound, ValidationError } from './errors';
import { operationID as validOperationID, specName as validSpecName } from './operations';
import { isObject, namespaceName, namespaceOf, onlyKnownFields, optArray, optBool, optObject, optStringList, reqString, resourceName } from './validate';

type UnitObject = GPUUnit & KubernetesObject;
const log = logger.child({ service: 'units' });

/** access.scheme values (the CRD's enum); default http. */
export const ACCESS_SCHEMES = ['http', 'https', 'tcp', 'grpc', 'ws', 'wss'] as const;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The contract's unit view (REST `data`, GraphQL `Unit`). */
export interface UnitView {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  createdAt: string;
  lifecycle: 'stock' | 'instance';
  specName: string;
  operationID?: string;
  sourceStockName?: string;
  sourceStockNamespace?: string;
  image?: string;
  memory: string;
  gpu: number;
  template?: UnitTemplate;
  /** With defaults filled in: scheme http, primaryPort the first port. */
  access?: UnitAccess;
  storageMounts: StorageMount[];
  phase: string;
  readyReplicas: number;
  observedGeneration?: number;
  lastSyncTime?: string;
  serviceName?: string;
  accessURL?: string;
  reason?: string;
  message?: string;
  conditions: Condition[];
}

/** A validated create request. */
export interface CreateUnitInput {
  /** The caller's, or a generated one when the request has none (no idempotency then). */
  operationID: string;
  name: string;
  namespace: string;
  specName: string;
  image: string;
  template?: UnitTemplate;
  access?: UnitAccess;
  storageMounts?: StorageMount[];
}

/** Builds the view of a unit. */
export function toUnitView(u: GPUUnit): UnitView {
  const ready = u.status?.conditions?.find((c) => c.type === 'Ready');
  const src = sourceStockOf(u);
  const ports = u.spec.template?.ports ?? [];
  const stock = isStock(u);
  return {
    name: u.metadata.name!,
    namespace: u.metadata.namespace!,
    uid: u.metadata.uid ?? '',
    resourceVersion: u.metadata.resourceVersion ?? '',
    createdAt: u.metadata.creationTimestamp ? new Date(u.metadata.creationTimestamp).toISOString() : '',
    lifecycle: stock ? 'stock' : 'instance',
    specName: u.spec.specName,
    operationID: u.metadata.annotations?.[ANNOTATIONS.operationID],
    sourceStockName: src?.name,
    sourceStockNamespace: src?.namespace,
    image: u.spec.image,
    memory: u.spec.memory,
    gpu: u.spec.gpu ?? 0,
    template: u.spec.template,
    access: stock ? undefined : { primaryPort: u.spec.access?.primaryPort ?? ports[0]?.name, scheme: u.spec.access?.scheme || 'http' },
    storageMounts: (u.spec.storageMounts ?? []).map((m) => ({ name: m.name, mountPath: m.mountPath, readOnly: !!m.readOnly })),
    phase: u.status?.phase ?? 'Progressing',
    readyReplicas: u.status?.readyReplicas ?? 0,
    observedGeneration: u.status?.observedGeneration,
    lastSyncTime: u.status?.lastSyncTime,
    serviceName: u.status?.serviceName,
    accessURL: u.status?.accessURL,
    reason: ready?.reason,
    message: ready?.message,
    conditions: u.status?.conditions ?? [],
  };
}

// ---------------------------------------------------------------------------------------------
// Validation (pure; unit-tested in test/unit/unit-validate.test.ts)
// ---------------------------------------------------------------------------------------------

/** An image reference: a non-empty string without whitespace, at most 512 characters. @throws ValidationError. */
export function imageRef(v: unknown, field = 'image'): string {
  const s = reqString(v, field);
  if (/\s/.test(s)) throw invalid(field, `"${s}" is not an image reference (it contains whitespace)`);
  if (s.length > 512) throw invalid(field, 'must be at most 512 characters');
  return s;
}

/** A Service/container port name (IANA_SVC_NAME): ≤15 lowercase letters, digits, `-`, a letter somewhere, no `--`. */
export function portNameProblem(name: string): string | undefined {
  if (name.length > 15) return 'must be at most 15 characters';
  if (!PORT_NAME.test(name)) return 'may hold lowercase letters, digits and "-", starting and ending with a letter or digit';
  if (!/[a-z]/.test(name)) return 'must contain at least one letter';
  if (name.includes('--')) return 'must not contain "--"';
  return undefined;
}

/**
 * A unit template: command/args string lists; envs `[{name, value}]` with valid (`[-._a-zA-Z][-._a-zA-Z0-9]*`),
 * unique names that are not injected by the platform (SPEC_NAME, UNIT_NAME, GPU_COUNT,
 * MEMORY_LIMIT); ports `[{name, port 1–65535, protocol TCP|UDP|SCTP default TCP}]` with valid unique
 * names and unique port/protocol pairs. Empty lists are left out; undefined when absent or empty.
 * @throws ValidationError naming the field, e.g. `template.envs[1].name`.
 */
export function validateTemplate(v: unknown, field = 'template'): UnitTemplate | undefined {
  const t = optObject(v, field);
  if (!t) return undefined;
  onlyKnownFields(t, field, ['command', 'args', 'envs', 'ports']);
  const command = optStringList(t.command, `${field}.command`);
  const args = optStringList(t.args, `${field}.args`);
  const envs: { name: string; value: string }[] = [];
  (optArray(t.envs, `${field}.envs`) ?? []).forEach((e, i) => {
    const f = `${field}.envs[${i}]`;
    if (!isObject(e)) throw invalid(f, 'must be an object {name, value}');
    const name = reqString(e.name, `${f}.name`);
    if (!ENV_NAME.test(name)) throw invalid(`${f}.name`, `"${name}" is not a valid environment variable name (letters, digits, "_", "-", "."; not starting with a digit)`);
    if ((INJECTED_ENV as readonly string[]).includes(name)) throw invalid(`${f}.name`, `${name} is set by the platform (${INJECTED_ENV.join(', ')}) and cannot be overridden`);
    if (envs.some((x) => x.name === name)) throw invalid(`${f}.name`, `duplicate environment variable ${name}`);
    if (e.value !== undefined && e.value !== null && typeof e.value !== 'string') throw invalid(`${f}.value`, 'must be a string');
    envs.push({ name, value: (e.value as string | undefined) ?? '' });
  });
  const ports: UnitPort[] = [];
  (optArray(t.ports, `${field}.ports`) ?? []).forEach((p, i) => {
    const f = `${field}.ports[${i}]`;
    if (!isObject(p)) throw invalid(f, 'must be an object {name, port, protocol}');
    const name = reqString(p.name, `${f}.name`);
    const problem = portNameProblem(name);
    if (problem) throw invalid(`${f}.name`, `"${name}" ${problem}`);
    if (ports.some((x) => x.name === name)) throw invalid(`${f}.name`, `duplicate port name ${name}`);
    if (typeof p.port !== 'number' || !Number.isInteger(p.port)) throw invalid(`${f}.port`, p.port === undefined ? 'is required' : 'must be an integer');
    if (p.port < 1 || p.port > 65535) throw invalid(`${f}.port`, `must be between 1 and 65535 (got ${p.port})`);
    const protocol = p.protocol === undefined || p.protocol === null || p.protocol === '' ? 'TCP' : p.protocol;
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') throw invalid(`${f}.protocol`, 'must be TCP, UDP or SCTP');
    if (ports.some((x) => x.port === p.port && x.protocol === protocol)) throw invalid(`${f}.port`, `duplicate port ${p.port}/${protocol}`);
    ports.push({ name, port: p.port, protocol });
  });
  const out: UnitTemplate = {
    ...(command?.length ? { command } : {}),
    ...(args?.length ? { args } : {}),
    ...(envs.length ? { envs } : {}),
    ...(ports.length ? { ports } : {}),
  };
  return Object.keys(out).length ? out : undefined;
}

/**
 * Access settings against the unit's ports: scheme one of {@link ACCESS_SCHEMES} (stored as given;
 * http when absent), primaryPort the name of one of `ports` (so naming one requires ports).
 * Undefined when absent or empty. @throws ValidationError naming `access.scheme` / `access.primaryPort`.
 */
export function validateAccess(v: unknown, ports: UnitPort[] | undefined, field = 'access'): UnitAccess | undefined {
  const a = optObject(v, field);
  if (!a) return undefined;
  onlyKnownFields(a, field, ['primaryPort', 'scheme']);
  let scheme: string | undefined;
  if (a.scheme !== undefined && a.scheme !== null && a.scheme !== '') {
    scheme = reqString(a.scheme, `${field}.scheme`);
    if (!(ACCESS_SCHEMES as readonly string[]).includes(scheme)) throw invalid(`${field}.scheme`, `must be one of ${ACCESS_SCHEMES.join(', ')} (got "${scheme}")`);
  }
  let primaryPort: string | undefined;
  if (a.primaryPort !== undefined && a.primaryPort !== null && a.primaryPort !== '') {
    primaryPort = reqString(a.primaryPort, `${field}.primaryPort`);
    if (!ports?.length) throw invalid(`${field}.primaryPort`, `names port "${primaryPort}" but the template has no ports; add template.ports or leave primaryPort out`);
    if (!ports.some((p) => p.name === primaryPort)) {
      throw invalid(`${field}.primaryPort`, `"${primaryPort}" is not one of the template's ports (${ports.map((p) => p.name).join(', ')})`);
    }
  }
  const out: UnitAccess = { ...(primaryPort ? { primaryPort } : {}), ...(scheme ? { scheme } : {}) };
  return Object.keys(out).length ? out : undefined;
}

/** A mount path without trailing slashes, for duplicate checks. */
function normalPath(p: string): string {
  return p.replace(/\/+$/, '') || '/';
}

/**
 * Storage mounts `[{name, mountPath, readOnly}]`: name a GPUStorage name, each storage once;
 * mountPath absolute, not `/`, no `..` segment, no duplicates (trailing slashes ignored).
 * @throws ValidationError naming the field, e.g. `storageMounts[1].mountPath`.
 */
export function validateMounts(v: unknown, field = 'storageMounts'): StorageMount[] {
  const mounts: StorageMount[] = [];
  (optArray(v, field) ?? []).forEach((m, i) => {
    const f = `${field}[${i}]`;
    if (!isObject(m)) throw invalid(f, 'must be an object {name, mountPath, readOnly}');
    onlyKnownFields(m, f, ['name', 'mountPath', 'readOnly']);
    const name = resourceName(m.name, `${f}.name`);
    if (mounts.some((x) => x.name === name)) throw invalid(`${f}.name`, `storage ${name} is mounted twice; mount each storage once`);
    const mountPath = reqString(m.mountPath, `${f}.mountPath`);
    if (!mountPath.startsWith('/')) throw invalid(`${f}.mountPath`, `"${mountPath}" must be an absolute path`);
    if (normalPath(mountPath) === '/') throw invalid(`${f}.mountPath`, 'must not be "/"');
    if (mountPath.split('/').includes('..')) throw invalid(`${f}.mountPath`, `"${mountPath}" must not contain ".."`);
    if (mounts.some((x) => normalPath(x.mountPath) === normalPath(mountPath))) throw invalid(`${f}.mountPath`, `duplicate mountPath ${mountPath}`);
    const readOnly = optBool(m.readOnly, `${f}.readOnly`);
    mounts.push({ name, mountPath, ...(readOnly ? { readOnly } : {}) });
  });
  return mounts;
}

/**
 * Checks a create request's own validity (no cluster reads): operationID (optional), name,
 * namespace (default runtime-instance, not runtime-stock), specName, image, template, access,
 * storageMounts.
 * @throws ValidationError (400 invalid_request) naming the field.
 */
export function validateCreateUnit(body: unknown): CreateUnitInput {
  const b = optObject(body, 'body');
  if (!b) throw invalid('body', 'must be a JSON object');
  // memory and gpu are accepted and ignored: an active unit takes its envelope from the stock it
  // consumes (contract), and clients of the original platform may still send them.
  onlyKnownFields(b, 'body', ['operationID', 'name', 'namespace', 'specName', 'image', 'template', 'access', 'storageMounts', 'memory', 'gpu']);
  const opID = b.operationID === undefined || b.operationID === null || b.operationID === '' ? undefined : validOperationID(b.operationID);
  const name = resourceName(b.name);
  const namespace = namespaceName(b.namespace, INSTANCE_NAMESPACE);
  if (namespace === STOCK_NAMESPACE) throw invalid('namespace', `active units may not be created in the stock namespace ${STOCK_NAMESPACE}; seed stock with POST /api/v1/operator/stock-units`);
  const specName = validSpecName(b.specName);
  const image = imageRef(b.image);
  const template = validateTemplate(b.template);
  const access = validateAccess(b.access, template?.ports);
  const storageMounts = validateMounts(b.storageMounts);
  return {
    operationID: opID ?? `generated-${randomUUID()}`,
    name,
    namespace,
    specName,
    image,
    ...(template ? { template } : {}),
    ...(access ? { access } : {}),
    ...(storageMounts.length ? { storageMounts } : {}),
  };
}

/** The request hash of a create: everything but the operationID, normalised (see validateCreateUnit). */
export function createUnitHash(input: CreateUnitInput): string {
  const { operationID: _id, ...payload } = input;
  return requestHash(payload);
}

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

/** Validates a `{namespace, name}` pair from a path or arguments. */
export function unitRef(namespace: unknown, name: unknown): { namespace: string; name: string } {
  return { namespace: namespaceName(namespace, INSTANCE_NAMESPACE), name: resourceName(name, 'name') };
}

// ---------------------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------------------

/** The active unit that carries `operationID`, if this process's cache has one. */
function unitOfOperation(ctx: ServiceContext, operationID: string): UnitObject | undefined {
  // The operationID index holds active units not being deleted (src/kube/cache.ts).
  return ctx.cache.units.byIndex(INDEX.operationID, operationID)[0];
}

/**
 * The stock units (namespace/name) an active unit already names as its source, as a Set whose
 * membership is read from the cache's source-stock index when asked (O(1) per question, no scan).
 */
class ConsumedStock extends Set<string> {
  constructor(private readonly ctx: ServiceContext) {
    super();
  }
  override has(key: string): boolean {
    return this.ctx.cache.units.count(INDEX.sourceStock, key) > 0;
  }
}

function consumedStock(ctx: ServiceContext): Set<string> {
  return new ConsumedStock(ctx);
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
 * Claims the oldest consumable stock unit of `specName` (see the module comment).
 * @returns the claimed stock unit as the API server answered and the claim id.
 * @throws CapacityError (409 insufficient_capacity) when none can be claimed.
 */
async function claimStock(ctx: ServiceContext, specName: string): Promise<{ stock: UnitObject; claimID: string }> {
  const claimID = randomUUID();
  const consumed = consumedStock(ctx);
  // Stock units of the spec, from the stock-by-spec index (not every stock unit).
  const cached = consumableStock(ctx.cache.units.byIndex(INDEX.stockSpec, `spec:${specName}`), specName, Date.now(), consumed) as UnitObject[];
  const won = await claimFirst(ctx, cached, specName, consumed, claimID);
  if (won) return won;
  // The cache may lag behind the API server (a claim just released, a unit just Ready): look once
  // more at the live list before answering that there is no capacity.
  const tried = new Set(cached.map((u) => u.metadata.uid));
  const live = (await ctx.kube.list(R.unit, STOCK_NAMESPACE)).items as UnitObject[];
  const fresh = consumableStock(live, specName, Date.now(), consumed).filter((u) => !tried.has(u.metadata.uid)) as UnitObject[];
  const second = await claimFirst(ctx, fresh, specName, consumed, claimID);
  if (second) return second;
  // Ready stock claimed by requests still in flight may come free again (a request that fails
  // releases its claim): wait for one of those claims to settle (bounded), then look once more.
  const inFlight = live.filter((u) => u.spec.specName === specName && !u.metadata.deletionTimestamp && isReadyUnit(u) && claimState(u, Date.now()).live);
  if (inFlight.length) {
    await Promise.race(
      inFlight.map((u) =>
        ctx.cache.units.waitFor(STOCK_NAMESPACE, u.metadata.name!, (o) => !o || o.metadata.uid !== u.metadata.uid || !claimState(o, Date.now()).live, CLAIM_SETTLE_MS),
      ),
    );
    const now = consumedStock(ctx);
    const third = await claimFirst(ctx, consumableStock((await ctx.kube.list(R.unit, STOCK_NAMESPACE)).items, specName, Date.now(), now) as UnitObject[], specName, now, claimID);
    if (third) return third;
  }
  const all = live.filter((u) => u.spec.specName === specName && !u.metadata.deletionTimestamp);
  const ready = all.filter(isReadyUnit).length;
  throw insufficientCapacity(
    `no Ready, unclaimed stock unit of spec ${specName} (${all.length} stock unit(s) of this spec, ${ready} Ready, none free); ` +
      'seed stock with POST /api/v1/operator/stock-units or retry once seeded units are Ready',
  );
}

/** How long a request without free stock waits for claims in flight to settle, in ms. */
const CLAIM_SETTLE_MS = 5000;

/**
 * Claims the first of `candidates` (oldest first) that can still be claimed: a PUT with the
 * resourceVersion read; on 409 reads it again and tries again while it is still consumable.
 * @returns the claimed stock unit and the claim id, or undefined when none could be claimed.
 */
async function claimFirst(ctx: ServiceContext, candidates: UnitObject[], specName: string, consumed: Set<string>, claimID: string): Promise<{ stock: UnitObject; claimID: string } | undefined> {
  for (const candidate of candidates) {
    let cur: UnitObject = candidate;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const annotations = { ...cur.metadata.annotations, [ANNOTATIONS.stockClaimID]: claimID, [STOCK_CLAIMED_AT]: new Date().toISOString() };
        const stock = await ctx.kube.replace(R.unit, { ...cur, metadata: { ...cur.metadata, annotations } });
        return { stock, claimID };
      } catch (err) {
        if (isNotFound(err)) break;
        if (!isConflict(err)) throw err;
      }
      // Someone wrote first (another claimer, or a status update): read it again and see.
      try {
        cur = await ctx.kube.get(R.unit, STOCK_NAMESPACE, candidate.metadata.name!);
      } catch (err) {
        if (isNotFound(err)) break;
        throw err;
      }
      if (cur.metadata.uid !== candidate.metadata.uid || consumableStock([cur], specName, Date.now(), consumed).length === 0) break;
    }
  }
  return undefined;
}

/**
 * Releases a claim after a failed request and waits until this process's cache shows it free
 * again (the next request claims from the cache); logs, never throws, when that fails too.
 */
async function release(ctx: ServiceContext, stock: UnitObject, claimID: string): Promise<void> {
  try {
    const freed = await releaseStockClaim(ctx.kube, stock, claimID);
    if (freed) await awaitCached(ctx.cache.units, freed);
  } catch (err) {
    log.warn({ stock: stock.metadata.name, claimID, err: kubeMessageOf(err) }, 'could not release a stock claim; the unit controller releases it once it is abandoned');
  }
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
    await release(ctx, stock, claimID);
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
