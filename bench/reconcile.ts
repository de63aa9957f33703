/**
 * The per-reconcile CPU cost of a storage in steady state (what a resync of every cached storage
 * costs): planning its status, comparing it with the stored one, and hashing the desired children
 * that ensureApplied compares with the live objects' applied-hash annotations.
 */
import type { Bench } from 'tinybench';
import { planStorage } from '../src/controllers/storage/status';
import { sameStatus } from '../src/kube/controller';
import { desiredAccessorDeployment, desiredAccessorService, desiredPVC } from '../src/controllers/storage/children';
import { stampAppliedHash } from '../src/kube/apply';
import { prepareDigest } from '../src/api/digest';
import type { GPUStorage } from '../src/api/types';

const storage: GPUStorage = {
  apiVersion: 'runtime.lokiwager.io/v1alpha1',
  kind: 'GPUStorage',
  metadata: { name: 'model-cache', namespace: 'runtime-instance', uid: 'u', generation: 1 },
  spec: { size: '20Gi', prepare: { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: ['echo'] }, accessor: { enabled: true } },
};
const now = new Date().toISOString();
const digest = prepareDigest(storage.spec.prepare!);
const settled = planStorage({
  storage: { ...storage, status: { prepare: { phase: 'Succeeded', recoveryPhase: 'None', observedDigest: digest, jobName: 'j' } } },
  pvc: { status: { phase: 'Bound', capacity: { storage: '20Gi' } } },
  accessor: { spec: { replicas: 1, selector: {}, template: {} }, status: { availableReplicas: 1, readyReplicas: 1 } },
  now,
}).status;
const ready: GPUStorage = { ...storage, status: settled };

/** Adds the reconcile benchmarks to `bench`. */
export function addReconcileBenchmarks(bench: Bench): void {
  bench.add('steady-state reconcile: planStorage + sameStatus', () => {
    const plan = planStorage({
      storage: ready,
      pvc: { status: { phase: 'Bound', capacity: { storage: '20Gi' } } },
      accessor: { spec: { replicas: 1, selector: {}, template: {} }, status: { availableReplicas: 1, readyReplicas: 1 } },
      now,
    });
    if (!sameStatus(ready.status, plan.status)) throw new Error('steady state must not write');
  });

  bench.add('steady-state reconcile: desired children + applied hashes', () => {
    stampAppliedHash(desiredPVC(ready));
    stampAppliedHash(desiredAccessorDeployment(ready, 1));
    stampAppliedHash(desiredAccessorService(ready));
  });

  bench.add('prepare digest', () => {
    prepareDigest(storage.spec.prepare!, 'nonce');
  });
}
