/**
 * Names of child objects and the validity rules for names. Source: ../shared/spec/contract.md
 * ("Names"), Kubernetes object names (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/).
 */
import { createHash } from 'node:crypto';
import { PREFIX } from './constants';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Lowercase hex sha256 of a UTF-8 string. */
export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** DNS-1123 label: at most 63 characters, lowercase alphanumerics and `-`, alphanumeric at both ends. */
export function isDNS1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

/** DNS-1123 subdomain: at most 253 characters, dot-separated DNS-1123 labels. */
export function isDNS1123Subdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

/** DNS-1035 label (Service names): at most 63 characters, a letter first, no dots. */
export function isDNS1035Label(s: string): boolean {
  return s.length <= 63 && DNS1035_LABEL.test(s);
}

/**
 * Why `name` is not a valid GPUStorage/GPUUnit name (a DNS-1123 subdomain of at most 63
 * characters, so it can also be a label value), or undefined when it is valid.
 */
export function resourceNameProblem(name: string): string | undefined {
  if (!name) return 'must not be empty';
  if (name.length > 63) return `must be at most 63 characters (got ${name.length})`;
  if (!isDNS1123Subdomain(name)) {
    return 'must be a DNS-1123 subdomain: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit';
  }
  return undefined;
}

/**
 * The name of a child whose kind needs a DNS-1035 label (Service, and for uniformity the
 * Deployment beside it): `prefix + owner` when valid; otherwise `prefix`, the owner's name with
 * dots turned into `-` and cut to fit, `-`, and the first 8 hex digits of sha256(owner).
 * Contract "Names". Always at most 63 characters.
 */
export function childName(prefix: string, owner: string): string {
  const plain = prefix + owner;
  if (isDNS1035Label(plain)) return plain;
  const hash = sha256Hex(owner).slice(0, 8);
  const room = 63 - prefix.length - 1 - hash.length;
  const base = owner.replaceAll('.', '-').slice(0, room);
  return `${prefix}${base}-${hash}`;
}

/**
 * Prepare Job name: `storage-prepare-<name>-<digest>`; when too long or invalid, only the
 * storage-name part is shortened (as in {@link childName}); the `-<digest>` suffix is always kept.
 * Job names must be DNS-1123 labels ≤ 63 (their pods get a `job-name` label).
 */
export function prepareJobName(storage: string, digest: string): string {
  const plain = `${PREFIX.prepareJob}${storage}-${digest}`;
  if (isDNS1123Label(plain)) return plain;
  const hash = sha256Hex(storage).slice(0, 8);
  const room = 63 - PREFIX.prepareJob.length - 1 - hash.length - 1 - digest.length;
  const base = storage.replaceAll('.', '-').slice(0, room);
  return `${PREFIX.prepareJob}${base}-${hash}-${digest}`;
}

/**
 * The name of a Deployment child: `prefix + owner` when that is a valid Deployment name (a
 * DNS-1123 subdomain: dots allowed, up to 253 characters); otherwise shortened as {@link childName}.
 * Contract "Names": the prefix plus the owner's name when that is valid for the child's kind.
 */
export function deploymentChildName(prefix: string, owner: string): string {
  const plain = prefix + owner;
  return isDNS1123Subdomain(plain) ? plain : childName(prefix, owner);
}

/** Accessor Service name (contract: `storage-accessor-<name>`, shortened when not a DNS-1035 label). */
export function accessorName(storage: string): string {
  return childName(PREFIX.accessor, storage);
}

/** Accessor Deployment name (contract: `storage-accessor-<name>`; dots are valid in Deployment names). */
export function accessorDeploymentName(storage: string): string {
  return deploymentChildName(PREFIX.accessor, storage);
}

/** Active unit Service name (contract: `unit-<name>`, shortened when not a DNS-1035 label). */
export function unitChildName(unit: string): string {
  return childName(PREFIX.unit, unit);
}

/** Unit Deployment name (contract: `unit-<name>`; dots are valid in Deployment names). */
export function unitDeploymentName(unit: string): string {
  return deploymentChildName(PREFIX.unit, unit);
}

/** In-cluster URL of a Service port: `scheme://svc.ns.svc.cluster.local:port`. */
export function serviceURL(scheme: string, service: string, namespace: string, port: number): string {
  return `${scheme}://${service}.${namespace}.svc.cluster.local:${port}`;
}

/**
 * Stock batch name: `stock-<specName with . and _ as ->-<first 10 hex of sha256(operationID)>`
 * (contract "GPUUnit"); units are `<batch>-001`, `<batch>-002`, …
 */
export function stockBatchName(specName: string, operationID: string): string {
  const spec = specName.replace(/[._]/g, '-').toLowerCase();
  return `stock-${spec}-${sha256Hex(operationID).slice(0, 10)}`;
}

/** `<batch>-NNN`, ordinal starting at 1. */
export function stockUnitName(batch: string, ordinal: number): string {
  return `${batch}-${String(ordinal).padStart(3, '0')}`;
}
