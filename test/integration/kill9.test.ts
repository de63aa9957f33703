/**
 * kill -9 during a burst of prepares (issue 12): 200 storages — from an image, clone chains of
 * depth 3, the accessor on for some — are applied while the service runs as a separate process;
 * it is SIGKILLed (no shutdown, no Lease release) at a point of the work, and started again.
 * Outcome, for each of three kill points (early: a few Jobs exist; middle: about half Ready;
 * late: most Ready):
 * - every storage converges to Ready, its accessor Ready where enabled;
 * - exactly one prepare Job per attempt digest was ever created (audit log: no Job name created
 *   twice; each Job that exists was created with a 201, or by a create the kill cut off, which
 *   kube-apiserver audits as 500 "context canceled" though it may have stored the Job), and
 *   `status.prepare.attempts` is 1 everywhere (counted once);
 * - no orphaned child: every PVC, Job, Deployment and Service the platform made has a controller
 *   ownerReference to a storage that exists, with its uid.
 * Converge time after the restart is printed. On a local cluster of its own (kube-controller-manager
 * at 1000 QPS), so the suite's in-process service does not reconcile these storages too.
 * STORAGES (default 200) sets the size of each round.
 */
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startLocalCluster, type LocalCluster } from '../../hack/cluster/cluster';
import { Kube, R, type Resource } from '../../src/kube/resources';
import { LABELS } from '../../src/api/constants';
import type { GPUStorage } from '../../src/api/types';
import { eventually } from '../support/env';
import { auditWritesOf } from '../support/audit';
import { startReplica, type Replica } from '../support/replica';

const STORAGES = Number(process.env.KILL9_STORAGES ?? 200);
const OPERATOR_USER = 'gpu-runtime-operator';
type Storage = GPUStorage & KubernetesObject;

/** Storage `i` of a round: groups of five — an image, a clone chain of depth 3 on it, another image; every fourth group's head with the accessor. */
function storage(ns: string, i: number): Storage {
  const group = Math.floor(i / 5);
  const pos = i % 5;
  const name = (g: number, p: number) => `s-${g}-${p}`;
  const spec: GPUStorage['spec'] =
    pos >= 1 && pos <= 3
      ? { size: '1Gi', storageClassName: 'rook-ceph-block', prepare: { fromStorageName: name(group, pos - 1) } }
      : { size: '1Gi', storageClassName: 'rook-ceph-block', prepare: { fromImage: 'busybox:1.36', args: ['true'] }, accessor: { enabled: pos === 0 && group % 4 === 0 } };
  return { apiVersion: 'runtime.lokiwager.io/v1alpha1', kind: 'GPUStorage', metadata: { name: name(group, pos), namespace: ns }, spec };
}

describe('kill -9 during 200 prepares', () => {
  let cluster: LocalCluster;
  let kube: Kube;
  const started: Replica[] = [];

  beforeAll(async () => {
    cluster = await startLocalCluster({ name: `test-${process.pid}-kill9`, persistent: false, nodes: 2, podRunMs: 1500, componentQps: 1000, log: () => {} });
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    kube = new Kube(kc);
  }, 180_000);
  afterAll(async () => {
    for (const r of started) r.signal('SIGKILL');
    await cluster?.stop();
  });

  const replica = async () => {
    const r = await startReplica(cluster.operatorKubeconfig);
    started.push(r);
    return r;
  };
  const list = async <T extends KubernetesObject>(r: Resource<T>, ns: string) => (await kube.list(r, ns)).items;

  for (const [point, when] of [
    ['early', 'a tenth of the Jobs exist'],
    ['middle', 'half the storages are Ready'],
    ['late', 'nine tenths are Ready'],
  ] as const) {
    it(`converges after a SIGKILL ${point} (${when}): one Job per attempt, attempts counted once, no orphan`, async () => {
      const ns = `kill9-${point}`;
      await kube.create(R.namespace, { metadata: { name: ns } });
      let svc = await replica();
      // A failed round must not leave its replica reconciling the next round's storages.
      onTestFinished(() => svc.signal('SIGKILL'));
      const t0 = Date.now();
      for (let i = 0; i < STORAGES; i += 20) {
        await Promise.all(Array.from({ length: Math.min(20, STORAGES - i) }, (_, k) => kube.create(R.storage, storage(ns, i + k))));
      }
      const ready = async () => (await list(R.storage, ns)).filter((s) => s.status?.phase === 'Ready').length;
      if (point === 'early') await eventually(async () => (await list(R.job, ns)).length >= STORAGES / 10, 'a tenth of the Jobs', 120_000, 100);
      else await eventually(async () => (await ready()) >= (point === 'middle' ? STORAGES / 2 : (STORAGES * 9) / 10), `${point} kill point`, 180_000, 100);
      const atKill = await ready();
      svc.signal('SIGKILL');
      expect(await svc.exited).toBeNull(); // killed by the signal, not exited
      const tRestart = Date.now();
      svc = await replica();
      // The old Lease is not released: the new process waits for it to expire (15 s) before it leads.
      await eventually(async () => (await ready()) === STORAGES, `all ${STORAGES} storages Ready after the restart`, 240_000, 500);
      const convergeS = (Date.now() - tRestart) / 1000;

      const storages = await list(R.storage, ns);
      const uids = new Set(storages.map((s) => s.metadata.uid));
      const withAccessor = storages.filter((s) => s.spec.accessor?.enabled);
      await eventually(async () => (await list(R.storage, ns)).filter((s) => s.spec.accessor?.enabled).every((s) => s.status?.accessor?.phase === 'Ready'), 'accessors Ready', 60_000, 500);
      expect(storages.map((s) => s.status?.prepare?.attempts ?? 0).filter((a) => a !== 1)).toEqual([]);

      // No orphan: every child of the platform is controlled by a storage that exists.
      const orphans: string[] = [];
      for (const [kind, r] of [
        ['PersistentVolumeClaim', R.pvc],
        ['Job', R.job],
        ['Deployment', R.deployment],
        ['Service', R.service],
      ] as const) {
        for (const o of (await kube.list(r as Resource<KubernetesObject>, ns, `${LABELS.managedBy}`)).items) {
          const owner = o.metadata?.ownerReferences?.find((x) => x.controller);
          if (!owner || owner.kind !== 'GPUStorage' || !uids.has(owner.uid)) orphans.push(`${kind} ${o.metadata?.name}`);
        }
      }
      expect(orphans).toEqual([]);
      expect((await list(R.deployment, ns)).length).toBe(withAccessor.length);

      // Exactly one Job per attempt digest ever created, across both processes.
      await new Promise((r) => setTimeout(r, 1500)); // the audit log's last lines
      const creates = auditWritesOf(cluster.auditLog, OPERATOR_USER, t0).writes.filter((w) => w.what === 'create jobs' && w.namespace === ns);
      const jobCreates = creates.filter((w) => w.code === 201).map((w) => w.name);
      // A create the SIGKILL cut off is audited as 500 "context canceled" (kube-apiserver records
      // a request whose client went away so, kubernetes/kubernetes#139256), yet the API server may
      // have stored the Job: the new process then finds it and creates none. Those are the only
      // Jobs a 201 may be missing for.
      const cutOff = creates.filter((w) => w.code !== 201 && (w.code === undefined || w.code >= 500) && w.at < tRestart);
      const jobNames = (await list(R.job, ns)).map((j) => j.metadata!.name!);
      const created = new Set(jobCreates);
      const without201 = jobNames.filter((n) => !created.has(n));
      const detail = JSON.stringify({ without201, cutOff, other: creates.filter((w) => w.code !== 201 && !cutOff.includes(w)) });
      expect(created.size, 'no Job name created twice').toBe(jobCreates.length);
      expect(new Set(jobNames).size).toBe(STORAGES);
      expect(without201.length, detail).toBeLessThanOrEqual(cutOff.length);
      expect(jobCreates.length + without201.length, detail).toBe(STORAGES);
      console.log(
        `kill -9 ${point}: ${atKill}/${STORAGES} Ready at the kill; all Ready ${convergeS.toFixed(1)} s after the restart (15 s of it the dead leader's Lease); ` +
          `${jobNames.length} Jobs (${jobCreates.length} creates answered 201, ${without201.length} stored by a create the kill cut off), ${withAccessor.length} accessors`,
      );
      svc.signal('SIGTERM');
      await svc.exited;
      // The next round starts on a cluster without this one's pods and Jobs.
      await kube.delete(R.namespace, undefined, ns);
    }, 600_000);
  }
});
