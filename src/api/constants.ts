/**
 * Names every user and manifest depends on: API group, namespaces, labels, annotations, defaults.
 * Source: ../shared/spec/contract.md ("Kubernetes resources").
 */

export const GROUP = 'runtime.lokiwager.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Stock units live here; storage may not be created here. */
export const STOCK_NAMESPACE = 'runtime-stock';
/** Default namespace of active units and storage. */
export const INSTANCE_NAMESPACE = 'runtime-instance';
/** The service's own namespace (its Lease, Events about itself) when POD_NAMESPACE is unset: deploy/ installs it there. */
export const SYSTEM_NAMESPACE = 'gpu-runtime-system';

export const DEFAULT_STORAGE_CLASS = 'rook-ceph-block';
/** Server-side apply field manager and the `managed-by` label value. */
export const FIELD_MANAGER = 'gpu-runtime-operator';

export const LABELS = {
  name: 'app.kubernetes.io/name',
  managedBy: 'app.kubernetes.io/managed-by',
  storage: `${GROUP}/storage`,
  storagePrepare: `${GROUP}/storage-prepare`,
  storageAccessor: `${GROUP}/storage-accessor`,
  unit: `${GROUP}/unit`,
  /** `stock` or `instance` on units and their children (not in the contract; helps selection). */
  lifecycle: `${GROUP}/lifecycle`,
  specName: `${GROUP}/spec-name`,
} as const;

/** Labels on everything the platform creates. */
export const COMMON_LABELS: Readonly<Record<string, string>> = {
  [LABELS.name]: 'gpu-runtime-unit',
  [LABELS.managedBy]: FIELD_MANAGER,
};

export const ANNOTATIONS = {
  recoveryNonce: `${GROUP}/storage-recovery-nonce`,
  operationID: `${GROUP}/operation-id`,
  requestHash: `${GROUP}/request-hash`,
  stockReplicas: `${GROUP}/stock-replicas`,
  stockOrdinal: `${GROUP}/stock-ordinal`,
  stockClaimID: `${GROUP}/stock-claim-id`,
  sourceStockName: `${GROUP}/source-stock-name`,
  sourceStockNamespace: `${GROUP}/source-stock-namespace`,
  /** `<unit>@<epoch ms>`: the unit that holds this storage's mount (src/service/mounts.ts). */
  mountedBy: `${GROUP}/mounted-by`,
  /** UID of a clone's source when the clone was created through the API (it existed then). */
  cloneSourceUID: `${GROUP}/clone-source-uid`,
  /** The user whose API request last created or changed the object (its Kubernetes username). */
  requestedBy: `${GROUP}/requested-by`,
  /** Hash of the spec we last applied to a child; equal hash means nothing to write. */
  appliedHash: `${GROUP}/applied-hash`,
} as const;

/** Prefixes of child object names (contract "Names"). */
export const PREFIX = {
  prepareJob: 'storage-prepare-',
  accessor: 'storage-accessor-',
  unit: 'unit-',
} as const;

/** Port of the storage accessor's HTTP file server (contract: 8080, named `http`). */
export const ACCESSOR_PORT = 8080;
/** The accessor's URL prefix of the JSON listing (autoindex_format json), the files API reads it. */
export const ACCESSOR_JSON_PREFIX = '/.accessor/json/';
/**
 * The accessor's read-only HTTP file server, nginx (directory listings in HTML and JSON, HEAD and
 * Range; src/controllers/storage/accessor-server.ts); serves the mounted volume at /data.
 */
export const ACCESSOR_IMAGE = 'docker.io/library/nginx:1.27';
/** Copies a source volume into the target preserving attributes (clone prepare). */
export const COPY_IMAGE = 'docker.io/library/busybox:1.36';
/** Placeholder image of stock reservation Deployments: sleeps forever. */
export const STOCK_PLACEHOLDER_IMAGE = 'registry.k8s.io/pause:3.10';

/** Finished prepare Jobs are kept this long (ttlSecondsAfterFinished); env PREPARE_JOB_TTL_SECONDS. */
export const DEFAULT_PREPARE_JOB_TTL_SECONDS = 3600;
/** A prepare attempt that has not finished after this long fails (activeDeadlineSeconds); env PREPARE_DEADLINE_SECONDS. */
export const DEFAULT_PREPARE_DEADLINE_SECONDS = 1800;
