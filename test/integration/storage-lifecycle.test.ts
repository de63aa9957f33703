/**
 * GPUStorage rules (issue 3) against the local cluster: clone, recover, failures, update,
 * delete, accessor, names, events, and idleness measured in the API server's audit log.
 */
import { describe, expect, it } from 'vitest';
import { KubeConfig, type KubernetesObject, type V1Deployment, type V1Job } from '@kubernetes/client-node';
import { rest } from '../support/http';
import { adminKube, auditBarrier, auditWrites, eventually, kubectl, testEnv, uniq } from '../support/env';
import { ClusterCache } from '../../src/kube/cache';
import { EventRecorder } from '../../src/kube/events';
import { Kube, R } from '../../src/kube/resources';
import { StorageController } from '../../src/controllers/storage/controller';
import { accessorDeploymentName, accessorName, isDNS1035Label, isDNS1123Label } from '../../src/api/naming';
import type { GPUStorage } from '../../src/api/types';
import type { StorageView } from '../../src/service/storage';

const NS = 'runtime-instance';
const OPERATOR = testEnv().operatorUser;
const seed = { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: ['echo seeded > /workspace/README.txt'] };
const failing = { fromImage: 'example.invalid/fail:1', args: ['seed'] };
/** Its Job pod stays Running 8 s (hack/cluster/kwok-stages.yaml): for acts while an attempt runs. */
const slow = { fromImage: 'example.invalid/slow-seed:1', args: ['seed'] };

async function get(name: string): Promise<StorageView | undefined> {
  const r = await rest<StorageView>('GET', `/api/v1/gpu-storages/${name}?namespace=${NS}`);
  return r.status === 200 ? r.body!.data : undefined;
}

async function create(body: Record<string, unknown>): Promise<StorageView> {
  const r = await rest<StorageView>('POST', '/api/v1/gpu-storages', { namespace: NS, size: '1Gi', ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body!.data!;
}

async function until(name: string, pred: (s: StorageView) => boolean, what: string, timeoutMs = 60_000): Promise<StorageView> {
  return eventually(async () => {
    const s = await get(name);
    return s && pred(s) ? s : undefined;
  }, `${name}: ${what}`, timeoutMs);
}

async function jobsOf(name: string): Promise<V1Job[]> {
  return (await adminKube().list(R.job, NS, `runtime.lokiwager.io/storage=${name}`)).items;
}

function manifest(name: string, spec: GPUStorage['spec']): GPUStorage & KubernetesObject {
  return { apiVersion: 'runtime.lokiwager.io/v1alpha1', kind: 'GPUStorage', metadata: { name, namespace: NS }, spec };
}

describe('prepare from another storage (clone)', () => {
  it('copies with the source read-only at /source and the target at /workspace, once the source is Ready', async () => {
    const src = uniq('src');
    const copy = uniq('copy');
    await create({ name: src, prepare: seed });
    await until(src, (s) => s.phase === 'Ready', 'source Ready');
    const small = await rest('POST', '/api/v1/gpu-storages', { name: uniq('small'), namespace: NS, size: '512Mi', prepare: { fromStorageName: src } });
    expect(small.status).toBe(400);
    expect(small.body?.error?.field).toBe('size');
    await create({ name: copy, prepare: { fromStorageName: src } });
    const ready = await until(copy, (s) => s.phase === 'Ready', 'clone Ready');
    const obj = await adminKube().get(R.storage, NS, copy);
    expect(obj.metadata?.labels).toMatchObject({ 'runtime.lokiwager.io/storage': copy, 'app.kubernetes.io/managed-by': 'gpu-runtime-operator' });
    expect(ready.prepareStatus.phase).toBe('Succeeded');
    const [job] = await jobsOf(copy);
    const pod = job!.spec!.template.spec!;
    expect(pod.restartPolicy).toBe('Never');
    expect(job!.spec!.backoffLimit).toBe(0);
    expect(job!.spec!.ttlSecondsAfterFinished).toBeGreaterThan(0);
    expect(job!.spec!.activeDeadlineSeconds).toBeGreaterThan(0);
    const c = pod.containers[0]!;
    expect(c.terminationMessagePolicy).toBe('FallbackToLogsOnError');
    expect(c.volumeMounts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'source', mountPath: '/source', readOnly: true }),
        expect.objectContaining({ name: 'workspace', mountPath: '/workspace' }),
      ]),
    );
    expect(pod.volumes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ persistentVolumeClaim: { claimName: src, readOnly: true } }),
        expect.objectContaining({ persistentVolumeClaim: { claimName: copy } }),
      ]),
    );
    expect(c.command?.join(' ')).toMatch(/cp -a \/source\/\. \/workspace\//);
  });

  it('refuses through the API a clone of a missing source (400), but a manifest applied first waits and then proceeds', async () => {
    const src = uniq('late-src');
    const copy = uniq('early-copy');
    const refused = await rest('POST', '/api/v1/gpu-storages', { name: uniq('x'), namespace: NS, size: '1Gi', prepare: { fromStorageName: src } });
    expect(refused.status).toBe(400);
    expect(refused.body?.error?.code).toBe('invalid_request');
    expect(refused.body?.error?.message).toMatch(/source storage .* does not exist/);

    await adminKube().create(R.storage, manifest(copy, { size: '1Gi', prepare: { fromStorageName: src } }));
    const waiting = await until(copy, (s) => /waiting for source storage .* to exist/.test(s.prepareStatus.message ?? ''), 'waits for the source');
    expect(waiting.phase).toBe('Pending');
    expect(await jobsOf(copy)).toHaveLength(0);

    await create({ name: src, prepare: seed });
    await until(copy, (s) => s.phase === 'Ready' && s.prepareStatus.phase === 'Succeeded', 'clone proceeds once the source is Ready');
  });

  it('fails a clone cycle a → b → a with a clear reason', async () => {
    const a = uniq('cyc-a');
    const b = uniq('cyc-b');
    await adminKube().create(R.storage, manifest(a, { size: '1Gi', prepare: { fromStorageName: b } }));
    await adminKube().create(R.storage, manifest(b, { size: '1Gi', prepare: { fromStorageName: a } }));
    for (const n of [a, b]) {
      const s = await until(n, (x) => x.phase === 'Failed', 'cycle fails');
      expect(s.prepareStatus.lastFailure?.reason).toBe('CloneCycle');
      expect(s.message).toMatch(/clone cycle/);
    }
  });

  it('fails a clone whose source is deleted while it waits', async () => {
    const src = uniq('doomed');
    const copy = uniq('orphan');
    await create({ name: src, prepare: failing });
    await until(src, (s) => s.phase === 'Failed', 'source failed');
    await create({ name: copy, prepare: { fromStorageName: src } });
    await until(copy, (s) => /to be Ready/.test(s.prepareStatus.message ?? ''), 'clone waits for the source');
    // The API refuses to delete a source of an unfinished clone; an administrator can still do it.
    const refused = await rest('DELETE', `/api/v1/gpu-storages/${src}?namespace=${NS}`);
    expect(refused.status).toBe(409);
    expect(refused.body?.error?.message).toMatch(new RegExp(`source of clone ${copy}`));
    await adminKube().delete(R.storage, NS, src);
    const failed = await until(copy, (s) => s.phase === 'Failed', 'clone fails');
    expect(failed.prepareStatus.lastFailure?.reason).toBe('SourceDeleted');
  });
});

describe('failures and recover', () => {
  it('keeps Failed final when the failed Job is deleted by hand, and recover starts a new attempt', async () => {
    const name = uniq('broken');
    await create({ name, prepare: failing });
    const failed = await until(name, (s) => s.phase === 'Failed', 'prepare fails');
    expect(failed.prepareStatus).toMatchObject({ phase: 'Failed', recoveryPhase: 'Required', attempts: 1 });
    expect(failed.prepareStatus.lastFailure).toMatchObject({ reason: 'BackoffLimitExceeded', exitCode: 1 });
    expect(failed.message).toContain('simulated failure');

    await kubectl('delete', 'job', '-n', NS, failed.prepareStatus.jobName!, '--wait=true');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await jobsOf(name)).toHaveLength(0);
    const still = (await get(name))!;
    expect(still.phase).toBe('Failed');
    expect(still.prepareStatus.attempts).toBe(1);

    const rec = await rest<StorageView>('POST', `/api/v1/gpu-storages/${name}/recover?namespace=${NS}`);
    expect(rec.status).toBe(200);
    // The answer shows the new attempt, not the old outcome.
    expect(rec.body?.data?.prepareStatus.recoveryPhase).toBe('Running');
    expect(rec.body?.data?.prepareStatus.observedDigest).not.toBe(failed.prepareStatus.observedDigest);
    const again = await until(name, (s) => s.prepareStatus.attempts === 2 && s.prepareStatus.phase === 'Failed', 'second attempt fails too');
    expect(again.prepareStatus.jobName).not.toBe(failed.prepareStatus.jobName);
    expect(again.prepareStatus.recoveryPhase).toBe('Required');
    expect(again.prepareStatus.observedDigest).not.toBe(failed.prepareStatus.observedDigest);

    const events = await kubectl('get', 'events', '-n', NS, '--field-selector', `involvedObject.name=${name},involvedObject.kind=GPUStorage`, '-o', 'jsonpath={range .items[*]}{.reason}{"\\n"}{end}');
    expect(events.split('\n').filter(Boolean).sort()).toEqual(expect.arrayContaining(['PrepareFailed', 'PrepareStarted', 'RecoverRequested']));
  });

  it('recovers a storage with a 55-character name: new Job, valid name keeping the digest', async () => {
    const name = `r${'e'.repeat(46)}-${Math.random().toString(36).slice(2, 9)}`.slice(0, 55);
    expect(name).toHaveLength(55);
    await create({ name, prepare: seed });
    const first = await until(name, (s) => s.phase === 'Ready', 'prepared');
    const rec = await rest('POST', `/api/v1/gpu-storages/${name}/recover?namespace=${NS}`);
    expect(rec.status).toBe(200);
    const second = await until(name, (s) => s.prepareStatus.recoveryPhase === 'Succeeded' && s.phase === 'Ready', 'recovered');
    expect(second.prepareStatus.jobName).not.toBe(first.prepareStatus.jobName);
    for (const j of await jobsOf(name)) {
      expect(isDNS1123Label(j.metadata!.name!)).toBe(true);
      expect(j.metadata!.name!.length).toBeLessThanOrEqual(63);
    }
    expect(second.prepareStatus.jobName!.endsWith(`-${second.prepareStatus.observedDigest}`)).toBe(true);
    expect(await jobsOf(name)).toHaveLength(2);
  });

  it('two recovers at once: one starts an attempt, the other is refused (409); one new Job', async () => {
    const name = uniq('twice');
    await create({ name, prepare: failing });
    await until(name, (s) => s.phase === 'Failed', 'failed');
    const answers = await Promise.all([0, 1, 2].map(() => rest('POST', `/api/v1/gpu-storages/${name}/recover?namespace=${NS}`)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409]);
    await until(name, (s) => s.prepareStatus.attempts === 2 && s.phase === 'Failed', 'second attempt done');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await jobsOf(name)).toHaveLength(2);
  });

  it('recovers fired from the moment of create on: refused while any attempt runs; attempts equal the Jobs made', async () => {
    const name = uniq('eager');
    await create({ name, prepare: slow });
    const answers: number[] = [];
    for (let i = 0; i < 20; i++) {
      answers.push((await rest('POST', `/api/v1/gpu-storages/${name}/recover?namespace=${NS}`)).status);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(answers.every((c) => c === 200 || c === 409), answers.join(',')).toBe(true);
    expect(answers.filter((c) => c === 200).length).toBeLessThanOrEqual(1); // the first attempt's Job runs 8 s
    const done = await until(name, (s) => s.phase === 'Ready', 'ready after the attempts', 90_000);
    expect(done.prepareStatus.attempts).toBe((await jobsOf(name)).length);
  }, 150_000);

  it('refuses recover without a prepare contract (400) and while an attempt runs (409)', async () => {
    const plain = uniq('plain');
    await create({ name: plain });
    const r1 = await rest('POST', `/api/v1/gpu-storages/${plain}/recover?namespace=${NS}`);
    expect(r1.status).toBe(400);
    expect(r1.body?.error?.code).toBe('invalid_request');

    const busy = uniq('busy');
    await create({ name: busy, prepare: slow });
    await until(busy, (s) => s.prepareStatus.phase === 'Running', 'attempt running', 30_000);
    const r2 = await rest('POST', `/api/v1/gpu-storages/${busy}/recover?namespace=${NS}`);
    expect(r2.status).toBe(409);
    expect(r2.body?.error?.code).toBe('operation_conflict');
    expect(r2.body?.error?.message).toMatch(/still running/);

    const missing = await rest('POST', `/api/v1/gpu-storages/${uniq('nope')}/recover?namespace=${NS}`);
    expect(missing.status).toBe(404);
    expect(missing.body?.error?.code).toBe('gpustorage_not_found');
  });
});

describe('names', () => {
  it('gives a storage named models.v1 valid child names', async () => {
    const name = `models.v1-${Math.random().toString(36).slice(2, 6)}`;
    await create({ name, prepare: seed, accessor: { enabled: true } });
    const s = await until(name, (x) => x.phase === 'Ready', 'ready with accessor');
    expect(s.accessorStatus.serviceName).toBe(accessorName(name));
    expect(isDNS1035Label(s.accessorStatus.serviceName!)).toBe(true);
    expect(s.accessorStatus.accessURL).toBe(`http://${accessorName(name)}.${NS}.svc.cluster.local:8080`);
    await adminKube().get(R.service, NS, s.accessorStatus.serviceName!);
    // A Deployment name may keep the dots: only the Service is shortened (contract "Names").
    await adminKube().get(R.deployment, NS, `storage-accessor-${name}`);
    expect(isDNS1123Label(s.prepareStatus.jobName!)).toBe(true);
  });
});

describe('update and accessor', () => {
  it('grows, refuses to shrink, refuses to grow on a class without expansion (naming it), toggles the accessor', async () => {
    const name = uniq('grow');
    await create({ name, size: '1Gi' });
    await until(name, (s) => s.phase === 'Ready', 'ready');
    const grown = await rest<StorageView>('PUT', `/api/v1/gpu-storages/${name}?namespace=${NS}`, { size: '2Gi' });
    expect(grown.status).toBe(200);
    expect(grown.body?.data?.size).toBe('2Gi');
    await eventually(async () => (await adminKube().get(R.pvc, NS, name)).spec?.resources?.requests?.storage === '2Gi', 'PVC request grown');
    const shrink = await rest('PUT', `/api/v1/gpu-storages/${name}?namespace=${NS}`, { size: '1Gi' });
    expect(shrink.status).toBe(400);
    expect(shrink.body?.error?.message).toMatch(/never shrink/);

    const fixed = uniq('fixed');
    await create({ name: fixed, storageClassName: 'local-fixed' });
    const r = await rest('PUT', `/api/v1/gpu-storages/${fixed}?namespace=${NS}`, { size: '5Gi' });
    expect(r.status).toBe(400);
    expect(r.body?.error?.message).toMatch(/StorageClass local-fixed does not allow volume expansion/);
    expect((await get(fixed))!.size).toBe('1Gi');

    const on = await rest('PUT', `/api/v1/gpu-storages/${name}?namespace=${NS}`, { accessor: { enabled: true } });
    expect(on.status).toBe(200);
    await until(name, (s) => s.accessorStatus.phase === 'Ready' && s.phase === 'Ready', 'accessor ready');
    const dep = await adminKube().get(R.deployment, NS, accessorDeploymentName(name));
    const pod = dep.spec!.template.spec!;
    expect(pod.volumes?.[0]?.persistentVolumeClaim).toEqual({ claimName: name, readOnly: true });
    expect(pod.containers[0]!.volumeMounts?.[0]?.readOnly).toBe(true);
    expect(pod.containers[0]!.ports?.[0]).toMatchObject({ name: 'http', containerPort: 8080 });
    expect(dep.spec?.replicas).toBe(1);

    // A PUT without accessor leaves it as it is.
    const grow2 = await rest<StorageView>('PUT', `/api/v1/gpu-storages/${name}?namespace=${NS}`, { size: '3Gi' });
    expect(grow2.body?.data?.accessor.enabled).toBe(true);

    const off = await rest('PUT', `/api/v1/gpu-storages/${name}?namespace=${NS}`, { accessor: { enabled: false } });
    expect(off.status).toBe(200);
    await until(name, (s) => s.accessorStatus.phase === 'Disabled', 'accessor disabled');
    await eventually(async () => {
      const deps = await adminKube().list(R.deployment, NS, `runtime.lokiwager.io/storage-accessor=${name}`);
      const svcs = await adminKube().list(R.service, NS, `runtime.lokiwager.io/storage-accessor=${name}`);
      return deps.items.length === 0 && svcs.items.length === 0;
    }, 'accessor removed');
  });

  it('scales the accessor away while a recover attempt runs, and pins it to the node of a pod that uses the volume', async () => {
    const name = uniq('acc');
    await create({ name, prepare: slow, accessor: { enabled: true } });
    await until(name, (s) => s.phase === 'Ready', 'ready');
    await rest('POST', `/api/v1/gpu-storages/${name}/recover?namespace=${NS}`);
    await eventually(async () => (await adminKube().get(R.deployment, NS, accessorDeploymentName(name))).spec?.replicas === 0, 'accessor scaled to zero during the attempt');
    await until(name, (s) => s.phase === 'Ready' && s.prepareStatus.recoveryPhase === 'Succeeded', 'recovered');
    await eventually(async () => (await adminKube().get(R.deployment, NS, accessorDeploymentName(name))).spec?.replicas === 1, 'accessor back');

    // A unit's pod that mounts the PVC, on some node: the accessor must follow it.
    const podName = uniq('unit-pod');
    await adminKube().create(R.pod, {
      metadata: {
        name: podName,
        namespace: NS,
        labels: { 'app.kubernetes.io/managed-by': 'gpu-runtime-operator', 'runtime.lokiwager.io/unit': uniq('u') },
      },
      spec: {
        nodeName: 'kwok-gpu-node-2',
        containers: [{ name: 'c', image: 'busybox' }],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: name } }],
      },
    });
    const pinned = await eventually(async () => {
      const d: V1Deployment = await adminKube().get(R.deployment, NS, accessorDeploymentName(name));
      return d.spec?.template.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms?.[0]?.matchExpressions?.[0];
    }, 'accessor pinned');
    expect(pinned).toMatchObject({ key: 'kubernetes.io/hostname', operator: 'In', values: ['kwok-gpu-node-2'] });
    await adminKube().delete(R.pod, NS, podName);
  });
});

describe('hand edits', () => {
  it('reverts a hand-scaled accessor and re-creates a hand-deleted accessor Service', async () => {
    const name = uniq('drift');
    await create({ name, accessor: { enabled: true } });
    await until(name, (s) => s.phase === 'Ready', 'ready');
    await kubectl('scale', 'deployment', '-n', NS, accessorDeploymentName(name), '--replicas=0');
    await eventually(async () => (await adminKube().get(R.deployment, NS, accessorDeploymentName(name))).spec?.replicas === 1, 'replicas restored');
    await kubectl('delete', 'service', '-n', NS, accessorName(name));
    await eventually(async () => {
      try {
        return (await adminKube().get(R.service, NS, accessorName(name))).metadata?.uid;
      } catch {
        return undefined;
      }
    }, 'service re-created');
    await until(name, (s) => s.phase === 'Ready', 'ready again');
  });
});

describe('re-create under the same name', () => {
  it('never adopts the children of the deleted namesake: fresh PVC, Job and accessor, owned by the new storage', async () => {
    const name = uniq('again');
    await create({ name, prepare: seed, accessor: { enabled: true } });
    await until(name, (s) => s.phase === 'Ready', 'first one ready');
    const oldPVC = (await adminKube().get(R.pvc, NS, name)).metadata!.uid;
    await kubectl('delete', 'gpustorage', '-n', NS, name, '--wait=false');
    await eventually(async () => (await rest('POST', '/api/v1/gpu-storages', { name, namespace: NS, size: '1Gi', prepare: seed, accessor: { enabled: true } })).status === 201, 're-created', 30_000);
    const fresh = await until(name, (s) => s.phase === 'Ready', 'second one ready', 90_000);
    const pvc = await adminKube().get(R.pvc, NS, name);
    expect(pvc.metadata!.uid).not.toBe(oldPVC);
    expect(pvc.metadata!.deletionTimestamp).toBeUndefined();
    const owner = (o: { metadata?: { ownerReferences?: { uid: string }[] } }) => o.metadata?.ownerReferences?.[0]?.uid;
    expect(owner(pvc)).toBe(fresh.uid);
    for (const j of await jobsOf(name)) expect(owner(j)).toBe(fresh.uid);
    expect(owner(await adminKube().get(R.deployment, NS, accessorDeploymentName(name)))).toBe(fresh.uid);
  });
});

describe('delete', () => {
  it('deletes the storage and, by garbage collection, everything it owns; GET after DELETE is 404', async () => {
    const name = uniq('gone');
    await create({ name, prepare: seed, accessor: { enabled: true } });
    await until(name, (s) => s.phase === 'Ready', 'ready');
    const del = await rest('DELETE', `/api/v1/gpu-storages/${name}?namespace=${NS}`);
    expect(del.status).toBe(204);
    const after = await rest('GET', `/api/v1/gpu-storages/${name}?namespace=${NS}`);
    expect(after.status).toBe(404);
    expect(after.body?.error?.code).toBe('gpustorage_not_found');
    await eventually(async () => {
      const sel = `runtime.lokiwager.io/storage=${name}`;
      const k = adminKube();
      const [pvcs, jobs, deps, svcs] = await Promise.all([k.list(R.pvc, NS, sel), k.list(R.job, NS, sel), k.list(R.deployment, NS, sel), k.list(R.service, NS, sel)]);
      return pvcs.items.length + jobs.items.length + deps.items.length + svcs.items.length === 0;
    }, 'children garbage-collected', 90_000);
  });

  it('refuses while an active unit mounts the storage (409)', async () => {
    const name = uniq('mounted');
    await create({ name });
    const unit = uniq('holder');
    await adminKube().create(R.unit, {
      apiVersion: 'runtime.lokiwager.io/v1alpha1',
      kind: 'GPUUnit',
      metadata: { name: unit, namespace: NS },
      spec: { specName: 'g1.1', image: 'busybox', memory: '1Gi', gpu: 0, storageMounts: [{ name, mountPath: '/data' }] },
    });
    await eventually(async () => (await get(name))?.mountedBy.includes(unit), 'mountedBy lists the unit');
    const r = await rest('DELETE', `/api/v1/gpu-storages/${name}?namespace=${NS}`);
    expect(r.status).toBe(409);
    expect(r.body?.error?.code).toBe('operation_conflict');
    expect(r.body?.error?.message).toContain(unit);
    await adminKube().delete(R.unit, NS, unit);
  });
});

describe('idle is idle', () => {
  it('writes nothing while 20 storages with accessors stay Ready, through forced resyncs (audit log)', async () => {
    const names = Array.from({ length: 20 }, () => uniq('idle'));
    const started = Date.now();
    await Promise.all(names.map((name) => create({ name, prepare: seed, accessor: { enabled: true } })));
    await Promise.all(names.map((n) => until(n, (s) => s.phase === 'Ready', 'ready', 120_000)));
    await new Promise((r) => setTimeout(r, 3000)); // let the last status writes land
    const lifecycle = auditWrites(OPERATOR, started).filter((w) => w.objectRef?.resource !== 'leases' && names.some((n) => w.uri.includes(n) || !!w.objectRef?.name?.includes(n)));
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 10_000));
    // A forced resync (the service's period is 10 min): a second storage reconciler, as the
    // service's identity, with a 2 s period reconciles every cached storage at start and again on
    // each tick; level-triggered, it must find nothing to change.
    const kc = new KubeConfig();
    kc.loadFromFile(testEnv().kubeconfig);
    const cache = new ClusterCache(kc);
    cache.start();
    await cache.waitForSync();
    const resyncing = new StorageController(new Kube(kc), cache, new EventRecorder(new Kube(kc)), { resyncMs: 2000, ttlSecondsAfterFinished: 3600, activeDeadlineSeconds: 300 });
    resyncing.start();
    await new Promise((r) => setTimeout(r, 7000));
    resyncing.stop();
    cache.stop();
    // Positive control: the resyncs really ran (start + at least two periods over these storages).
    expect(resyncing.queue.stats.processed).toBeGreaterThanOrEqual(names.length * 3);
    await auditBarrier();
    const idle = auditWrites(OPERATOR, since).filter((w) => w.objectRef?.resource !== 'leases' && names.some((n) => w.uri.includes(n) || !!w.objectRef?.name?.includes(n)));
    expect(idle).toEqual([]);
    // Writes per storage lifecycle (create → Ready with accessor), reported in the issue note.
    // Writes refused with 409 (a stale read under load) are counted apart: they change nothing.
    const done = lifecycle.filter((w) => (w.code ?? 0) < 400);
    const perStorage = done.length / names.length;
    console.log(
      `writes per storage lifecycle (create to Ready with accessor, service identity): ${perStorage.toFixed(1)} accepted, ` +
        `${((lifecycle.length - done.length) / names.length).toFixed(1)} refused`,
    );
    expect(perStorage).toBeLessThan(20);
  }, 240_000);
});
