/**
 * Clone placement (issue 11; contract: a ReadWriteOnce source in use by a pod pins the copy to that
 * pod's node, and the status says which). The source's accessor holds its volume on one simulated
 * node; the clone's copy pod must land on that same node, or on a real cluster it would never start
 * (Multi-Attach). Checked on the simulated nodes: the scheduler honours the Job's node affinity.
 */
import { describe, expect, it } from 'vitest';
import { rest } from '../support/http';
import { adminKube, eventually, uniq } from '../support/env';
import { NS } from '../support/units';
import { R } from '../../src/kube/resources';
import { LABELS } from '../../src/api/constants';
import type { StorageView } from '../../src/service/storage';

async function storage(name: string): Promise<StorageView> {
  return (await rest<StorageView>('GET', `/api/v1/gpu-storages/${name}?namespace=${NS}`)).body!.data!;
}

describe('clone of a storage whose accessor is running', () => {
  it('the copy Job\'s pod runs on the accessor pod\'s node, and the status says it was pinned there', async () => {
    const src = uniq('placed-src');
    const seed = { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: ['echo seeded > /workspace/README.txt'] };
    expect((await rest('POST', '/api/v1/gpu-storages', { name: src, namespace: NS, size: '1Gi', prepare: seed, accessor: { enabled: true } })).status).toBe(201);
    await eventually(async () => (await storage(src)).phase === 'Ready', 'source Ready with its accessor', 60_000);
    const accessorPod = await eventually(async () => {
      const pods = await adminKube().list(R.pod, NS);
      return pods.items.find((p) => p.metadata?.labels?.[LABELS.storageAccessor] === src && p.spec?.nodeName && p.status?.phase === 'Running');
    }, 'accessor pod running');
    const node = accessorPod.spec!.nodeName!;

    const copy = uniq('placed-copy');
    expect((await rest('POST', '/api/v1/gpu-storages', { name: copy, namespace: NS, size: '1Gi', prepare: { fromStorageName: src } })).status).toBe(201);
    const copyPod = await eventually(async () => {
      const pods = await adminKube().list(R.pod, NS);
      return pods.items.find((p) => p.metadata?.labels?.[LABELS.storagePrepare] === copy && p.spec?.nodeName);
    }, 'copy pod scheduled');
    expect(copyPod.spec?.nodeName).toBe(node);
    expect(copyPod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]).toEqual({
      key: 'kubernetes.io/hostname',
      operator: 'In',
      values: [node],
    });
    const job = (await adminKube().list(R.job, NS)).items.find((j) => j.metadata?.labels?.[LABELS.storagePrepare] === copy);
    expect(job?.metadata?.annotations?.['runtime.lokiwager.io/copy-placement']).toBe(
      `pinned to node ${node}, where source storage ${src} is in use by pod ${accessorPod.metadata!.name} (ReadWriteOnce)`,
    );
    const done = await eventually(async () => {
      const s = await storage(copy);
      return s.phase === 'Ready' ? s : undefined;
    }, 'clone Ready', 60_000);
    expect(done.prepareStatus.phase).toBe('Succeeded');
  });
});
