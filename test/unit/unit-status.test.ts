import { describe, expect, it } from 'vitest';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { planUnit, storageBlocker, podFailure, deploymentAvailable } from '../../src/controllers/unit/status';
import { claimState, consumableStock, STOCK_CLAIMED_AT, STOCK_CLAIM_TTL_MS } from '../../src/api/stock';
import type { GPUStorage, GPUUnit } from '../../src/api/types';

const NOW = '2026-11-30T10:00:00.000Z';

function unit(over: Partial<GPUUnit['spec']> = {}, ns = 'runtime-instance', meta: Partial<GPUUnit['metadata']> = {}): GPUUnit {
  return {
    apiVersion: 'runtime.lokiwager.io/v1alpha1',
    kind: 'GPUUnit',
    metadata: { name: 'demo', namespace: ns, uid: 'u-1', generation: 2, ...meta },
    spec: { specName: 'g1.1', memory: '16Gi', gpu: 1, image: 'python:3.12', ...over },
  };
}

function storage(name: string, phase: 'Pending' | 'Ready' | 'Failed', extra: Partial<NonNullable<GPUStorage['status']>> = {}): GPUStorage {
  return {
    apiVersion: 'runtime.lokiwager.io/v1alpha1',
    kind: 'GPUStorage',
    metadata: { name, namespace: 'runtime-instance' },
    spec: { size: '1Gi' },
    status: { phase, conditions: [{ type: 'Ready', status: phase === 'Ready' ? 'True' : 'False', reason: 'X', message: `storage says ${phase}`, lastTransitionTime: NOW }], ...extra },
  };
}

function deployment(replicas: number, ready: number, generation = 1, observed = 1): V1Deployment {
  return {
    metadata: { name: 'unit-demo', generation },
    spec: { replicas, selector: {}, template: {} },
    status: { observedGeneration: observed, readyReplicas: ready, updatedReplicas: ready, unavailableReplicas: replicas - ready },
  };
}

function waitingPod(reason: string, message = 'boom'): V1Pod {
  return {
    metadata: { name: 'unit-demo-abc' },
    status: { phase: 'Pending', containerStatuses: [{ name: 'runtime', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason, message } } }] },
  };
}

const ready = (status: ReturnType<typeof planUnit>['status']) => status.conditions?.find((c) => c.type === 'Ready');

describe('planUnit: active units', () => {
  it('waits with 0 replicas, reason StorageNotReady naming the storage, until every mounted storage is Ready', () => {
    const u = unit({ storageMounts: [{ name: 'a', mountPath: '/a' }, { name: 'model-cache', mountPath: '/m' }] });
    const p = planUnit({ unit: u, storages: { a: storage('a', 'Ready'), 'model-cache': storage('model-cache', 'Pending') }, now: NOW });
    expect(p.replicas).toBe(0);
    expect(p.status.phase).toBe('Progressing');
    expect(ready(p.status)).toMatchObject({ status: 'False', reason: 'StorageNotReady' });
    expect(ready(p.status)!.message).toContain('model-cache');
    expect(ready(p.status)!.message).toContain('storage says Pending');
  });

  it('names a missing storage', () => {
    const p = planUnit({ unit: unit({ storageMounts: [{ name: 'gone', mountPath: '/g' }] }), storages: {}, now: NOW });
    expect(p.replicas).toBe(0);
    expect(ready(p.status)!.message).toMatch(/storage gone: GPUStorage runtime-instance\/gone does not exist/);
  });

  it('runs (1 replica) once storages are Ready, and is Ready when the Deployment is available', () => {
    const u = unit({ storageMounts: [{ name: 'a', mountPath: '/a' }], template: { ports: [{ name: 'http', port: 8080 }] } });
    const p1 = planUnit({ unit: u, storages: { a: storage('a', 'Ready') }, now: NOW });
    expect(p1.replicas).toBe(1);
    expect(p1.status.phase).toBe('Progressing');
    expect(ready(p1.status)!.reason).toBe('UnitProgressing');
    const p2 = planUnit({ unit: u, storages: { a: storage('a', 'Ready') }, deployment: deployment(1, 1), now: NOW });
    expect(p2.status).toMatchObject({ phase: 'Ready', readyReplicas: 1, observedGeneration: 2, serviceName: 'unit-demo' });
    expect(p2.status.accessURL).toBe('http://unit-demo.runtime-instance.svc.cluster.local:8080');
    expect(ready(p2.status)).toMatchObject({ status: 'True', reason: 'UnitReady', observedGeneration: 2, lastTransitionTime: NOW });
  });

  it('keeps a running unit running when its storage drops to Pending with the data still in place (accessor restart)', () => {
    const u = unit({ storageMounts: [{ name: 'a', mountPath: '/a' }] });
    const pending = storage('a', 'Pending', { capacity: '1Gi', prepare: { phase: 'Succeeded', recoveryPhase: 'None' } });
    expect(planUnit({ unit: u, storages: { a: pending }, deployment: deployment(1, 1), now: NOW }).replicas).toBe(1);
    // …but a unit not yet running still waits for Ready,
    expect(planUnit({ unit: u, storages: { a: pending }, deployment: deployment(0, 0), now: NOW }).replicas).toBe(0);
    // …and a running unit stops when the data is being rewritten or the storage failed.
    const rewriting = storage('a', 'Pending', { capacity: '1Gi', prepare: { phase: 'Running', recoveryPhase: 'Running' } });
    expect(planUnit({ unit: u, storages: { a: rewriting }, deployment: deployment(1, 1), now: NOW }).replicas).toBe(0);
    expect(storageBlocker(u, { a: storage('a', 'Failed', { capacity: '1Gi' }) }, true)?.storage).toBe('a');
  });

  it('states pod failures (ErrImagePull, CrashLoopBackOff) in a Failed status', () => {
    for (const reason of ['ErrImagePull', 'CrashLoopBackOff']) {
      const p = planUnit({ unit: unit(), deployment: deployment(1, 0), pods: [waitingPod(reason, 'pull access denied')], now: NOW });
      expect(p.status.phase).toBe('Failed');
      expect(ready(p.status)!.reason).toBe('UnitPodFailed');
      expect(ready(p.status)!.message).toBe(`pod unit-demo-abc: ${reason}: pull access denied`);
      expect(p.replicas).toBe(1);
    }
    expect(podFailure([waitingPod('ContainerCreating')])).toBeUndefined();
  });

  it('states why a pod is not scheduled', () => {
    const pod: V1Pod = { metadata: { name: 'p1' }, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/4 nodes have enough nvidia.com/gpu' }] } };
    const p = planUnit({ unit: unit(), deployment: deployment(1, 0), pods: [pod], now: NOW });
    expect(p.status.phase).toBe('Progressing');
    expect(ready(p.status)!.message).toBe('pod p1 is not scheduled: Unschedulable: 0/4 nodes have enough nvidia.com/gpu');
  });

  it('is Empty, with no Deployment wanted, for an active unit without an image', () => {
    const p = planUnit({ unit: unit({ image: undefined }), now: NOW });
    expect(p.status.phase).toBe('Empty');
    expect(p.replicas).toBeUndefined();
    expect(ready(p.status)!.reason).toBe('UnitNoImage');
  });

  it('is not Ready while a rollout of a new template is in flight', () => {
    expect(deploymentAvailable(deployment(1, 1, 3, 2))).toBe(false);
    expect(deploymentAvailable(deployment(1, 1, 3, 3))).toBe(true);
    expect(deploymentAvailable(deployment(0, 0))).toBe(false);
  });

  it('keeps lastTransitionTime while the condition status does not change', () => {
    const u = unit();
    u.status = { conditions: [{ type: 'Ready', status: 'False', reason: 'UnitProgressing', message: 'old', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
    const p = planUnit({ unit: u, deployment: deployment(1, 0), now: NOW });
    expect(ready(p.status)!.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
  });
});

describe('planUnit: stock units', () => {
  it('is Ready when the reservation Deployment is available and never has a service or access URL', () => {
    const s = unit({ image: undefined }, 'runtime-stock');
    const p = planUnit({ unit: s, deployment: deployment(1, 1), now: NOW });
    expect(p.status.phase).toBe('Ready');
    expect(p.status.serviceName).toBeUndefined();
    expect(p.status.accessURL).toBeUndefined();
    expect(planUnit({ unit: s, now: NOW }).status.phase).toBe('Progressing');
  });
});

describe('stock claims and consumption order', () => {
  const now = Date.parse(NOW);
  const stock = (name: string, created: string, annotations: Record<string, string> = {}, phase: 'Ready' | 'Progressing' = 'Ready'): GPUUnit => ({
    ...unit({ image: undefined }, 'runtime-stock', { name, creationTimestamp: created as unknown as Date, annotations }),
    status: { phase, conditions: [{ type: 'Ready', status: phase === 'Ready' ? 'True' : 'False', reason: 'r', message: '', lastTransitionTime: NOW }] },
  });
  const claim = (ageMs: number) => ({ 'runtime.lokiwager.io/stock-claim-id': 'c1', [STOCK_CLAIMED_AT]: new Date(now - ageMs).toISOString() });

  it('reads a claim as live until the TTL, then abandoned; a claim without a time is abandoned', () => {
    expect(claimState(stock('a', NOW), now)).toEqual({ live: false, abandoned: false });
    expect(claimState(stock('a', NOW, claim(1000)), now)).toMatchObject({ claimID: 'c1', live: true, abandoned: false });
    expect(claimState(stock('a', NOW, claim(STOCK_CLAIM_TTL_MS + 1)), now)).toMatchObject({ live: false, abandoned: true });
    expect(claimState(stock('a', NOW, { 'runtime.lokiwager.io/stock-claim-id': 'c1' }), now).abandoned).toBe(true);
  });

  it('offers Ready, unclaimed (or abandoned) stock of the spec, oldest first, then by name', () => {
    const units = [
      stock('s-003', '2026-11-30T09:00:02Z'),
      stock('s-002', '2026-11-30T09:00:01Z'),
      stock('s-001', '2026-11-30T09:00:01Z'),
      stock('claimed', '2026-11-30T08:00:00Z', claim(1000)),
      stock('abandoned', '2026-11-30T08:30:00Z', claim(STOCK_CLAIM_TTL_MS * 2)),
      stock('not-ready', '2026-11-30T07:00:00Z', {}, 'Progressing'),
      { ...stock('other-spec', '2026-11-30T07:00:00Z'), spec: { specName: 'g2.1', memory: '1Gi' } },
      stock('consumed', '2026-11-30T07:00:00Z', claim(STOCK_CLAIM_TTL_MS * 2)),
    ];
    const names = consumableStock(units, 'g1.1', now, new Set(['runtime-stock/consumed'])).map((u) => u.metadata.name);
    expect(names).toEqual(['abandoned', 's-001', 's-002', 's-003']);
  });
});
