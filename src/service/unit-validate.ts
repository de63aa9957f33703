/**
 * Validation of GPUUnit requests (pure; test/unit/unit-validate.test.ts): each function returns the
 * normalised value or throws a ValidationError (400 invalid_request) naming the field. Source:
 * ../shared/spec/contract.md ("GPUUnit", "Rules the API enforces") and the CRD's schema.
 */
import { randomUUID } from 'node:crypto';
import { INSTANCE_NAMESPACE, STOCK_NAMESPACE } from '../api/constants';
import type { StorageMount, UnitAccess, UnitPort, UnitTemplate } from '../api/types';
import { INJECTED_ENV } from '../api/units';
import { requestHash } from '../api/operation';
import { invalid } from './errors';
import { operationID as validOperationID, specName as validSpecName } from './operations';
import { isObject, namespaceName, onlyKnownFields, optArray, optBool, optObject, optStringList, reqString, resourceName } from './validate';

/** access.scheme values (the CRD's enum); default http. */
export const ACCESS_SCHEMES = ['http', 'https', 'tcp', 'grpc', 'ws', 'wss'] as const;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

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

/** Validates a `{namespace, name}` pair from a path or arguments. */
export function unitRef(namespace: unknown, name: unknown): { namespace: string; name: string } {
  return { namespace: namespaceName(namespace, INSTANCE_NAMESPACE), name: resourceName(name, 'name') };
}
