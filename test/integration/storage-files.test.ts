/**
 * Browsing a storage's files through the API (src/service/storage-files.ts) on the shared cluster,
 * whose pods are simulated: the answers that need no accessor to serve. In the contract's order,
 * 403 (no `get` on the storage) before 400 (a hostile path) before 404 (no such storage) before 409
 * (accessor off, or not Ready). The bytes themselves are read on the real node
 * (test/node/real-node.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { rawGet, rest, gql } from '../support/http';
import { kubectl, serviceAccountToken, testEnv, uniq } from '../support/env';
import { NS } from '../support/units';
import { HOSTILE_PATHS } from '../support/hostile-paths';

const FILES = `query($name: String!, $path: String!) { storage(name: $name) { files(path: $path) { edges { node { name } } } } }`;
const FILE = `query($name: String!, $path: String!) { storage(name: $name) { file(path: $path) { size head } } }`;

/** Dot segments raw (rawGet sends the path as written), the rest percent-encoded. */
function encodeForUrl(p: string): string {
  return p
    .replace(/^\//, '')
    .split('/')
    .map((seg) => (/^\.+$/.test(seg) ? seg : encodeURIComponent(seg)))
    .join('/');
}

describe('storage files through the API', () => {
  it('answers 409 while the accessor is off or not Ready, 404 for an unknown storage or file path of one', async () => {
    const name = uniq('files-off');
    expect((await rest('POST', '/api/v1/gpu-storages', { name, namespace: NS, size: '1Gi' })).status).toBe(201);
    const off = await rest('GET', `/api/v1/gpu-storages/${name}/files/model/README.txt?namespace=${NS}`);
    expect(off.status).toBe(409);
    expect(off.body?.error?.code).toBe('operation_conflict');
    expect(off.body?.error?.message).toContain('accessor');
    const list = await rest('GET', `/api/v1/gpu-storages/${name}/files?namespace=${NS}`);
    expect(list.status).toBe(409);
    const g = await gql<any, any>(FILES, { name, path: '/' });
    expect(g.errors?.[0]?.extensions?.code).toBe('OPERATION_CONFLICT');
    const f = await gql<any, any>(FILE, { name, path: '/model/README.txt' });
    expect(f.errors?.[0]?.extensions?.code).toBe('OPERATION_CONFLICT');

    const missing = await rest('GET', `/api/v1/gpu-storages/${uniq('nope')}/files/a?namespace=${NS}`);
    expect(missing.status).toBe(404);
    expect(missing.body?.error?.code).toBe('gpustorage_not_found');
    expect((await rest('DELETE', `/api/v1/gpu-storages/${name}?namespace=${NS}`)).status).toBe(204);
  });

  it('refuses every hostile path with 400 before looking anything up (REST and GraphQL)', async () => {
    const name = uniq('files-hostile');
    expect((await rest('POST', '/api/v1/gpu-storages', { name, namespace: NS, size: '1Gi' })).status).toBe(201);
    for (const p of HOSTILE_PATHS) {
      const r = await rawGet(testEnv().url, `/api/v1/gpu-storages/${name}/files/${encodeForUrl(p)}?namespace=${NS}`);
      expect(r.status, `REST ${JSON.stringify(p)}: ${r.body}`).toBe(400);
      expect(JSON.parse(r.body).error.code).toBe('invalid_request');
      const q = await gql<any, any>(FILES, { name, path: p });
      expect(q.errors?.[0]?.extensions?.code, `GraphQL files ${JSON.stringify(p)}`).toBe('INVALID_REQUEST');
      const q2 = await gql<any, any>(FILE, { name, path: p });
      expect(q2.errors?.[0]?.extensions?.code, `GraphQL file ${JSON.stringify(p)}`).toBe('INVALID_REQUEST');
    }
    expect((await rest('DELETE', `/api/v1/gpu-storages/${name}?namespace=${NS}`)).status).toBe(204);
  });

  it('asks the caller for get on the storage first: 403 even for a hostile path', async () => {
    const sa = uniq('files-nobody');
    await kubectl('create', 'serviceaccount', sa, '-n', NS);
    const token = await serviceAccountToken(NS, sa);
    const r = await rawGet(testEnv().url, `/api/v1/gpu-storages/whatever/files/../etc/passwd?namespace=${NS}`, { authorization: `Bearer ${token}` });
    expect(r.status, r.body).toBe(403);
    expect(JSON.parse(r.body).error.code).toBe('forbidden');
    await kubectl('delete', 'serviceaccount', sa, '-n', NS);
  });
});
