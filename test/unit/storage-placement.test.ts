/**
 * Clone placement (contract, "Owned objects and naming": a ReadWriteOnce source in use by a pod
 * pins the copy to that pod's node, and the status says which).
 */
import { describe, expect, it } from 'vitest';
import type { V1Job, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { copyPlacement, placementAffinity, placementNote, volumeConsumers, COPY_PLACEMENT_ANNOTATION } from '../../src/controllers/storage/placement';
import { desiredPrepareJob } from '../../src/controllers/storage/children';
import { planStorage } from '../../src/controllers/storage/status';
import type { GPUStorage } from '../../src/api/types';

const NOW = '2026-11-30T10:00:00.000Z';

function pod(name: string, claim: string, node?: string, phase = 'Running', deleting = false): V1Pod {
  return {
    metadata: { name, ...(deleting ? { deletionTimestamp: new Date(NOW) } : {}) },
    spec: { ...(node ? { nodeName: node } : {}), containers: [], volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim, readOnly: true } }] },
    status: { phase },
  };
}

function storage(name: string, spec: Partial<GPUStorage['spec']> = {}, status?: GPUStorage['status']): GPUStorage {
  return {
    apiVersion: 'runtime.lokiwager.io/v1alpha1',
    kind: 'GPUStorage',
    metadata: { name, namespace: 'runtime-instance', uid: `uid-${name}`, generation: 1 },
    spec: { size: '1Gi', ...spec },
    status,
  };
}
const bound: V1PersistentVolumeClaim = { status: { phase: 'Bound', capacity: { storage: '1Gi' } } };

describe('volumeConsumers', () => {
  it('lists scheduled, live, unfinished pods that mount the claim, sorted by name', () => {
    const pods = [
      pod('z-accessor', 'src', 'n2'),
      pod('a-unit', 'src', 'n1', 'Pending'),
      pod('unscheduled', 'src'),
      pod('done', 'src', 'n3', 'Succeeded'),
      pod('failed', 'src', 'n3', 'Failed'),
      pod('leaving', 'src', 'n3', 'Running', true),
      pod('other', 'other-claim', 'n4'),
    ];
    expect(volumeConsumers(pods, 'src')).toEqual([
      { pod: 'a-unit', node: 'n1' },
      { pod: 'z-accessor', node: 'n2' },
    ]);
  });
});

describe('copyPlacement', () => {
  it('pins to the first consumer\'s node; nothing when no pod holds the source', () => {
    expect(copyPlacement('src', [{ pod: 'storage-accessor-src-1', node: 'kwok-gpu-node-2' }])).toEqual({ source: 'src', node: 'kwok-gpu-node-2', pod: 'storage-accessor-src-1' });
    expect(copyPlacement('src', [])).toBeUndefined();
  });

  it('affinity is required node affinity on kubernetes.io/hostname; the note names node, source and pod', () => {
    const p = { source: 'src', node: 'n2', pod: 'storage-accessor-src-1' };
    expect(placementAffinity(p)).toEqual({
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n2'] }] }] } },
    });
    expect(placementNote(p)).toBe('pinned to node n2, where source storage src is in use by pod storage-accessor-src-1 (ReadWriteOnce)');
  });
});

describe('desiredPrepareJob with a placement', () => {
  const opts = { ttlSecondsAfterFinished: 3600, activeDeadlineSeconds: 1800 };
  it('puts the affinity on the pod and the note on the Job; without one, neither', () => {
    const clone = storage('copy', { prepare: { fromStorageName: 'src' } });
    const p = { source: 'src', node: 'n2', pod: 'storage-accessor-src-1' };
    const job = desiredPrepareJob(clone, 'abcdef012345', opts, p);
    expect(job.spec?.template.spec?.affinity).toEqual(placementAffinity(p));
    expect(job.metadata?.annotations?.[COPY_PLACEMENT_ANNOTATION]).toBe(placementNote(p));
    const free = desiredPrepareJob(clone, 'abcdef012345', opts);
    expect(free.spec?.template.spec?.affinity).toBeUndefined();
    expect(free.metadata?.annotations?.[COPY_PLACEMENT_ANNOTATION]).toBeUndefined();
  });
});

describe('planStorage for a clone whose source is in use', () => {
  const src = storage('src', {}, { phase: 'Ready' });
  const clone = storage('copy', { prepare: { fromStorageName: 'src' } });

  it('starts the copy pinned to the consumer\'s node and says so', () => {
    const plan = planStorage({ storage: clone, pvc: bound, source: { storage: src, consumers: [{ pod: 'storage-accessor-src-1', node: 'n2' }] }, now: NOW });
    expect(plan.startJob).toBe(true);
    expect(plan.placement).toEqual({ source: 'src', node: 'n2', pod: 'storage-accessor-src-1' });
    expect(plan.status.prepare?.message).toContain('pinned to node n2, where source storage src is in use by pod storage-accessor-src-1');
  });

  it('no consumer: no placement', () => {
    const plan = planStorage({ storage: clone, pvc: bound, source: { storage: src, consumers: [] }, now: NOW });
    expect(plan.startJob).toBe(true);
    expect(plan.placement).toBeUndefined();
  });

  it('while the pinned Job runs, the status keeps saying where it was pinned', () => {
    const first = planStorage({ storage: clone, pvc: bound, source: { storage: src, consumers: [{ pod: 'a', node: 'n2' }] }, now: NOW });
    const job: V1Job = {
      metadata: { name: first.status.prepare!.jobName, creationTimestamp: new Date(NOW), annotations: { [COPY_PLACEMENT_ANNOTATION]: 'pinned to node n2, where source storage src is in use by pod a (ReadWriteOnce)' } },
      status: {},
    };
    const withStatus = { ...clone, status: first.status };
    const pending = planStorage({ storage: withStatus, pvc: bound, job, jobPods: [], source: { storage: src }, now: NOW });
    expect(pending.status.prepare?.message).toMatch(/waiting for its pod to start; pinned to node n2/);
    const running = planStorage({ storage: { ...clone, status: pending.status }, pvc: bound, job, jobPods: [{ metadata: { name: 'p' }, status: { phase: 'Running' } }], source: { storage: src }, now: NOW });
    expect(running.status.prepare?.message).toMatch(/is running; pinned to node n2/);
    expect(running.startJob).toBe(false);
  });
});
