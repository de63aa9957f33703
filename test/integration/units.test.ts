/**
 * GPUUnit through REST against the local cluster: consuming stock into an active unit (children,
 * env, labels, owner references, replay and conflicts), waiting on storage (StorageNotReady naming
 * it, no pod), exclusivity, update, delete (the storage stays), validation naming fields, claims
 * left by a crashed process, and the race of 20 creates for 10 stock units. Every outcome is read
 * back from the cluster as admin.
 */
import { describe, expect, it } from 'vitest';
import { adminKube, auditBarrier, auditWrites, eventually, testEnv, uniq } from '../support/env';
import { rest } from '../support/http';
import { NS, STOCK_NS, createStorage, seedReady, stockOf, unitBody, unitWhere, uniqSpec } from '../support/units';
import { R } from '../../src/kube/resources';
import type { GPUUnit } from '../../src/api/types';

const CLAIM = 'runtime.lokiwager.io/stock-claim-id';
const CLAIMED_AT = 'runtime.lokiwager.io/stock-claimed-at';

async function activeUnitsFrom(stockNames: string[]): Promise<GPUUnit[]> {
  const list = await adminKube().list(R.unit, NS);
  return list.items.filter((u) => stockNames.includes(u.metadata.annotations?.['runtime.lokiwager.io/source-stock-name'] ?? ''));
}

describe('GPUUnit', () => {
  it('consumes the oldest Ready stock unit into an active unit with Deployment and Service unit-<name>; replays and conflicts', async () => {
    const specName = uniqSpec();
    const { names: stock } = await seedReady(specName, 2, { memory: '2Gi', gpu: 1 });
    const name = uniq('demo');
    const body = unitBody(name, specName, {
      access: { primaryPort: 'http', scheme: 'http' },
      template: { command: ['python'], args: ['-m', 'http.server', '8080'], envs: [{ name: 'MODE', value: 'demo' }], ports: [{ name: 'http', port: 8080 }] },
      memory: '999Gi',
    });
    const t0 = Date.now() - 1000;
    const created = await rest('POST', '/api/v1/gpu-units', body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const view = created.body!.data;
    expect(view).toMatchObject({ name, namespace: NS, lifecycle: 'instance', specName, image: 'python:3.12', memory: '2Gi', gpu: 1, sourceStockNamespace: STOCK_NS });
    expect(stock).toContain(view.sourceStockName);
    // GET right after the answer sees the unit (reads follow writes).
    expect((await rest('GET', `/api/v1/gpu-units/${name}?namespace=${NS}`)).status).toBe(200);

    const kube = adminKube();
    // The stock unit is gone; the other one remains, unclaimed.
    await eventually(async () => (await stockOf(specName)).length === 1, 'one stock unit left');
    const [left] = await stockOf(specName);
    expect(left!.metadata.name).not.toBe(view.sourceStockName);
    expect(left!.metadata.annotations?.[CLAIM]).toBeUndefined();

    const unit = await kube.get(R.unit, NS, name);
    expect(unit.metadata.annotations).toMatchObject({
      'runtime.lokiwager.io/operation-id': body.operationID,
      'runtime.lokiwager.io/source-stock-name': view.sourceStockName,
      'runtime.lokiwager.io/source-stock-namespace': STOCK_NS,
    });
    expect(unit.metadata.labels).toMatchObject({ 'runtime.lokiwager.io/unit': name, 'app.kubernetes.io/managed-by': 'gpu-runtime-operator' });

    const ready = await unitWhere(name, (u) => u.phase === 'Ready', 'unit Ready');
    expect(ready).toMatchObject({ readyReplicas: 1, serviceName: `unit-${name}`, accessURL: `http://unit-${name}.${NS}.svc.cluster.local:8080`, reason: 'UnitReady' });
    // Steady state writes nothing: no write by the service touches the unit or its children once Ready.
    const since = Date.now() + 500;
    await new Promise((r) => setTimeout(r, 3000)); // the window watched for writes
    await auditBarrier();
    const writes = auditWrites(testEnv().operatorUser, since).filter((w) => w.objectRef?.name === name || w.objectRef?.name === `unit-${name}`);
    expect(writes).toEqual([]);
    // (The audit log does see this service's writes: the Deployment and Service were applied.)
    expect(auditWrites(testEnv().operatorUser, t0).filter((w) => w.objectRef?.name === `unit-${name}`).length).toBeGreaterThanOrEqual(2);

    const dep = await kube.get(R.deployment, NS, `unit-${name}`);
    expect(dep.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: 'GPUUnit', name, controller: true, uid: unit.metadata.uid })]);
    const c = dep.spec!.template.spec!.containers[0]!;
    expect(c.env).toEqual([
      { name: 'SPEC_NAME', value: specName },
      { name: 'UNIT_NAME', value: name },
      { name: 'GPU_COUNT', value: '1' },
      { name: 'MEMORY_LIMIT', value: '2Gi' },
      { name: 'MODE', value: 'demo' },
    ]);
    expect(c.resources!.limits).toEqual({ memory: '2Gi', 'nvidia.com/gpu': '1' });
    expect(dep.spec!.template.metadata!.labels).toMatchObject({ 'runtime.lokiwager.io/unit': name, 'app.kubernetes.io/managed-by': 'gpu-runtime-operator' });
    const svc = await kube.get(R.service, NS, `unit-${name}`);
    expect(svc.spec!.ports).toEqual([expect.objectContaining({ name: 'http', port: 8080, targetPort: 'http' })]);
    expect(svc.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: 'GPUUnit', name, controller: true })]);

    // Replay: same operationID and payload → 200, the same unit, no second stock consumed.
    const replay = await rest('POST', '/api/v1/gpu-units', body);
    expect(replay.status).toBe(200);
    expect(replay.body!.data.uid).toBe(view.uid);
    expect(await stockOf(specName)).toHaveLength(1);
    // Same operationID, other payload → 409.
    const mismatch = await rest('POST', '/api/v1/gpu-units', { ...body, image: 'python:3.13' });
    expect(mismatch.status).toBe(409);
    expect(mismatch.body!.error!.code).toBe('operation_conflict');
    // Same name, new operationID → 409 (exists), and the last stock unit is untouched.
    const dup = await rest('POST', '/api/v1/gpu-units', unitBody(name, specName));
    expect(dup.status).toBe(409);
    expect(dup.body!.error!.code).toBe('operation_conflict');
    expect(await stockOf(specName)).toHaveLength(1);
    // The list shows active units only.
    const list = await rest('GET', `/api/v1/gpu-units?namespace=${NS}`);
    expect(list.body!.data.map((u: { name: string }) => u.name)).toContain(name);
    expect(list.body!.data.every((u: { lifecycle: string }) => u.lifecycle === 'instance')).toBe(true);

    // Capacity: spec without stock.
    const none = await rest('POST', '/api/v1/gpu-units', unitBody(uniq('nostock'), uniqSpec()));
    expect(none.status).toBe(409);
    expect(none.body!.error!.code).toBe('insufficient_capacity');
  });

  it('waits for mounted storage (StorageNotReady naming it, no pod), and runs once the mounts are Ready', async () => {
    const specName = uniqSpec();
    await seedReady(specName, 1);
    const broken = uniq('broken-data');
    await createStorage(broken, { prepare: { fromImage: 'example.invalid/fail:1', args: ['seed'] } });
    const name = uniq('waiter');
    const created = await rest('POST', '/api/v1/gpu-units', unitBody(name, specName, { storageMounts: [{ name: broken, mountPath: '/data' }] }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const waiting = await unitWhere(name, (u) => u.reason === 'StorageNotReady', 'StorageNotReady');
    expect(waiting.phase).toBe('Progressing');
    expect(waiting.message).toContain(broken);
    const kube = adminKube();
    const dep = await kube.get(R.deployment, NS, `unit-${name}`);
    expect(dep.spec!.replicas).toBe(0);
    const pods = await kube.list(R.pod, NS, `runtime.lokiwager.io/unit=${name}`);
    expect(pods.items).toHaveLength(0);
    // The storage view names the waiting unit as mounting it.
    expect((await rest('GET', `/api/v1/gpu-storages/${broken}?namespace=${NS}`)).body!.data.mountedBy).toEqual([name]);

    // Swap the mount for a storage whose prepare succeeds: the unit starts once it is Ready.
    const good = uniq('good-data');
    await createStorage(good, { prepare: { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: ['echo ok > /workspace/x'] } });
    const upd = await rest('PUT', `/api/v1/gpu-units/${name}?namespace=${NS}`, { storageMounts: [{ name: good, mountPath: '/data', readOnly: true }] });
    expect(upd.status, JSON.stringify(upd.body)).toBe(200);
    await unitWhere(name, (u) => u.phase === 'Ready', 'Ready once the storage is', 90_000);
    const running = await kube.get(R.deployment, NS, `unit-${name}`);
    expect(running.spec!.replicas).toBe(1);
    const spec = running.spec!.template.spec!;
    expect(spec.volumes).toEqual([{ name: 'storage-0', persistentVolumeClaim: { claimName: good, readOnly: true } }]);
    expect(spec.containers[0]!.volumeMounts).toEqual([{ name: 'storage-0', mountPath: '/data', readOnly: true }]);
  });

  it('mounts a storage in at most one active unit; update and delete; the storage stays and can then be deleted', async () => {
    const specName = uniqSpec();
    await seedReady(specName, 3);
    const data = uniq('shared');
    await createStorage(data, { waitReady: true });
    const a = uniq('owner');
    const b = uniq('rival');
    expect((await rest('POST', '/api/v1/gpu-units', unitBody(a, specName, { storageMounts: [{ name: data, mountPath: '/d' }] }))).status).toBe(201);
    const second = await rest('POST', '/api/v1/gpu-units', unitBody(b, specName, { storageMounts: [{ name: data, mountPath: '/d' }] }));
    expect(second.status).toBe(409);
    expect(second.body!.error!.code).toBe('operation_conflict');
    expect(second.body!.error!.message).toContain(a);
    expect(await stockOf(specName)).toHaveLength(2); // the refused create consumed nothing
    // b without the mount, then trying to add it by update.
    expect((await rest('POST', '/api/v1/gpu-units', unitBody(b, specName, { template: { ports: [{ name: 'web', port: 80 }] } }))).status).toBe(201);
    const steal = await rest('PUT', `/api/v1/gpu-units/${b}?namespace=${NS}`, { storageMounts: [{ name: data, mountPath: '/d' }] });
    expect(steal.status).toBe(409);
    // Storage still mounted: it cannot be deleted.
    expect((await rest('DELETE', `/api/v1/gpu-storages/${data}?namespace=${NS}`)).status).toBe(409);

    // Update: a bad image is stated as a pod failure; a good one recovers; ports and access change.
    const bad = await rest('PUT', `/api/v1/gpu-units/${b}?namespace=${NS}`, { image: 'example.invalid/fail:2' });
    expect(bad.status).toBe(200);
    expect(bad.body!.data.image).toBe('example.invalid/fail:2');
    const failed = await unitWhere(b, (u) => u.phase === 'Failed', 'Failed on ErrImagePull');
    expect(failed.reason).toBe('UnitPodFailed');
    expect(failed.message).toContain('ErrImagePull');
    const fixed = await rest('PUT', `/api/v1/gpu-units/${b}?namespace=${NS}`, {
      image: 'python:3.12',
      template: { ports: [{ name: 'web', port: 80 }, { name: 'api', port: 9000 }] },
      access: { primaryPort: 'api', scheme: 'grpc' },
    });
    expect(fixed.status, JSON.stringify(fixed.body)).toBe(200);
    const ok = await unitWhere(b, (u) => u.phase === 'Ready' && u.accessURL?.endsWith(':9000'), 'Ready with the new access');
    expect(ok.accessURL).toBe(`grpc://unit-${b}.${NS}.svc.cluster.local:9000`);
    const svc = await adminKube().get(R.service, NS, `unit-${b}`);
    expect(svc.spec!.ports!.map((p) => p.port)).toEqual([80, 9000]);
    const badAccess = await rest('PUT', `/api/v1/gpu-units/${b}?namespace=${NS}`, { access: { primaryPort: 'nope' } });
    expect(badAccess.status).toBe(400);
    expect(badAccess.body!.error!.field).toBe('access.primaryPort');
    expect((await rest('PUT', `/api/v1/gpu-units/${b}?namespace=${NS}`, { memory: '1Ti' })).body!.error!.field).toBe('memory');

    // Delete a: 204, then GET is 404 at once; the storage and its PVC stay; b may now mount it.
    expect((await rest('DELETE', `/api/v1/gpu-units/${a}?namespace=${NS}`)).status).toBe(204);
    const gone = await rest('GET', `/api/v1/gpu-units/${a}?namespace=${NS}`);
    expect(gone.status).toBe(404);
    expect(gone.body!.error!.code).toBe('gpuunit_not_found');
    expect((await rest('GET', `/api/v1/gpu-storages/${data}?namespace=${NS}`)).status).toBe(200);
    expect((await adminKube().get(R.pvc, NS, data)).metadata!.name).toBe(data);
    const mount = await rest('PUT', `/api/v1/gpu-units/${b}?namespace=${NS}`, { storageMounts: [{ name: data, mountPath: '/d' }] });
    expect(mount.status).toBe(200);
    expect(mount.body!.data.storageMounts).toEqual([{ name: data, mountPath: '/d', readOnly: false }]);
    // Unmount and delete b; the storage can be deleted right after its last unit is.
    expect((await rest('DELETE', `/api/v1/gpu-units/${b}?namespace=${NS}`)).status).toBe(204);
    expect((await rest('DELETE', `/api/v1/gpu-storages/${data}?namespace=${NS}`)).status).toBe(204);
    expect((await rest('DELETE', `/api/v1/gpu-units/${b}?namespace=${NS}`)).status).toBe(404);
  });

  it('answers bad input with 400 naming the field, validity before existence, and writes nothing', async () => {
    const specName = uniqSpec();
    const cases: [Record<string, unknown>, string][] = [
      [{ name: 'Bad_Name' }, 'name'],
      [{ template: { envs: [{ name: '9lives', value: 'x' }] } }, 'template.envs[0].name'],
      [{ template: { envs: [{ name: 'A' }, { name: 'A' }] } }, 'template.envs[1].name'],
      [{ template: { ports: [{ name: 'http', port: 70000 }] } }, 'template.ports[0].port'],
      [{ template: { ports: [{ name: 'http', port: 80 }, { name: 'http', port: 81 }] } }, 'template.ports[1].name'],
      [{ storageMounts: [{ name: 'x', mountPath: 'relative' }] }, 'storageMounts[0].mountPath'],
      [{ storageMounts: [{ name: 'x', mountPath: '/' }] }, 'storageMounts[0].mountPath'],
      [{ storageMounts: [{ name: 'x', mountPath: '/a' }, { name: 'y', mountPath: '/a' }] }, 'storageMounts[1].mountPath'],
      [{ access: { primaryPort: 'http' } }, 'access.primaryPort'],
      [{ namespace: 'runtime-stock' }, 'namespace'],
      [{ specName: 'g 1' }, 'specName'],
      // A missing storage is 400 too (existence), but an invalid field elsewhere answers first.
      [{ storageMounts: [{ name: 'no-such-storage', mountPath: '/a' }] }, 'storageMounts[0].name'],
      [{ storageMounts: [{ name: 'no-such-storage', mountPath: '/a' }], template: { ports: [{ name: 'p', port: 0 }] } }, 'template.ports[0].port'],
    ];
    for (const [extra, field] of cases) {
      const res = await rest('POST', '/api/v1/gpu-units', unitBody(uniq('bad'), specName, extra));
      expect(res.status, `${field}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body!.error).toMatchObject({ code: 'invalid_request', field });
    }
    const malformed = await rest('POST', '/api/v1/gpu-units', '{"name":');
    expect(malformed.status).toBe(400);
    expect(malformed.body!.error!.code).toBe('invalid_request');
    const list = await adminKube().list(R.unit, NS);
    expect(list.items.filter((u) => u.spec.specName === specName)).toHaveLength(0);
  });

  it('takes over a claim abandoned by a crashed process; a live claim keeps the stock unit out of reach', async () => {
    const specName = uniqSpec();
    const { names } = await seedReady(specName, 1);
    const kube = adminKube();
    const stockName = names[0]!;
    // A claim made just now by "another process": not consumable.
    await kube.patch(R.unit, STOCK_NS, stockName, { metadata: { annotations: { [CLAIM]: 'crashed-process', [CLAIMED_AT]: new Date().toISOString() } } }, 'merge');
    await eventually(async () => (await kube.get(R.unit, STOCK_NS, stockName)).metadata.annotations?.[CLAIM] === 'crashed-process', 'claim visible');
    await new Promise((r) => setTimeout(r, 300));
    const refused = await rest('POST', '/api/v1/gpu-units', unitBody(uniq('late'), specName));
    expect(refused.status).toBe(409);
    expect(refused.body!.error!.code).toBe('insufficient_capacity');
    // The claim ages past the bound (as if made two minutes ago): the unit controller releases it.
    await kube.patch(R.unit, STOCK_NS, stockName, { metadata: { annotations: { [CLAIMED_AT]: new Date(Date.now() - 120_000).toISOString() } } }, 'merge');
    await eventually(async () => (await kube.get(R.unit, STOCK_NS, stockName)).metadata.annotations?.[CLAIM] === undefined, 'abandoned claim released');
    const name = uniq('taker');
    const taken = await rest('POST', '/api/v1/gpu-units', unitBody(name, specName));
    expect(taken.status, JSON.stringify(taken.body)).toBe(201);
    expect(taken.body!.data.sourceStockName).toBe(stockName);
  });

  it('race: 20 concurrent creates for 10 Ready stock units → exactly 10 units and 10 insufficient_capacity; no stock consumed twice, none left claimed', async () => {
    const specName = uniqSpec();
    const { names: stock } = await seedReady(specName, 10);
    const names = Array.from({ length: 20 }, (_, i) => `${uniq('racer')}-${i}`);
    const answers = await Promise.all(names.map((n) => rest('POST', '/api/v1/gpu-units', unitBody(n, specName))));
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201), JSON.stringify(answers.map((a) => a.body?.error ?? a.status))).toHaveLength(10);
    expect(answers.filter((a) => a.status === 409 && a.body?.error?.code === 'insufficient_capacity')).toHaveLength(10);

    // From the cluster: 10 active units, each from a different stock unit of this batch.
    const made = await activeUnitsFrom(stock);
    expect(made).toHaveLength(10);
    const sources = made.map((u) => u.metadata.annotations!['runtime.lokiwager.io/source-stock-name']);
    expect(new Set(sources).size).toBe(10);
    expect(new Set(made.map((u) => u.metadata.annotations![CLAIM])).size).toBe(10);
    const winners = answers.filter((a) => a.status === 201).map((a) => a.body!.data.name).sort();
    expect(made.map((u) => u.metadata.name).sort()).toEqual(winners);
    // Every stock unit was consumed exactly once and is gone; nothing is left claimed.
    await eventually(async () => (await stockOf(specName)).length === 0, 'all 10 stock units deleted');
    const leftovers = (await adminKube().list(R.unit, STOCK_NS)).items.filter((u) => u.metadata.annotations?.[CLAIM] && !u.metadata.deletionTimestamp);
    expect(leftovers.filter((u) => u.spec.specName === specName)).toHaveLength(0);
  });

  it('a request that fails after claiming releases its claim (two creates of one name race for two stock units)', async () => {
    const specName = uniqSpec();
    await seedReady(specName, 2);
    const name = uniq('same');
    const answers = await Promise.all([rest('POST', '/api/v1/gpu-units', unitBody(name, specName)), rest('POST', '/api/v1/gpu-units', unitBody(name, specName))]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
    expect(answers.find((a) => a.status === 409)!.body!.error!.code).toBe('operation_conflict');
    const left = await eventually(async () => {
      const s = await stockOf(specName);
      return s.length === 1 ? s : undefined;
    }, 'one stock unit left');
    expect(left[0]!.metadata.annotations?.[CLAIM]).toBeUndefined();
    expect(left[0]!.metadata.annotations?.[CLAIMED_AT]).toBeUndefined();
  });
});
