/**
 * Storage rules that involve running units (issue 3): a clone waits, naming the unit, while a
 * running unit mounts its source read-write, and read-only mounts do not block it; recover is
 * refused (409) while a running unit mounts the storage read-write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rest, restAt, type RestAnswer } from '../support/http';
import { adminKube, eventually, testEnv, uniq } from '../support/env';
import { startApp, type App } from '../../src/app';
import { NS, createStorage, seedReady, stockOf, uniqSpec, unitBody, unitWhere } from '../support/units';
import { ANNOTATIONS } from '../../src/api/constants';
import { R } from '../../src/kube/resources';
import type { StorageView } from '../../src/service/storage';

const seed = { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: ['echo seeded > /workspace/README.txt'] };

async function storage(name: string): Promise<StorageView> {
  return (await rest<StorageView>('GET', `/api/v1/gpu-storages/${name}?namespace=${NS}`)).body!.data!;
}

/** Exactly one answer is 201 and the others 409 operation_conflict; one unit carries `operationID`. */
async function expectOneUnitOfOperation(operationID: string, answers: RestAnswer[]): Promise<void> {
  const outcome = answers.map((a) => (a.status === 201 ? '201' : `${a.status}:${a.body?.error?.code}`)).sort();
  expect(outcome, JSON.stringify(answers.map((a) => a.body))).toEqual(['201', ...Array(answers.length - 1).fill('409:operation_conflict')]);
  const units = await adminKube().list(R.unit, NS);
  expect(units.items.filter((u) => u.metadata.annotations?.[ANNOTATIONS.operationID] === operationID)).toHaveLength(1);
}

describe('storage and running units', () => {
  it('a clone waits while a running unit writes to its source; recover of the source is refused; both proceed once the unit goes', async () => {
    const spec = uniqSpec();
    await seedReady(spec, 1);
    const src = uniq('written');
    await createStorage(src, { prepare: seed, waitReady: true });
    const unit = uniq('writer');
    const created = await rest('POST', '/api/v1/gpu-units', unitBody(unit, spec, { storageMounts: [{ name: src, mountPath: '/data' }] }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await unitWhere(unit, (u) => u.phase === 'Ready', 'unit Ready');

    const rec = await rest('POST', `/api/v1/gpu-storages/${src}/recover?namespace=${NS}`);
    expect(rec.status).toBe(409);
    expect(rec.body?.error?.message).toContain(unit);

    const copy = uniq('copy');
    expect((await rest('POST', '/api/v1/gpu-storages', { name: copy, namespace: NS, size: '1Gi', prepare: { fromStorageName: src } })).status).toBe(201);
    const waiting = await eventually(async () => {
      const s = await storage(copy);
      return /SourceInUse/.test(s.prepareStatus.message ?? '') ? s : undefined;
    }, 'clone waits for the writer');
    expect(waiting.prepareStatus.message).toContain(unit);
    expect(waiting.phase).toBe('Pending');

    // Rolling the unit's pod (new image) leaves a gap between the old pod and the new one: the
    // clone must keep waiting through it.
    expect((await rest('PUT', `/api/v1/gpu-units/${unit}?namespace=${NS}`, { image: 'python:3.13' })).status).toBe(200);
    await unitWhere(unit, (u) => u.image === 'python:3.13' && u.phase === 'Ready', 'unit rolled');
    await new Promise((r) => setTimeout(r, 3000));
    const still = await storage(copy);
    expect(still.prepareStatus.jobName).toBeUndefined();
    expect(still.prepareStatus.message).toMatch(/SourceInUse/);

    expect((await rest('DELETE', `/api/v1/gpu-units/${unit}?namespace=${NS}`)).status).toBe(204);
    await eventually(async () => (await storage(copy)).phase === 'Ready', 'clone proceeds once the unit is gone', 90_000);
    expect((await rest('POST', `/api/v1/gpu-storages/${src}/recover?namespace=${NS}`)).status).toBe(200);
  });

  it('a read-only mount does not block a clone', async () => {
    const spec = uniqSpec();
    await seedReady(spec, 1);
    const src = uniq('shared');
    await createStorage(src, { prepare: seed, waitReady: true });
    const unit = uniq('reader');
    const created = await rest('POST', '/api/v1/gpu-units', unitBody(unit, spec, { storageMounts: [{ name: src, mountPath: '/data', readOnly: true }] }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await unitWhere(unit, (u) => u.phase === 'Ready', 'unit Ready');
    const copy = uniq('copy');
    expect((await rest('POST', '/api/v1/gpu-storages', { name: copy, namespace: NS, size: '1Gi', prepare: { fromStorageName: src } })).status).toBe(201);
    await eventually(async () => (await storage(copy)).phase === 'Ready', 'clone Ready while the reader runs');
    expect((await rest('DELETE', `/api/v1/gpu-units/${unit}?namespace=${NS}`)).status).toBe(204);
  });

  it('two concurrent updates adding one storage never both keep it', async () => {
    const spec = uniqSpec();
    await seedReady(spec, 2);
    const [u1, u2] = [uniq('upd-a'), uniq('upd-b')];
    for (const u of [u1, u2]) expect((await rest('POST', '/api/v1/gpu-units', unitBody(u, spec))).status).toBe(201);
    for (let round = 0; round < 3; round++) {
      const s = uniq('contested');
      expect((await rest('POST', '/api/v1/gpu-storages', { name: s, namespace: NS, size: '1Gi' })).status).toBe(201);
      const body = { storageMounts: [{ name: s, mountPath: '/data' }] };
      const answers = await Promise.all([u1, u2].map((u) => rest('PUT', `/api/v1/gpu-units/${u}?namespace=${NS}`, body)));
      // Exactly one update wins (two failures would pass a "<= 1" check and are wrong too).
      expect(answers.map((a) => a.status).sort(), JSON.stringify(answers.map((a) => a.body))).toEqual([200, 409]);
      const loser = answers.find((x) => x.status !== 200)!;
      expect(loser.body?.error?.code).toBe('operation_conflict');
      const winner = [u1, u2][answers.findIndex((x) => x.status === 200)]!;
      await eventually(async () => (await storage(s)).mountedBy.join() === winner, `${s} mounted by ${winner} only`);
      // Free the units for the next round.
      for (const u of [u1, u2]) await rest('PUT', `/api/v1/gpu-units/${u}?namespace=${NS}`, { storageMounts: [] });
    }
  });

  it('deleting a storage and creating a unit that mounts it, at once: never both succeed', async () => {
    const spec = uniqSpec();
    await seedReady(spec, 3);
    for (let round = 0; round < 3; round++) {
      const s = uniq('racy');
      expect((await rest('POST', '/api/v1/gpu-storages', { name: s, namespace: NS, size: '1Gi' })).status).toBe(201);
      const u = uniq('racer');
      const [del, made] = await Promise.all([
        rest('DELETE', `/api/v1/gpu-storages/${s}?namespace=${NS}`),
        rest('POST', '/api/v1/gpu-units', unitBody(u, spec, { storageMounts: [{ name: s, mountPath: '/data' }] })),
      ]);
      // Exactly one wins, whichever it is, and the loser is told why (never a 5xx, never both).
      const statuses = [del.status, made.status];
      expect(statuses.every((c) => c < 500), JSON.stringify([del.body, made.body])).toBe(true);
      expect([statuses[0] === 204, statuses[1] === 201].filter(Boolean), JSON.stringify([del.body, made.body])).toHaveLength(1);
      if (del.status === 204) expect([400, 404, 409]).toContain(made.status);
      else expect(del.body?.error?.code).toBe('operation_conflict');
      if (made.status === 201) expect((await rest('DELETE', `/api/v1/gpu-units/${u}?namespace=${NS}`)).status).toBe(204);
    }
  });

  it('concurrent creates of units mounting one storage: exactly one succeeds', async () => {
    const spec = uniqSpec();
    await seedReady(spec, 4);
    const s = uniq('one-owner');
    expect((await rest('POST', '/api/v1/gpu-storages', { name: s, namespace: NS, size: '1Gi' })).status).toBe(201);
    const answers = await Promise.all([0, 1, 2, 3].map(() => rest('POST', '/api/v1/gpu-units', unitBody(uniq('claimant'), spec, { storageMounts: [{ name: s, mountPath: '/data' }] }))));
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409]);
    await eventually(async () => (await storage(s)).mountedBy.length === 1, 'the one winner mounts the storage');
  });

  it('one operationID sent at once with different payloads: one 201, the rest operation_conflict (never capacity, never two units)', async () => {
    const spec = uniqSpec();
    await seedReady(spec, 3);
    const op = uniq('op-shared');
    // Different names, and the same name with different images.
    const bodies = [
      ...[0, 1, 2].map((i) => ({ ...unitBody(uniq(`multi${i}`), spec), operationID: op })),
      ...[0, 1, 2].map((i) => ({ ...unitBody('same-name-' + op.slice(-6), spec), operationID: op, image: `busybox:1.3${i}` })),
    ];
    const answers = await Promise.all(bodies.map((b) => rest('POST', '/api/v1/gpu-units', b)));
    await expectOneUnitOfOperation(op, answers);
  });

  it('twins and distinct requests racing for two stock units: both units are made, the twins answer as one request', async () => {
    const spec = uniqSpec();
    await seedReady(spec, 2);
    const twin = unitBody(uniq('twin'), spec);
    const distinct = [0, 1, 2, 3].map((i) => unitBody(uniq(`other${i}`), spec));
    const [twins, others] = await Promise.all([
      Promise.all(Array.from({ length: 10 }, () => rest('POST', '/api/v1/gpu-units', twin))),
      Promise.all(distinct.map((b) => rest('POST', '/api/v1/gpu-units', b))),
    ]);
    // Five contenders (the twin group and four others) for two stock units: the twin group may
    // win one or none, but it answers as one request, and both stock units are always used.
    const twinOutcome = twins.map((a) => (a.status === 409 ? `409:${a.body?.error?.code}` : a.status)).sort();
    const twinWon = twins.some((a) => a.status === 201);
    expect(twinOutcome, JSON.stringify(twins.map((a) => a.body))).toEqual(
      twinWon ? [200, 200, 200, 200, 200, 200, 200, 200, 200, 201] : Array(10).fill('409:insufficient_capacity'),
    );
    if (twinWon) expect(new Set(twins.map((a) => a.body?.data?.uid)).size).toBe(1);
    const made = others.filter((a) => a.status === 201);
    expect(made, JSON.stringify(others.map((a) => a.body))).toHaveLength(twinWon ? 1 : 2);
    expect(others.filter((a) => a.status !== 201).every((a) => a.status === 409 && a.body?.error?.code === 'insufficient_capacity')).toBe(true);
    expect(await stockOf(spec)).toHaveLength(0);
  });

  it('the same create sent eight times at once, the last stock unit each round: one 201 and seven 200 replays', async () => {
    const spec = uniqSpec();
    await seedReady(spec, 3);
    // Three rounds: each consumes one stock unit, the last round the last one; twins that lose
    // the claim (or arrive after the winner answered) must replay, never answer capacity.
    for (let round = 0; round < 3; round++) {
      const body = unitBody(uniq('twin'), spec);
      const answers = await Promise.all(Array.from({ length: 8 }, () => rest('POST', '/api/v1/gpu-units', body)));
      expect(answers.map((a) => a.status).sort(), JSON.stringify(answers.map((a) => a.body))).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
      expect(new Set(answers.map((a) => a.body?.data?.uid)).size).toBe(1);
    }
  });
});

describe('two replicas of the service', () => {
  let second: App;
  beforeAll(async () => {
    second = await startApp({ kubeconfig: testEnv().kubeconfig, port: 0, installPrerequisites: false });
  });
  afterAll(async () => {
    await second?.close();
  });
  const at = (i: number) => (i % 2 === 0 ? testEnv().url : second.url);

  it('one operationID with different payloads split across replicas: one unit, the rest operation_conflict', async () => {
    const spec = uniqSpec();
    await seedReady(spec, 4);
    const op = uniq('op-two');
    const answers = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => restAt(at(i), 'POST', '/api/v1/gpu-units', { ...unitBody(uniq(`rep${i}`), spec), operationID: op })));
    await expectOneUnitOfOperation(op, answers);
  });

  it('twins split across replicas with no stock: every one answers insufficient_capacity, promptly', async () => {
    const spec = uniqSpec(); // never seeded
    const body = unitBody(uniq('nostock'), spec);
    const started = Date.now();
    const answers = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => restAt(at(i), 'POST', '/api/v1/gpu-units', body)));
    expect(answers.map((a) => `${a.status}:${a.body?.error?.code}`), JSON.stringify(answers.map((a) => a.body))).toEqual(Array(6).fill('409:insufficient_capacity'));
    expect(Date.now() - started).toBeLessThan(9500); // twins follow the holder; a timeout would take 10 s (TWIN_WAIT_MS)
    const leases = await adminKube().list(R.lease, 'runtime-stock');
    expect(leases.items.filter((l) => l.metadata?.name?.startsWith('unit-op-'))).toEqual([]);
  });

  it('twins split across replicas with one stock unit: one 201, the rest 200 replays of the same unit', async () => {
    const spec = uniqSpec();
    await seedReady(spec, 1);
    const body = unitBody(uniq('twin2'), spec);
    const answers = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => restAt(at(i), 'POST', '/api/v1/gpu-units', body)));
    expect(answers.map((a) => a.status).sort(), JSON.stringify(answers.map((a) => a.body))).toEqual([200, 200, 200, 200, 200, 201]);
    expect(new Set(answers.map((a) => a.body?.data?.uid)).size).toBe(1);
    // The operationID's Lease is gone once the requests end.
    const leases = await adminKube().list(R.lease, 'runtime-stock');
    expect(leases.items.filter((l) => l.metadata?.name?.startsWith('unit-op-'))).toEqual([]);
  });
});
