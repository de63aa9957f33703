import { describe, expect, it } from 'vitest';
import { desiredStockDeployment, desiredUnitDeployment, desiredUnitService, unitAccess } from '../../src/controllers/unit/children';
import { desiredStockUnit, operationUnitNames } from '../../src/controllers/unit/operation';
import { operationObjectName, requestHash } from '../../src/api/operation';
import { sha256Hex } from '../../src/api/naming';
import type { GPUOperation, GPUStorage, GPUUnit } from '../../src/api/types';

const owner = { apiVersion: 'runtime.lokiwager.io/v1alpha1', kind: 'GPUUnit', name: 'demo', uid: 'u-1', controller: true, blockOwnerDeletion: true };

function unit(ns = 'runtime-instance', over: Partial<GPUUnit['spec']> = {}): GPUUnit {
  return { apiVersion: 'runtime.lokiwager.io/v1alpha1', kind: 'GPUUnit', metadata: { name: 'demo', namespace: ns, uid: 'u-1' }, spec: { specName: 'g1.1', memory: '16Gi', gpu: 2, ...over } };
}

describe('stock reservation Deployment', () => {
  it('runs the placeholder with the memory/GPU envelope as requests and limits, owned by the unit', () => {
    const d = desiredStockDeployment(unit('runtime-stock'));
    expect(d.metadata).toMatchObject({ name: 'unit-demo', namespace: 'runtime-stock', ownerReferences: [owner] });
    expect(d.metadata!.labels).toMatchObject({
      'app.kubernetes.io/name': 'gpu-runtime-unit',
      'app.kubernetes.io/managed-by': 'gpu-runtime-operator',
      'runtime.lokiwager.io/unit': 'demo',
      'runtime.lokiwager.io/lifecycle': 'stock',
    });
    const c = d.spec!.template.spec!.containers[0]!;
    expect(c.image).toBe('registry.k8s.io/pause:3.10');
    expect(c.resources).toEqual({ requests: { memory: '16Gi', 'nvidia.com/gpu': '2' }, limits: { memory: '16Gi', 'nvidia.com/gpu': '2' } });
    expect(d.spec!.template.metadata!.labels).toMatchObject({ 'runtime.lokiwager.io/unit': 'demo', 'app.kubernetes.io/managed-by': 'gpu-runtime-operator' });
  });

  it('leaves nvidia.com/gpu out for gpu 0', () => {
    expect(desiredStockDeployment(unit('runtime-stock', { gpu: 0 })).spec!.template.spec!.containers[0]!.resources!.limits).toEqual({ memory: '16Gi' });
  });
});

describe('active unit Deployment and Service', () => {
  const u = unit('runtime-instance', {
    image: 'python:3.12',
    template: { command: ['python'], args: ['-m', 'http.server', '8080'], envs: [{ name: 'MODE', value: 'dev' }], ports: [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9090, protocol: 'TCP' }] },
    access: { primaryPort: 'metrics', scheme: 'https' },
    storageMounts: [{ name: 'model-cache', mountPath: '/workspace/cache' }, { name: 'ro.data', mountPath: '/ro', readOnly: true }],
  });
  const storages: Record<string, GPUStorage> = { 'model-cache': { apiVersion: 'x', kind: 'GPUStorage', metadata: { name: 'model-cache' }, spec: { size: '1Gi' }, status: { claimName: 'model-cache' } } };

  it('injects SPEC_NAME, UNIT_NAME, GPU_COUNT, MEMORY_LIMIT, then the template envs, ports and mounts', () => {
    const d = desiredUnitDeployment(u, 1, storages);
    expect(d.metadata).toMatchObject({ name: 'unit-demo', ownerReferences: [owner] });
    expect(d.spec!.replicas).toBe(1);
    expect(d.spec!.strategy).toEqual({ type: 'Recreate' });
    const pod = d.spec!.template.spec!;
    const c = pod.containers[0]!;
    expect(c.image).toBe('python:3.12');
    expect(c.command).toEqual(['python']);
    expect(c.args).toEqual(['-m', 'http.server', '8080']);
    expect(c.env).toEqual([
      { name: 'SPEC_NAME', value: 'g1.1' },
      { name: 'UNIT_NAME', value: 'demo' },
      { name: 'GPU_COUNT', value: '2' },
      { name: 'MEMORY_LIMIT', value: '16Gi' },
      { name: 'MODE', value: 'dev' },
    ]);
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
    ]);
    expect(c.resources!.limits).toEqual({ memory: '16Gi', 'nvidia.com/gpu': '2' });
    expect(c.volumeMounts).toEqual([
      { name: 'storage-0', mountPath: '/workspace/cache' },
      { name: 'storage-1', mountPath: '/ro', readOnly: true },
    ]);
    expect(pod.volumes).toEqual([
      { name: 'storage-0', persistentVolumeClaim: { claimName: 'model-cache' } },
      { name: 'storage-1', persistentVolumeClaim: { claimName: 'ro.data', readOnly: true } },
    ]);
    expect(d.spec!.template.metadata!.labels).toMatchObject({ 'runtime.lokiwager.io/unit': 'demo', 'app.kubernetes.io/managed-by': 'gpu-runtime-operator', 'runtime.lokiwager.io/lifecycle': 'instance' });
    expect(desiredUnitDeployment(u, 0).spec!.replicas).toBe(0);
  });

  it('a template without command keeps the image\'s own', () => {
    const c = desiredUnitDeployment(unit('runtime-instance', { image: 'x' }), 1).spec!.template.spec!.containers[0]!;
    expect(c.command).toBeUndefined();
    expect(c.args).toBeUndefined();
    expect(c.ports).toBeUndefined();
  });

  it('Service unit-<name> has each port by name; the access URL uses primaryPort and scheme', () => {
    const s = desiredUnitService(u)!;
    expect(s.metadata).toMatchObject({ name: 'unit-demo', ownerReferences: [owner] });
    expect(s.spec!.selector).toEqual({ 'runtime.lokiwager.io/unit': 'demo' });
    expect(s.spec!.ports).toEqual([
      { name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' },
      { name: 'metrics', port: 9090, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    expect(unitAccess(u)).toEqual({ serviceName: 'unit-demo', accessURL: 'https://unit-demo.runtime-instance.svc.cluster.local:9090' });
    const noAccess = unit('runtime-instance', { image: 'x', template: { ports: [{ name: 'web', port: 80 }] } });
    expect(unitAccess(noAccess).accessURL).toBe('http://unit-demo.runtime-instance.svc.cluster.local:80');
    expect(desiredUnitService(unit('runtime-instance', { image: 'x' }))).toBeUndefined();
    expect(unitAccess(unit('runtime-instance', { image: 'x' }))).toEqual({});
  });
});

describe('seeding operation', () => {
  const op: GPUOperation = {
    apiVersion: 'runtime.lokiwager.io/v1alpha1',
    kind: 'GPUOperation',
    metadata: { name: operationObjectName('stock-g1-demo-001'), namespace: 'runtime-stock' },
    spec: { operationID: 'stock-g1-demo-001', type: 'seed_stock_units', requestHash: 'h', request: { specName: 'g1.1', memory: '16Gi', gpu: 1, replicas: 3 } },
  };

  it('names the batch and units per the contract and annotates them', () => {
    const batch = `stock-g1-1-${sha256Hex('stock-g1-demo-001').slice(0, 10)}`;
    expect(operationUnitNames(op)).toEqual([`${batch}-001`, `${batch}-002`, `${batch}-003`]);
    const u = desiredStockUnit(op, 2);
    expect(u.metadata).toMatchObject({
      name: `${batch}-002`,
      namespace: 'runtime-stock',
      annotations: {
        'runtime.lokiwager.io/operation-id': 'stock-g1-demo-001',
        'runtime.lokiwager.io/request-hash': 'h',
        'runtime.lokiwager.io/stock-replicas': '3',
        'runtime.lokiwager.io/stock-ordinal': '2',
      },
      labels: { 'runtime.lokiwager.io/unit': `${batch}-002`, 'app.kubernetes.io/managed-by': 'gpu-runtime-operator', 'runtime.lokiwager.io/spec-name': 'g1.1' },
    });
    expect(u.spec).toEqual({ specName: 'g1.1', memory: '16Gi', gpu: 1 });
    expect(u.metadata.ownerReferences).toBeUndefined();
  });

  it('record names are valid and deterministic; request hashes ignore key order', () => {
    expect(operationObjectName('any string / with spaces')).toMatch(/^seed-[0-9a-f]{20}$/);
    expect(requestHash({ a: 1, b: 2 })).toBe(requestHash({ b: 2, a: 1 }));
  });
});
