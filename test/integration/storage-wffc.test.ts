/**
 * WaitForFirstConsumer (issue 11; contract "Binding modes") on the local cluster's `local-path`
 * class, served by rancher's local-path-provisioner: a PVC binds only once a pod using it is
 * scheduled. The prepare Job is that first consumer; a storage without prepare is Ready once its
 * PVC exists and the unit mounting it binds it. On the code before this issue both storages stayed
 * Pending ("waiting for PersistentVolumeClaim … to be bound (Pending)") and the unit never started.
 */
import { describe, expect, it } from 'vitest';
import { rest } from '../support/http';
import { adminKube, eventually, uniq } from '../support/env';
import { NS, seedReady, uniqSpec, unitBody, unitWhere } from '../support/units';
import { R } from '../../src/kube/resources';
import type { StorageView } from '../../src/service/storage';

const CLASS = 'local-path';
const seed = { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: ['mkdir -p /workspace/model && echo seeded > /workspace/model/README.txt'] };

async function storage(name: string): Promise<StorageView> {
  return (await rest<StorageView>('GET', `/api/v1/gpu-storages/${name}?namespace=${NS}`)).body!.data!;
}

async function pvNodeOf(claim: string): Promise<string | undefined> {
  const pvc = await adminKube().get(R.pvc, NS, claim);
  if (pvc.status?.phase !== 'Bound') return undefined;
  const pv = await adminKube().get({ apiVersion: 'v1', kind: 'PersistentVolume', plural: 'persistentvolumes', namespaced: false }, undefined, pvc.spec!.volumeName!);
  return (pv as any).spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]?.values?.[0];
}

describe('storage on a WaitForFirstConsumer class', () => {
  it('a prepared storage reaches Ready (its prepare Job binds the volume) and a unit mounting it starts on the volume\'s node', async () => {
    const name = uniq('wffc-prepared');
    const created = await rest('POST', '/api/v1/gpu-storages', { name, namespace: NS, size: '1Gi', storageClassName: CLASS, prepare: seed });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const ready = await eventually(async () => {
      const s = await storage(name);
      return s.phase === 'Ready' ? s : undefined;
    }, `storage ${name} Ready on ${CLASS}`, 60_000);
    expect(ready.prepareStatus.phase).toBe('Succeeded');
    expect(ready.capacity).toBe('1Gi');
    const node = await pvNodeOf(name);
    expect(node, 'the PV has node affinity to the prepare pod\'s node').toMatch(/^kwok-gpu-node-/);

    const spec = uniqSpec();
    await seedReady(spec, 1);
    const unit = uniq('wffc-unit');
    const u = await rest('POST', '/api/v1/gpu-units', unitBody(unit, spec, { storageMounts: [{ name, mountPath: '/workspace/cache' }] }));
    expect(u.status, JSON.stringify(u.body)).toBe(201);
    await unitWhere(unit, (x) => x.phase === 'Ready', 'unit Ready', 60_000);
    const pods = await adminKube().list(R.pod, NS);
    const unitPod = pods.items.find((p) => p.metadata?.labels?.['runtime.lokiwager.io/unit'] === unit && !p.metadata?.deletionTimestamp);
    expect(unitPod?.spec?.nodeName).toBe(node);
    expect((await rest('DELETE', `/api/v1/gpu-units/${unit}?namespace=${NS}`)).status).toBe(204);
  });

  it('a storage without prepare is Ready while its PVC waits for a consumer; the unit mounting it binds it', async () => {
    const name = uniq('wffc-empty');
    const created = await rest('POST', '/api/v1/gpu-storages', { name, namespace: NS, size: '1Gi', storageClassName: CLASS });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const ready = await eventually(async () => {
      const s = await storage(name);
      return s.phase === 'Ready' ? s : undefined;
    }, `storage ${name} Ready before any consumer`, 30_000);
    expect(ready.capacity ?? undefined).toBeUndefined();
    expect(ready.message).toContain('binds when its first consumer is scheduled (StorageClass local-path: WaitForFirstConsumer)');
    expect((await adminKube().get(R.pvc, NS, name)).status?.phase).toBe('Pending');

    const spec = uniqSpec();
    await seedReady(spec, 1);
    const unit = uniq('wffc-consumer');
    const u = await rest('POST', '/api/v1/gpu-units', unitBody(unit, spec, { storageMounts: [{ name, mountPath: '/data' }] }));
    expect(u.status, JSON.stringify(u.body)).toBe(201);
    await unitWhere(unit, (x) => x.phase === 'Ready', 'unit Ready (its pod is the first consumer)', 60_000);
    const bound = await eventually(async () => {
      const s = await storage(name);
      return s.capacity === '1Gi' ? s : undefined;
    }, 'capacity reported once the unit bound the volume', 30_000);
    expect(bound.phase).toBe('Ready');
    expect(bound.message).not.toContain('first consumer');
    expect((await rest('DELETE', `/api/v1/gpu-units/${unit}?namespace=${NS}`)).status).toBe(204);
  });
});
