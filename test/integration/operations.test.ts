/**
 * Stock seeding through REST against the local cluster: 202 then the operation's progress by
 * operationID; replay (200, same operation) and conflict (409); the stock units named, labelled
 * and annotated per the contract, each with a reservation Deployment holding the envelope; and the
 * record outliving the process that accepted it (read through fresh service instances).
 */
import { describe, expect, it } from 'vitest';
import { adminKube, eventually, kubectl, testEnv, uniq } from '../support/env';
import { rest } from '../support/http';
import { stockOf, STOCK_NS, uniqSpec } from '../support/units';
import { R } from '../../src/kube/resources';
import { sha256Hex } from '../../src/api/naming';
import { startApp } from '../../src/app';

describe('stock seeding operations', () => {
  it('accepts with 202, replays with 200, refuses another payload with 409, and succeeds once all units exist', async () => {
    const specName = uniqSpec();
    const operationID = uniq('stock-demo');
    const body = { operationID, specName, memory: '16Gi', gpu: 1, replicas: 2 };
    const first = await rest('POST', '/api/v1/operator/stock-units', body);
    expect(first.status).toBe(202);
    const batch = `stock-${specName.replace(/[._]/g, '-')}-${sha256Hex(operationID).slice(0, 10)}`;
    expect(first.body!.data).toMatchObject({ operationID, type: 'seed_stock_units', objectName: batch, objectNamespace: STOCK_NS });
    expect(['pending', 'running', 'succeeded']).toContain(first.body!.data.status);
    expect(first.body!.data.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);

    const replay = await rest('POST', '/api/v1/operator/stock-units', body);
    expect(replay.status).toBe(200);
    expect(replay.body!.data.id).toBe(first.body!.data.id);
    // The same memory written another way is the same payload.
    const sameValue = await rest('POST', '/api/v1/operator/stock-units', { ...body, memory: '16384Mi' });
    expect(sameValue.status).toBe(200);

    const other = await rest('POST', '/api/v1/operator/stock-units', { ...body, replicas: 3 });
    expect(other.status).toBe(409);
    expect(other.body!.error!.code).toBe('operation_conflict');

    const done = await eventually(async () => {
      const r = await rest('GET', `/api/v1/operator/jobs/${encodeURIComponent(operationID)}`);
      return r.body?.data?.status === 'succeeded' ? r.body.data : undefined;
    }, 'operation succeeded');
    expect(done.objects).toEqual([`${batch}-001`, `${batch}-002`]);
    expect(Date.parse(done.updatedAt)).toBeGreaterThanOrEqual(Date.parse(done.createdAt));
    expect(done.error).toBeUndefined();

    // The units, as the cluster has them.
    const kube = adminKube();
    const unit = await kube.get(R.unit, STOCK_NS, `${batch}-002`);
    expect(unit.spec).toMatchObject({ specName, memory: '16Gi', gpu: 1 });
    expect(unit.metadata.annotations).toMatchObject({
      'runtime.lokiwager.io/operation-id': operationID,
      'runtime.lokiwager.io/stock-replicas': '2',
      'runtime.lokiwager.io/stock-ordinal': '2',
    });
    expect(unit.metadata.annotations!['runtime.lokiwager.io/request-hash']).toMatch(/^[0-9a-f]{16}$/);
    expect(unit.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': 'gpu-runtime-unit', 'app.kubernetes.io/managed-by': 'gpu-runtime-operator', 'runtime.lokiwager.io/unit': `${batch}-002` });

    // Each is a reservation Deployment with the envelope, and becomes Ready when available.
    await eventually(async () => (await stockOf(specName)).every((u) => u.status?.phase === 'Ready'), 'stock Ready');
    const dep = await kube.get(R.deployment, STOCK_NS, `unit-${batch}-001`);
    const c = dep.spec!.template.spec!.containers[0]!;
    expect(c.image).toBe('registry.k8s.io/pause:3.10');
    expect(c.resources).toEqual({ requests: { memory: '16Gi', 'nvidia.com/gpu': '1' }, limits: { memory: '16Gi', 'nvidia.com/gpu': '1' } });
    expect(dep.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: 'GPUUnit', name: `${batch}-001`, controller: true })]);
    expect(dep.spec!.template.metadata!.labels).toMatchObject({ 'runtime.lokiwager.io/unit': `${batch}-001`, 'app.kubernetes.io/managed-by': 'gpu-runtime-operator' });

    // kubectl shows the record.
    const table = await kubectl('get', 'gpuoperations', '-n', STOCK_NS, done.id);
    expect(table).toMatch(new RegExp(`${done.id}\\s+${operationID}\\s+seed_stock_units\\s+succeeded`));

    // Health counts stock from the cache.
    const health = await rest('GET', '/api/v1/health');
    expect(health.body!.data.stockUnitCount).toBeGreaterThanOrEqual(2);
  });

  it('validates the request, naming the field; an unknown operationID is 404 job_not_found', async () => {
    const bad = await rest('POST', '/api/v1/operator/stock-units', { operationID: 'x', specName: 'g1.1', memory: 'lots', gpu: 1, replicas: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body!.error).toMatchObject({ code: 'invalid_request', field: 'memory' });
    const bad2 = await rest('POST', '/api/v1/operator/stock-units', { operationID: 'x', specName: 'g1.1', memory: '1Gi', gpu: 1, replicas: 0 });
    expect(bad2.body!.error).toMatchObject({ code: 'invalid_request', field: 'replicas' });
    const missing = await rest('GET', '/api/v1/operator/jobs/never-seen');
    expect(missing.status).toBe(404);
    expect(missing.body!.error!.code).toBe('job_not_found');
  });

  it('keeps the operation readable and carried out across service restarts', async () => {
    const env = testEnv();
    const specName = uniqSpec();
    const operationID = uniq('stock-restart');
    // A replica without controllers accepts the operation, then goes away before anything ran there.
    const accepting = await startApp({ kubeconfig: env.kubeconfig, port: 0, controllers: false, installPrerequisites: false });
    let accepted: Response;
    try {
      accepted = await fetch(`${accepting.url}/api/v1/operator/stock-units`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ operationID, specName, memory: '1Gi', gpu: 0, replicas: 3 }),
      });
    } finally {
      await accepting.close();
    }
    expect(accepted.status).toBe(202);
    // The leader (the global service) carries the durable record out…
    await eventually(async () => (await stockOf(specName)).length === 3, 'three stock units made by the leader');
    // …and a freshly started instance reads the outcome from the cluster.
    const fresh = await startApp({ kubeconfig: env.kubeconfig, port: 0, controllers: false, installPrerequisites: false });
    try {
      const view = await eventually(async () => {
        const r = await fetch(`${fresh.url}/api/v1/operator/jobs/${encodeURIComponent(operationID)}`);
        const b = (await r.json()) as { data?: { status: string; objects: string[] } };
        return b.data?.status === 'succeeded' ? b.data : undefined;
      }, 'succeeded through a fresh instance');
      expect(view.objects).toHaveLength(3);
      // Replaying against the fresh instance answers the same operation.
      const replay = await fetch(`${fresh.url}/api/v1/operator/stock-units`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ operationID, specName, memory: '1Gi', gpu: 0, replicas: 3 }),
      });
      expect(replay.status).toBe(200);
    } finally {
      await fresh.close();
    }
  });

  it('resumes an operation whose record exists but whose units were never made (a crash after accepting)', async () => {
    // A record written by hand, as a process that crashed right after accepting would leave it.
    const specName = uniqSpec();
    const { operationObjectName, requestHash } = await import('../../src/api/operation');
    const operationID = uniq('stock-crash');
    const request = { specName, memory: '1Gi', gpu: 0, replicas: 2 };
    await adminKube().create(R.operation, {
      apiVersion: 'runtime.lokiwager.io/v1alpha1',
      kind: 'GPUOperation',
      metadata: { name: operationObjectName(operationID), namespace: STOCK_NS },
      spec: { operationID, type: 'seed_stock_units', requestHash: requestHash(request), objectName: 'x', objectNamespace: STOCK_NS, request },
    });
    const units = await eventually(async () => {
      const u = await stockOf(specName);
      return u.length === 2 ? u : undefined;
    }, 'units of the hand-written record');
    expect(units.map((u) => u.metadata.annotations!['runtime.lokiwager.io/operation-id'])).toEqual([operationID, operationID]);
    const r = await eventually(async () => {
      const x = await rest('GET', `/api/v1/operator/jobs/${encodeURIComponent(operationID)}`);
      return x.body?.data?.status === 'succeeded' ? x.body.data : undefined;
    }, 'record succeeded');
    expect(r.objects).toHaveLength(2);
  });
});
