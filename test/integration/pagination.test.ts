/**
 * Stable pagination against the service under test: GraphQL connections (keyset cursors) and the
 * REST lists (`limit`/`continue`, `metadata.continue` beside `data`), walked page by page while
 * storages are created and deleted between two requests: every storage that exists during the
 * whole walk is seen exactly once.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { StoragePageDocument } from '../graphql/generated/graphql';
import { gql, rest } from '../support/http';
import { createTenantNamespace, uniq } from '../support/env';

const ns = uniq('page');
/** p00, p02, …, p22: the storages that exist during the whole walk. */
const stable = Array.from({ length: 12 }, (_, i) => `p${String(i * 2).padStart(2, '0')}`);

async function createStorage(name: string): Promise<void> {
  const r = await rest('POST', '/api/v1/gpu-storages', { name, namespace: ns, size: '1Gi' });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}
async function deleteStorage(name: string): Promise<void> {
  const r = await rest('DELETE', `/api/v1/gpu-storages/${name}?namespace=${ns}`);
  expect(r.status, JSON.stringify(r.body)).toBe(204);
}

type ListBody = { data: { name: string }[]; metadata?: { continue?: string; remainingItemCount?: number } };

describe('stable pagination', () => {
  beforeAll(async () => {
    await createTenantNamespace(ns);
    await Promise.all(stable.map(createStorage));
  });

  it('GraphQL: first/after never repeats or skips a storage while others are created (ahead of and behind the cursor) and deleted', async () => {
    const seen: string[] = [];
    let after: string | null | undefined;
    const extra: string[] = [];
    for (let page = 0; page < 30; page++) {
      const r = await gql(StoragePageDocument, { namespace: ns, first: 3, after });
      expect(r.errors).toBeUndefined();
      const c = r.data!.storages;
      seen.push(...c.edges.map((e) => e.node.name));
      // Between two requests: one storage behind the cursor, one ahead of it, and one of them deleted again.
      const behind = `a${page}g`; // "a…" sorts before every "p…"
      const ahead = `z${page}`;
      await createStorage(behind);
      await createStorage(ahead);
      extra.push(behind, ahead);
      if (page % 2 === 1) await deleteStorage(extra.shift()!);
      if (!c.pageInfo.hasNextPage) break;
      expect(c.edges).toHaveLength(3);
      after = c.pageInfo.endCursor;
    }
    const stableSeen = seen.filter((n) => n.startsWith('p'));
    const count = await gql(StoragePageDocument, { namespace: ns, first: 1 });
    expect(count.data!.storages.totalCount).toBe(stable.length + extra.length);
    expect(stableSeen).toEqual(stable);
    expect(new Set(seen).size).toBe(seen.length);
    // Created behind the cursor: never seen; created ahead of it: seen once the walk got there.
    expect(seen.some((n) => n.startsWith('a'))).toBe(false);
    expect(seen.filter((n) => n.startsWith('z')).length).toBeGreaterThan(0);
    for (const n of extra) await deleteStorage(n);
  });

  it('REST: limit and continue page like the Kubernetes API, metadata beside data; no limit: the whole list', async () => {
    const whole = await rest<ListBody['data']>('GET', `/api/v1/gpu-storages?namespace=${ns}`);
    expect(whole.status).toBe(200);
    const wholeBody = whole.body as unknown as ListBody;
    expect(wholeBody.data.map((s) => s.name)).toEqual(stable);
    expect(wholeBody.metadata).toEqual({});

    const seen: string[] = [];
    let cont: string | undefined;
    for (let page = 0; page < 30; page++) {
      const r = await rest('GET', `/api/v1/gpu-storages?namespace=${ns}&limit=5${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const body = r.body as unknown as ListBody;
      seen.push(...body.data.map((s) => s.name));
      // The existing fields of the view are still there for old scripts.
      expect(Object.keys(body.data[0]!)).toEqual(expect.arrayContaining(['name', 'namespace', 'mountedBy', 'phase', 'prepareStatus']));
      await createStorage(`a${page}r`);
      await createStorage(`z${page}r`);
      cont = body.metadata?.continue;
      if (!cont) break;
      expect(body.data).toHaveLength(5);
      expect(body.metadata?.remainingItemCount).toBeGreaterThan(0);
    }
    expect(seen.filter((n) => n.startsWith('p'))).toEqual(stable);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('refuses a bad limit, continue or cursor with 400 naming the parameter', async () => {
    for (const [query, field] of [
      ['limit=abc', 'limit'],
      ['limit=-1', 'limit'],
      ['limit=1.5', 'limit'],
      ['continue=not-a-token', 'continue'],
      ['continue=a&continue=b', 'continue'],
    ] as const) {
      const r = await rest('GET', `/api/v1/gpu-storages?namespace=${ns}&${query}`);
      expect(r.status, `${query}: ${JSON.stringify(r.body)}`).toBe(400);
      expect(r.body?.error).toMatchObject({ code: 'invalid_request', field });
      expect(r.body?.error?.message).toContain(field);
    }
    for (const path of ['/api/v1/gpu-units?limit=x', '/api/v1/operator/stock-units?continue=%%%']) {
      const r = await rest('GET', path);
      expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBe(400);
    }
    const bad = await gql(StoragePageDocument, { namespace: ns, first: 2, after: 'bm90IGEgY3Vyc29y' });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_REQUEST', field: 'after' });
    const negative = await gql(StoragePageDocument, { namespace: ns, first: -2 });
    expect(negative.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_REQUEST', field: 'first' });
  });
});
