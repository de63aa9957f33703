/**
 * Desired child objects of a GPUUnit. Pure builders; names, labels, env and mounts per
 * ../shared/spec/contract.md ("GPUUnit", "Labels on everything the platform creates"):
 * - a stock unit (namespace runtime-stock) owns a reservation Deployment `unit-<name>` running the
 *   placeholder image with the memory / `nvidia.com/gpu` envelope as requests and limits;
 * - an active unit owns a Deployment `unit-<name>` running the caller's image (env SPEC_NAME,
 *   UNIT_NAME, GPU_COUNT, MEMORY_LIMIT, then the template's envs; the template's ports; each storage
 *   mount as the storage's PVC at mountPath) and, when it has ports, a Service `unit-<name>`.
 * Every child carries a controller ownerReference to the unit.
 */
import type { V1Container, V1Deployment, V1ResourceRequirements, V1Service, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { controllerRef } from '../../kube/apply';
import { LABELS, STOCK_PLACEHOLDER_IMAGE } from '../../api/constants';
import { serviceURL, unitChildName, unitDeploymentName } from '../../api/naming';
import type { GPUStorage, GPUUnit } from '../../api/types';
import { INJECTED_ENV, isStock, unitLabels } from '../../api/units';

/** Extended resource name of a GPU (NVIDIA device plugin). */
export const GPU_RESOURCE = 'nvidia.com/gpu';

/** Name of the runtime container of an active unit and of the placeholder of a stock unit. */
export const RUNTIME_CONTAINER = 'runtime';

/** The memory/GPU envelope as requests and limits (equal, so the pod is Guaranteed for memory). */
export function envelope(unit: GPUUnit): V1ResourceRequirements {
  const r: Record<string, string> = { memory: unit.spec.memory };
  if ((unit.spec.gpu ?? 0) > 0) r[GPU_RESOURCE] = String(unit.spec.gpu);
  return { requests: { ...r }, limits: { ...r } };
}

/** Reservation Deployment of a stock unit: one replica of the placeholder image holding the envelope. */
export function desiredStockDeployment(unit: GPUUnit): V1Deployment {
  const name = unit.metadata.name!;
  const labels = unitLabels(unit);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: unitDeploymentName(name), namespace: unit.metadata.namespace!, labels, ownerReferences: [controllerRef('GPUUnit', unit)] },
    spec: {
      replicas: 1,
      selector: { matchLabels: { [LABELS.unit]: name } },
      strategy: { type: 'Recreate' },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [{ name: RUNTIME_CONTAINER, image: STOCK_PLACEHOLDER_IMAGE, resources: envelope(unit) }],
        },
      },
    },
  };
}

/** Volume name of the i-th storage mount (storage names may hold dots; volume names may not). */
export function mountVolumeName(index: number): string {
  return `storage-${index}`;
}

/**
 * The port that `access.primaryPort` names, or the first port (contract: primaryPort defaults
 * to the first port); undefined when the unit has no ports.
 */
export function primaryPort(unit: GPUUnit): { name: string; port: number } | undefined {
  const ports = unit.spec.template?.ports ?? [];
  const wanted = unit.spec.access?.primaryPort;
  return (wanted ? ports.find((p) => p.name === wanted) : undefined) ?? ports[0];
}

/**
 * Service name and in-cluster access URL of an active unit with ports
 * (`<scheme>://unit-<name>.<ns>.svc.cluster.local:<primary port>`, scheme default http);
 * empty for stock units and units without ports (no Service is made for them).
 */
export function unitAccess(unit: GPUUnit): { serviceName?: string; accessURL?: string } {
  if (isStock(unit)) return {};
  const port = primaryPort(unit);
  if (!port) return {};
  const serviceName = unitChildName(unit.metadata.name!);
  return { serviceName, accessURL: serviceURL(unit.spec.access?.scheme || 'http', serviceName, unit.metadata.namespace!, port.port) };
}

/**
 * Deployment `unit-<name>` of an active unit. `replicas` is 0 while the unit waits for its
 * storage (no pod holds the volume or the GPU before the data is there), 1 otherwise.
 * `storages` resolves a mount's storage to read its claim name (status.claimName, else the
 * storage's name, which is the PVC's name by contract). Strategy Recreate: the old pod releases
 * the GPU and a ReadWriteOnce volume before the new one starts.
 */
export function desiredUnitDeployment(unit: GPUUnit, replicas: 0 | 1, storages: Record<string, GPUStorage | undefined> = {}): V1Deployment {
  const name = unit.metadata.name!;
  const labels = unitLabels(unit);
  const t = unit.spec.template ?? {};
  const env = [
    { name: 'SPEC_NAME', value: unit.spec.specName },
    { name: 'UNIT_NAME', value: name },
    { name: 'GPU_COUNT', value: String(unit.spec.gpu ?? 0) },
    { name: 'MEMORY_LIMIT', value: unit.spec.memory },
    ...(t.envs ?? []).filter((e) => !(INJECTED_ENV as readonly string[]).includes(e.name)).map((e) => ({ name: e.name, value: e.value ?? '' })),
  ];
  const volumes: V1Volume[] = [];
  const volumeMounts: V1VolumeMount[] = [];
  (unit.spec.storageMounts ?? []).forEach((m, i) => {
    const claimName = storages[m.name]?.status?.claimName || m.name;
    volumes.push({ name: mountVolumeName(i), persistentVolumeClaim: { claimName, ...(m.readOnly ? { readOnly: true } : {}) } });
    volumeMounts.push({ name: mountVolumeName(i), mountPath: m.mountPath, ...(m.readOnly ? { readOnly: true } : {}) });
  });
  const container: V1Container = {
    name: RUNTIME_CONTAINER,
    image: unit.spec.image!,
    ...(t.command?.length ? { command: t.command } : {}),
    ...(t.args?.length ? { args: t.args } : {}),
    env,
    ...(t.ports?.length ? { ports: t.ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: p.protocol ?? 'TCP' })) } : {}),
    resources: envelope(unit),
    ...(volumeMounts.length ? { volumeMounts } : {}),
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: unitDeploymentName(name), namespace: unit.metadata.namespace!, labels, ownerReferences: [controllerRef('GPUUnit', unit)] },
    spec: {
      replicas,
      selector: { matchLabels: { [LABELS.unit]: name } },
      strategy: { type: 'Recreate' },
      template: {
        metadata: { labels },
        spec: { containers: [container], ...(volumes.length ? { volumes } : {}) },
      },
    },
  };
}

/**
 * Service `unit-<name>` of an active unit: one port per template port (targetPort by name),
 * selecting the unit's pods. Undefined when the unit has no ports (a Service needs one).
 */
export function desiredUnitService(unit: GPUUnit): V1Service | undefined {
  const ports = unit.spec.template?.ports ?? [];
  if (isStock(unit) || ports.length === 0) return undefined;
  const name = unit.metadata.name!;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: unitChildName(name), namespace: unit.metadata.namespace!, labels: unitLabels(unit), ownerReferences: [controllerRef('GPUUnit', unit)] },
    spec: {
      selector: { [LABELS.unit]: name },
      ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: p.protocol ?? 'TCP' })),
    },
  };
}
