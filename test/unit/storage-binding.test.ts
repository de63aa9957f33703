/**
 * WaitForFirstConsumer classes (contract: "Binding modes"): the prepare Job is the PVC's first
 * consumer, a storage without prepare is Ready once its PVC exists, a unit never waits for Bound.
 */
import { describe, expect, it } from 'vitest';
import type { V1Job, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { planStorage, type StorageObservation } from '../../src/controllers/storage/status';
import { bindingModeOf, volumeState } from '../../src/controllers/storage/volume';
import { storageBlocker } from '../../src/controllers/unit/status';
import type { GPUStorage, GPUStorageStatus, GPUUnit } from '../../src/api/types';

const NOW = '2026-11-30T10:00:00.000Z';
const imagePrepare = { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: ['echo seeded'] };
const pendingPVC: V1PersistentVolumeClaim = { metadata: { name: 'model-cache' }, status: { phase: 'Pending' } };
const bound: V1PersistentVolumeClaim = { metadata: { name: 'model-cache' }, status: { phase: 'Bound', capacity: { storage: '20Gi' } } };

function storage(over: Partial<GPUStorage['spec']> = {}, status?: GPUStorageStatus): GPUStorage {
  return {
    apiVersion: 'runtime.lokiwager.io/v1alpha1',
    kind: 'GPUStorage',
    metadata: { name: 'model-cache', namespace: 'runtime-instance', uid: 'uid-1', generation: 1 },
    spec: { size: '20Gi', storageClassName: 'local-path', ...over },
    status,
  };
}

function plan(obs: Partial<StorageObservation> & { storage: GPUStorage }) {
  return planStorage({ now: NOW, ...obs });
}
const ready = (s: GPUStorageStatus) => s.conditions?.find((c) => c.type === 'Ready');

describe('bindingModeOf / volumeState', () => {
  it('reads volumeBindingMode; unset or unknown class is Immediate', () => {
    expect(bindingModeOf({ provisioner: 'x', volumeBindingMode: 'WaitForFirstConsumer' })).toBe('WaitForFirstConsumer');
    expect(bindingModeOf({ provisioner: 'x', volumeBindingMode: 'Immediate' })).toBe('Immediate');
    expect(bindingModeOf({ provisioner: 'x' })).toBe('Immediate');
    expect(bindingModeOf(undefined)).toBe('Immediate');
  });

  it('a Pending PVC waits for its consumer only on a WaitForFirstConsumer class, and only while it exists', () => {
    expect(volumeState(pendingPVC, 'WaitForFirstConsumer')).toEqual({ bound: false, waitsForConsumer: true, phase: 'Pending' });
    expect(volumeState(pendingPVC, 'Immediate').waitsForConsumer).toBe(false);
    expect(volumeState(undefined, 'WaitForFirstConsumer')).toEqual({ bound: false, waitsForConsumer: false, phase: undefined });
    expect(volumeState({ metadata: { deletionTimestamp: new Date() }, status: { phase: 'Pending' } }, 'WaitForFirstConsumer').waitsForConsumer).toBe(false);
    expect(volumeState({ status: { phase: 'Lost' } }, 'WaitForFirstConsumer').waitsForConsumer).toBe(false);
    expect(volumeState(bound, 'WaitForFirstConsumer')).toEqual({ bound: true, waitsForConsumer: false, phase: 'Bound' });
  });
});

describe('planStorage on a WaitForFirstConsumer class', () => {
  it('starts the prepare Job while the PVC is Pending: the Job is its first consumer (the old code waited for Bound forever)', () => {
    const p = plan({ storage: storage({ prepare: imagePrepare }), pvc: pendingPVC, bindingMode: 'WaitForFirstConsumer' });
    expect(p.startJob).toBe(true);
    expect(p.status.phase).toBe('Pending');
    expect(p.status.prepare?.phase).toBe('Pending');
    expect(ready(p.status)?.reason).toBe('StoragePreparePending');
    expect(ready(p.status)?.message).toContain('PersistentVolumeClaim model-cache binds when its first consumer is scheduled (StorageClass local-path: WaitForFirstConsumer)');
    expect(p.status.capacity).toBeUndefined();
  });

  it('the same Pending PVC on an Immediate class still waits for Bound', () => {
    const p = plan({ storage: storage({ prepare: imagePrepare }), pvc: pendingPVC, bindingMode: 'Immediate' });
    expect(p.startJob).toBe(false);
    expect(ready(p.status)?.reason).toBe('StoragePending');
    expect(ready(p.status)?.message).toContain('to be bound (Pending)');
  });

  it('does not start a Job before the PVC exists', () => {
    const p = plan({ storage: storage({ prepare: imagePrepare }), bindingMode: 'WaitForFirstConsumer' });
    expect(p.startJob).toBe(false);
    expect(ready(p.status)?.reason).toBe('StoragePending');
  });

  it('while the Job waits for its pod, the message says the volume binds with it; no second Job', () => {
    const first = plan({ storage: storage({ prepare: imagePrepare }), pvc: pendingPVC, bindingMode: 'WaitForFirstConsumer' });
    const job: V1Job = { metadata: { name: first.status.prepare!.jobName, creationTimestamp: new Date(NOW) }, status: {} };
    const p = plan({ storage: storage({ prepare: imagePrepare }, first.status), pvc: pendingPVC, bindingMode: 'WaitForFirstConsumer', job, jobPods: [] });
    expect(p.startJob).toBe(false);
    expect(p.status.prepare?.phase).toBe('Pending');
    expect(p.status.prepare?.message).toMatch(/created, waiting for its pod to start; PersistentVolumeClaim model-cache binds when its first consumer is scheduled/);
    const running: V1Pod = { metadata: { name: 'p' }, status: { phase: 'Running' } };
    const r = plan({ storage: storage({ prepare: imagePrepare }, p.status), pvc: bound, bindingMode: 'WaitForFirstConsumer', job, jobPods: [running] });
    expect(r.status.prepare?.phase).toBe('Running');
    expect(r.status.capacity).toBe('20Gi');
  });

  it('no prepare contract: Ready once the PVC exists, waiting only for a consumer, capacity empty until it binds', () => {
    const p = plan({ storage: storage(), pvc: pendingPVC, bindingMode: 'WaitForFirstConsumer' });
    expect(p.status.phase).toBe('Ready');
    expect(ready(p.status)?.reason).toBe('StorageReady');
    expect(ready(p.status)?.message).toBe(
      'storage is ready; PersistentVolumeClaim model-cache binds when its first consumer is scheduled (StorageClass local-path: WaitForFirstConsumer): the first unit that mounts it binds it, capacity is reported then',
    );
    expect(p.status.capacity).toBeUndefined();
    const b = plan({ storage: storage(), pvc: bound, bindingMode: 'WaitForFirstConsumer' });
    expect(ready(b.status)?.message).toBe('storage is ready');
    expect(b.status.capacity).toBe('20Gi');
  });

  it('no prepare, accessor enabled: the accessor is created (it may be the first consumer)', () => {
    const p = plan({ storage: storage({ accessor: { enabled: true } }), pvc: pendingPVC, bindingMode: 'WaitForFirstConsumer' });
    expect(p.accessor).toEqual({ present: true, replicas: 1 });
    expect(p.status.phase).toBe('Pending');
    expect(ready(p.status)?.reason).toBe('StorageAccessorPending');
  });

  it('without a class in the cache (bindingMode undefined) a Pending PVC waits for Bound, as before', () => {
    const p = plan({ storage: storage(), pvc: pendingPVC });
    expect(p.status.phase).toBe('Pending');
    expect(ready(p.status)?.reason).toBe('StoragePending');
  });
});

describe('a unit mounting a WaitForFirstConsumer storage', () => {
  it('is not blocked by a Ready storage whose PVC is unbound (no capacity): the unit is its first consumer', () => {
    const s = storage();
    s.status = plan({ storage: s, pvc: pendingPVC, bindingMode: 'WaitForFirstConsumer' }).status;
    const u: GPUUnit = {
      apiVersion: 'runtime.lokiwager.io/v1alpha1',
      kind: 'GPUUnit',
      metadata: { name: 'demo', namespace: 'runtime-instance' },
      spec: { specName: 'g1.1', memory: '16Gi', gpu: 1, image: 'python:3.12', storageMounts: [{ name: 'model-cache', mountPath: '/data' }] },
    };
    expect(s.status.capacity).toBeUndefined();
    expect(storageBlocker(u, { 'model-cache': s }, false)).toBeUndefined();
  });
});
