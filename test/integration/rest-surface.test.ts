/**
 * The /api/v1 surface as curl users meet it: the envelope for every answer, 4xx (never 500) for
 * malformed JSON, wrong types, unknown routes and methods, with nothing written to the cluster;
 * checks in the contract's order; reads follow writes.
 */
import { describe, expect, it } from 'vitest';
import { rest } from '../support/http';
import { auditBarrier, auditWrites, testEnv, uniq } from '../support/env';

const NS = 'runtime-instance';

async function raw(method: string, path: string, body?: string, contentType = 'application/json') {
  const res = await fetch(testEnv().url + path, { method, headers: body === undefined ? {} : { 'content-type': contentType }, body });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { data?: unknown; error?: { code: string; message: string; field?: string } } };
}

describe('REST envelope and errors', () => {
  it('answers health in the envelope with the contract fields', async () => {
    const r = await rest('GET', '/api/v1/health');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body!.data).sort()).toEqual(expect.arrayContaining(['activeUnitCount', 'kubernetesConnected', 'nodeCount', 'startedAt', 'stockUnitCount', 'uptimeSeconds']));
    expect(r.body!.data.kubernetesConnected).toBe(true);
    expect(r.body!.data.nodeCount).toBeGreaterThanOrEqual(4);
  });

  it('rejects bad input with 4xx in the envelope, naming the field, and writes nothing', async () => {
    const since = Date.now();
    const cases: [string, string, string | undefined, number, string, string?][] = [
      ['POST', '/api/v1/gpu-storages', '{"name":"x",', 400, 'invalid_request'],
      ['POST', '/api/v1/gpu-storages', '[1,2,3]', 400, 'invalid_request', 'body'],
      ['POST', '/api/v1/gpu-storages', '"just a string"', 400, 'invalid_request'],
      ['POST', '/api/v1/gpu-storages', JSON.stringify({ name: 42, size: '1Gi' }), 400, 'invalid_request', 'name'],
      ['POST', '/api/v1/gpu-storages', JSON.stringify({ name: 'ok-name', size: 20 }), 400, 'invalid_request', 'size'],
      ['POST', '/api/v1/gpu-storages', JSON.stringify({ name: 'ok-name', size: '0' }), 400, 'invalid_request', 'size'],
      ['POST', '/api/v1/gpu-storages', JSON.stringify({ name: 'ok-name', size: '1Gi', namespace: 'Bad_NS' }), 400, 'invalid_request', 'namespace'],
      ['POST', '/api/v1/gpu-storages', JSON.stringify({ name: 'ok-name', size: '1Gi', namespace: 'runtime-stock' }), 400, 'invalid_request', 'namespace'],
      ['POST', '/api/v1/gpu-storages', JSON.stringify({ name: 'ok-name', size: '1Gi', prepare: { fromImage: 'busybox' } }), 400, 'invalid_request', 'prepare'],
      ['POST', '/api/v1/gpu-storages', JSON.stringify({ name: 'ok-name', size: '1Gi', prepare: { fromStorageName: 'src', args: ['x'] } }), 400, 'invalid_request', 'prepare'],
      ['POST', '/api/v1/gpu-storages', JSON.stringify({ name: 'ok-name', size: '1Gi', prepare: { fromImage: 'busybox', command: 'sh' } }), 400, 'invalid_request', 'prepare.command'],
      ['POST', '/api/v1/gpu-storages', JSON.stringify({ name: 'ok-name', size: '1Gi', accessor: { enabled: 'yes' } }), 400, 'invalid_request', 'accessor.enabled'],
      ['POST', '/api/v1/gpu-storages', JSON.stringify({ name: 'ok-name', size: '1Gi', storageClassName: 'no-such-class' }), 400, 'invalid_request', 'storageClassName'],
      ['PUT', '/api/v1/gpu-storages/whatever', '{bad', 400, 'invalid_request'],
      ['POST', '/api/v1/gpu-units', '{"name":', 400, 'invalid_request'],
      ['POST', '/api/v1/operator/stock-units', '{}', 400, 'invalid_request'],
      ['GET', '/api/v1/gpu-storages/x?namespace=NOT_VALID', undefined, 400, 'invalid_request', 'namespace'],
      ['GET', '/api/v1/nothing-here', undefined, 404, 'not_found'],
      ['DELETE', '/api/v1/gpu-units/BAD!', undefined, 400, 'invalid_request', 'name'],
      ['GET', '/api/v1/gpu-storages/Not_A_Name', undefined, 400, 'invalid_request', 'name'],
      // A body-less POST with Content-Type application/json is no body, not malformed JSON.
      ['POST', '/api/v1/gpu-storages/x/recover?namespace=runtime-instance', '', 404, 'gpustorage_not_found'],
      ['PATCH', '/api/v1/gpu-storages/x', '{}', 405, 'method_not_allowed'],
      ['DELETE', '/api/v1/gpu-storages', undefined, 405, 'method_not_allowed'],
    ];
    for (const [method, path, body, status, code, field] of cases) {
      const r = await raw(method, path, body);
      expect(r.status, `${method} ${path} ${body}: ${JSON.stringify(r.body)}`).toBe(status);
      expect(r.body.error?.code, `${method} ${path} ${body}`).toBe(code);
      expect(r.body.error?.message.length).toBeGreaterThan(0);
      if (field) expect(r.body.error?.field, `${method} ${path} ${body}`).toBe(field);
    }
    const wrongType = await raw('POST', '/api/v1/gpu-storages', 'name=x', 'application/x-www-form-urlencoded');
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.error?.message).toMatch(/application\/json/);
    const unknown = await raw('POST', '/api/v1/gpu-storages', JSON.stringify({ name: 'typo', size: '1Gi', acessor: { enabled: true } }));
    expect(unknown.status).toBe(400);
    expect(unknown.body.error?.field).toBe('acessor');
    const big = await raw('POST', '/api/v1/gpu-storages', JSON.stringify({ name: 'big', size: '1Gi', pad: 'x'.repeat(2 << 20) }));
    expect(big.status).toBe(413);
    expect(big.body.error?.code).toBe('invalid_request');
    expect(big.body.error?.message).toMatch(/limit of \d+ bytes/);
    const allow = await raw('PATCH', '/api/v1/gpu-storages/x', '{}');
    expect(allow.headers.get('allow')).toMatch(/GET/);
    await auditBarrier();
    // Only the names these requests carry: the controllers may still be writing status for
    // objects an earlier test file left behind.
    const named = new Set(['x', 'ok-name', 'typo', 'big', 'whatever', 'src', 'missing', 'BAD!', 'Not_A_Name']);
    const ours = auditWrites(testEnv().operatorUser, since).filter(
      (w) => ['gpustorages', 'gpuunits', 'gpuoperations'].includes(w.objectRef?.resource ?? '') && (!w.objectRef?.name || named.has(w.objectRef.name)),
    );
    expect(ours).toEqual([]);
  });

  it('runs checks in the contract order: validity, then existence, then conflicts', async () => {
    // Invalid and naming a missing source: validity answers first.
    const a = await rest('POST', '/api/v1/gpu-storages', { name: 'Bad_Name', size: '1Gi', prepare: { fromStorageName: 'missing' } });
    expect(a.status).toBe(400);
    expect(a.body?.error?.field).toBe('name');
    // Valid, missing source, and a name that already exists: existence (400 for a clone source) before the conflict.
    const name = uniq('order');
    expect((await rest('POST', '/api/v1/gpu-storages', { name, namespace: NS, size: '1Gi' })).status).toBe(201);
    const b = await rest('POST', '/api/v1/gpu-storages', { name, namespace: NS, size: '1Gi', prepare: { fromStorageName: uniq('missing') } });
    expect(b.status).toBe(400);
    expect(b.body?.error?.field).toBe('prepare.fromStorageName');
    const c = await rest('POST', '/api/v1/gpu-storages', { name, namespace: NS, size: '1Gi' });
    expect(c.status).toBe(409);
    expect(c.body?.error?.code).toBe('operation_conflict');
    // 1.5Gi is a whole number of bytes: accepted by the service and by the CRD alike.
    const fractional = await rest('POST', '/api/v1/gpu-storages', { name: uniq('onefive'), namespace: NS, size: '1.5Gi' });
    expect(fractional.status, JSON.stringify(fractional.body)).toBe(201);
    // Reads follow writes: the list right after create shows it; GET right after DELETE is 404.
    const list = await rest('GET', `/api/v1/gpu-storages?namespace=${NS}`);
    expect((list.body!.data as { name: string }[]).some((s) => s.name === name)).toBe(true);
    expect((await rest('DELETE', `/api/v1/gpu-storages/${name}?namespace=${NS}`)).status).toBe(204);
    expect((await rest('GET', `/api/v1/gpu-storages/${name}?namespace=${NS}`)).status).toBe(404);
    expect((await rest('DELETE', `/api/v1/gpu-storages/${name}?namespace=${NS}`)).status).toBe(404);
  });
});
