/**
 * The storage domain of the GraphQL API against the local cluster: every query and mutation over
 * HTTP (typed documents from test/graphql/storage.graphql), their error cases as typed data
 * (ValidationError with `field`, NotFoundError, ConflictError) or, where the error is thrown,
 * with `extensions.code`; and every storage subscription over graphql-ws, including a storage
 * seen going Pending → Ready → DELETED.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CloneStorageDocument,
  CreateStorageDocument,
  DeleteStorageDocument,
  HealthDocument,
  NodeDocument,
  RecoverStorageDocument,
  StorageChangedDocument,
  StorageDocument,
  StorageNodeDocument,
  StoragePageDocument,
  StoragesChangedDocument,
  StoragesDocument,
  UpdateStorageDocument,
  type CreateStorageInput,
  type StorageChangedSubscription,
  type StoragesChangedSubscription,
} from '../graphql/generated/graphql';
import { gql, wsClient, type GraphQLAnswer } from '../support/http';
import { createTenantNamespace, eventually, testEnv, uniq } from '../support/env';
import { subscribe } from '../support/subscription';

const NS = 'runtime-instance';
const seed = { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: ['echo seeded > /workspace/README.txt'] };

/** createStorage that must succeed; returns the storage. */
async function create(input: CreateStorageInput) {
  const r = await gql(CreateStorageDocument, { input });
  expect(r.errors).toBeUndefined();
  const p = r.data!.createStorage;
  if (p.__typename !== 'CreateStorageSuccess') throw new Error(`createStorage failed: ${JSON.stringify(p)}`);
  return p.storage;
}

/** Polls the storage query until `pred` holds. */
async function storageWhen(namespace: string, name: string, pred: (s: NonNullable<Awaited<ReturnType<typeof readStorage>>>) => boolean, what: string) {
  return eventually(async () => {
    const s = await readStorage(namespace, name);
    return s && pred(s) ? s : undefined;
  }, what);
}

async function readStorage(namespace: string, name: string) {
  const r = await gql(StorageDocument, { namespace, name });
  expect(r.errors).toBeUndefined();
  return r.data!.storage;
}

/** Asserts a payload is the typed error `typename` and returns it. */
function expectError<T extends { __typename?: string }>(payload: T | undefined, typename: string, code: string, field?: string) {
  expect(payload, JSON.stringify(payload)).toMatchObject({ __typename: typename, code, ...(field !== undefined ? { field } : {}) });
  return payload as T & { message: string };
}

describe('GraphQL storage queries and mutations over HTTP', () => {
  it('health answers from the shared informers', async () => {
    const r = await gql(HealthDocument);
    expect(r.errors).toBeUndefined();
    expect(r.data!.health.kubernetesConnected).toBe(true);
    expect(r.data!.health.nodeCount).toBe(4);
    expect(r.data!.health.informers.every((i) => i.synced)).toBe(true);
    expect(r.data!.health.informers.map((i) => i.kind)).toEqual(expect.arrayContaining(['GPUStorage', 'GPUUnit']));
  });

  it('createStorage: plain storage becomes Ready; storage(...) reads it; node(id) resolves its global ID', async () => {
    const name = uniq('gql-plain');
    const s = await create({ name, namespace: NS, size: '1Gi' });
    expect(s).toMatchObject({ name, namespace: NS, size: '1Gi', storageClassName: 'rook-ceph-block', mountedBy: [], accessorEnabled: false, prepare: null });
    expect(s.prepareStatus.phase).toBe('NotRequested');
    expect(Buffer.from(s.id, 'base64').toString()).toBe(`Storage:${NS}/${name}`);

    const ready = await storageWhen(NS, name, (x) => x.phase === 'Ready', 'plain storage Ready');
    expect(ready.capacity).toBe('1Gi');
    expect(ready.conditions.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'StorageReady' });

    const node = await gql(StorageNodeDocument, { id: s.id });
    expect(node.errors).toBeUndefined();
    expect(node.data!.node).toMatchObject({ __typename: 'Storage', id: s.id, name, namespace: NS, phase: 'Ready' });

    const missingNode = await gql(NodeDocument, { id: Buffer.from(`Storage:${NS}/does-not-exist`).toString('base64') });
    expect(missingNode.errors).toBeUndefined();
    expect(missingNode.data!.node).toBeNull();

    // The default namespace is runtime-instance.
    const byDefault = await gql(StorageDocument, { name });
    expect(byDefault.data!.storage?.namespace).toBe(NS);
  });

  it('storage(...) is null for a missing storage and a thrown INVALID_REQUEST for a bad namespace', async () => {
    const missing = await gql(StorageDocument, { namespace: NS, name: 'no-such-storage' });
    expect(missing.errors).toBeUndefined();
    expect(missing.data!.storage).toBeNull();

    const bad = await gql(StorageDocument, { namespace: 'Not_A_Namespace', name: 'x' });
    expect(bad.errors).toHaveLength(1);
    expect(bad.errors![0]!.extensions).toMatchObject({ code: 'INVALID_REQUEST', field: 'namespace' });
    expect(bad.errors![0]!.message).toContain('DNS-1123 label');
  });

  it('node(id) resolves only well-formed IDs: extra path segments give null', async () => {
    const id = Buffer.from('Storage:runtime-instance/a/b').toString('base64');
    const res = await gql<{ node: unknown }, { id: string }>('query($id: ID!) { node(id: $id) { id } }', { id });
    expect(res.errors).toBeUndefined();
    expect(res.data?.node).toBeNull();
  });

  it('a variable of the wrong type is a 400 BAD_USER_INPUT naming the input field', async () => {
    const res = await fetch(`${testEnv().url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: 'mutation($input: CreateStorageInput!) { createStorage(input: $input) { __typename } }', variables: { input: { name: 'x', size: 5 } } }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as GraphQLAnswer<unknown>;
    expect(body.errors?.[0]?.message).toContain('"input.size"');
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('createStorage: validation errors are typed data naming the field; a duplicate is a ConflictError', async () => {
    const cases: [Partial<CreateStorageInput>, string][] = [
      [{ name: 'Bad_Name' }, 'name'],
      [{ size: '0' }, 'size'],
      [{ size: 'lots' }, 'size'],
      [{ namespace: 'runtime-stock' }, 'namespace'],
      [{ namespace: 'UPPER' }, 'namespace'],
      [{ storageClassName: 'no-such-class' }, 'storageClassName'],
      [{ prepare: { fromImage: 'busybox', fromStorageName: 'other', args: ['x'] } }, 'prepare'],
      [{ prepare: { fromImage: 'busybox' } }, 'prepare'],
      [{ prepare: { fromStorageName: 'other', command: ['cp'] } }, 'prepare'],
      [{ prepare: { fromImage: 'not an image', args: ['x'] } }, 'prepare.fromImage'],
    ];
    for (const [patch, field] of cases) {
      const r = await gql(CreateStorageDocument, { input: { name: uniq('gql-invalid'), namespace: NS, size: '1Gi', ...patch } });
      expect(r.errors, JSON.stringify(patch)).toBeUndefined();
      const e = expectError(r.data!.createStorage, 'ValidationError', 'INVALID_REQUEST', field);
      expect(e.message.length).toBeGreaterThan(0);
    }

    // Authorization comes before existence (contract order): the anonymous caller may not create
    // in a namespace nobody granted it, existing or not (test/integration/auth.test.ts shows the
    // 400 for a caller allowed cluster-wide).
    const missing = await gql(CreateStorageDocument, { input: { name: uniq('gql-invalid'), namespace: 'no-such-namespace', size: '1Gi' } });
    expect(missing.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(missing.errors?.[0]?.message).toContain('in the namespace "no-such-namespace"');

    const name = uniq('gql-dup');
    await create({ name, namespace: NS, size: '1Gi' });
    const dup = await gql(CreateStorageDocument, { input: { name, namespace: NS, size: '2Gi' } });
    expectError(dup.data!.createStorage, 'ConflictError', 'OPERATION_CONFLICT');
    expect((dup.data!.createStorage as { message: string }).message).toContain('already exists');
  });

  it('createStorage with prepare and accessor; recoverStorage; its refusals', async () => {
    const name = uniq('gql-prep');
    const s = await create({ name, namespace: NS, size: '1Gi', prepare: seed, accessor: { enabled: true } });
    expect(s.prepare).toMatchObject({ fromImage: seed.fromImage, command: seed.command, args: seed.args, fromStorageName: null });
    expect(s.accessorEnabled).toBe(true);

    // While the first attempt has not finished, a recover is refused.
    const running = await storageWhen(NS, name, (x) => !!x.prepareStatus.jobName, 'prepare Job started');
    if (running.prepareStatus.phase !== 'Succeeded') {
      const early = await gql(RecoverStorageDocument, { input: { namespace: NS, name } });
      expectError(early.data!.recoverStorage, 'ConflictError', 'OPERATION_CONFLICT');
    }
    const ready = await storageWhen(NS, name, (x) => x.phase === 'Ready', 'prepared storage with accessor Ready');
    expect(ready.prepareStatus.phase).toBe('Succeeded');
    expect(ready.accessorStatus).toMatchObject({ phase: 'Ready', serviceName: `storage-accessor-${name}`, accessURL: `http://storage-accessor-${name}.${NS}.svc.cluster.local:8080` });
    const firstDigest = ready.prepareStatus.observedDigest;

    const rec = await gql(RecoverStorageDocument, { input: { namespace: NS, name } });
    expect(rec.errors).toBeUndefined();
    expect(rec.data!.recoverStorage.__typename).toBe('RecoverStorageSuccess');
    const recovered = await storageWhen(NS, name, (x) => x.prepareStatus.recoveryPhase === 'Succeeded' && x.phase === 'Ready', 'recover attempt Succeeded');
    expect(recovered.prepareStatus.observedDigest).not.toBe(firstDigest);

    const plain = uniq('gql-noprep');
    await create({ name: plain, namespace: NS, size: '1Gi' });
    const noContract = await gql(RecoverStorageDocument, { input: { namespace: NS, name: plain } });
    expectError(noContract.data!.recoverStorage, 'ValidationError', 'INVALID_REQUEST', 'prepare');

    const missing = await gql(RecoverStorageDocument, { input: { namespace: NS, name: 'no-such-storage' } });
    expectError(missing.data!.recoverStorage, 'NotFoundError', 'GPUSTORAGE_NOT_FOUND');
  });

  it('updateStorage grows, toggles the accessor, and refuses shrink, fixed classes and missing storages', async () => {
    const name = uniq('gql-upd');
    await create({ name, namespace: NS, size: '1Gi' });
    await storageWhen(NS, name, (x) => x.phase === 'Ready', 'Ready before update');

    const grow = await gql(UpdateStorageDocument, { input: { namespace: NS, name, size: '2Gi' } });
    expect(grow.errors).toBeUndefined();
    const grown = grow.data!.updateStorage;
    if (grown.__typename !== 'UpdateStorageSuccess') throw new Error(JSON.stringify(grown));
    expect(grown.storage.size).toBe('2Gi');
    expect(grown.storage.accessorEnabled).toBe(false);

    const on = await gql(UpdateStorageDocument, { input: { namespace: NS, name, accessor: { enabled: true } } });
    const onP = on.data!.updateStorage;
    if (onP.__typename !== 'UpdateStorageSuccess') throw new Error(JSON.stringify(onP));
    // Only the given field changes.
    expect(onP.storage).toMatchObject({ size: '2Gi', accessorEnabled: true });
    await storageWhen(NS, name, (x) => x.accessorStatus.phase === 'Ready', 'accessor Ready');
    const off = await gql(UpdateStorageDocument, { input: { namespace: NS, name, accessor: { enabled: false } } });
    expect(off.data!.updateStorage.__typename).toBe('UpdateStorageSuccess');
    await storageWhen(NS, name, (x) => x.accessorStatus.phase === 'Disabled', 'accessor Disabled');

    const shrink = await gql(UpdateStorageDocument, { input: { namespace: NS, name, size: '1Gi' } });
    expect(expectError(shrink.data!.updateStorage, 'ValidationError', 'INVALID_REQUEST', 'size').message).toContain('never shrink');
    const badSize = await gql(UpdateStorageDocument, { input: { namespace: NS, name, size: '-3' } });
    expectError(badSize.data!.updateStorage, 'ValidationError', 'INVALID_REQUEST', 'size');

    const fixed = uniq('gql-fixed');
    await create({ name: fixed, namespace: NS, size: '1Gi', storageClassName: 'local-fixed' });
    const refused = await gql(UpdateStorageDocument, { input: { namespace: NS, name: fixed, size: '5Gi' } });
    expect(expectError(refused.data!.updateStorage, 'ValidationError', 'INVALID_REQUEST', 'size').message).toContain('local-fixed');

    const missing = await gql(UpdateStorageDocument, { input: { namespace: NS, name: 'no-such-storage', size: '5Gi' } });
    expectError(missing.data!.updateStorage, 'NotFoundError', 'GPUSTORAGE_NOT_FOUND');
  });

  it('cloneStorage copies a Ready source; the source cannot be deleted while the clone is unfinished; missing source is a ValidationError', async () => {
    const src = uniq('gql-src');
    await create({ name: src, namespace: NS, size: '3Gi', prepare: seed });
    await storageWhen(NS, src, (x) => x.phase === 'Ready', 'clone source Ready');

    const name = uniq('gql-clone');
    const r = await gql(CloneStorageDocument, { input: { name, namespace: NS, sourceName: src } });
    expect(r.errors).toBeUndefined();
    const p = r.data!.cloneStorage;
    if (p.__typename !== 'CloneStorageSuccess') throw new Error(JSON.stringify(p));
    expect(p.storage).toMatchObject({ name, size: '3Gi', prepare: { fromStorageName: src, fromImage: null } });

    // Immediately after create, the clone has not succeeded: the source is protected.
    const del = await gql(DeleteStorageDocument, { input: { namespace: NS, name: src } });
    expect(expectError(del.data!.deleteStorage, 'ConflictError', 'OPERATION_CONFLICT').message).toContain(name);

    const clone = await storageWhen(NS, name, (x) => x.phase === 'Ready', 'clone Ready');
    expect(clone.prepareStatus.phase).toBe('Succeeded');

    const missing = await gql(CloneStorageDocument, { input: { name: uniq('gql-orphan'), namespace: NS, sourceName: 'no-such-source' } });
    const e = expectError(missing.data!.cloneStorage, 'ValidationError', 'INVALID_REQUEST', 'sourceName');
    expect(e.message).toContain('no-such-source');

    const self = await gql(CloneStorageDocument, { input: { name: src, namespace: NS, sourceName: src } });
    expectError(self.data!.cloneStorage, 'ValidationError', 'INVALID_REQUEST', 'sourceName');

    const exists = await gql(CloneStorageDocument, { input: { name, namespace: NS, sourceName: src } });
    expectError(exists.data!.cloneStorage, 'ConflictError', 'OPERATION_CONFLICT');

    const badSize = await gql(CloneStorageDocument, { input: { name: uniq('gql-c'), namespace: NS, sourceName: src, size: 'big' } });
    expectError(badSize.data!.cloneStorage, 'ValidationError', 'INVALID_REQUEST', 'size');
  });

  it('deleteStorage answers the deleted global ID; reads follow; a second delete is NotFoundError', async () => {
    const name = uniq('gql-del');
    const s = await create({ name, namespace: NS, size: '1Gi' });
    const r = await gql(DeleteStorageDocument, { input: { namespace: NS, name } });
    expect(r.errors).toBeUndefined();
    const p = r.data!.deleteStorage;
    if (p.__typename !== 'DeleteStorageSuccess') throw new Error(JSON.stringify(p));
    expect(p.deleted).toEqual({ deletedId: s.id, namespace: NS, name });
    expect(await readStorage(NS, name)).toBeNull();
    const node = await gql(NodeDocument, { id: s.id });
    expect(node.data!.node).toBeNull();
    const again = await gql(DeleteStorageDocument, { input: { namespace: NS, name } });
    expectError(again.data!.deleteStorage, 'NotFoundError', 'GPUSTORAGE_NOT_FOUND');
    const bad = await gql(DeleteStorageDocument, { input: { namespace: 'Bad NS', name } });
    expectError(bad.data!.deleteStorage, 'ValidationError', 'INVALID_REQUEST', 'namespace');
  });

  describe('storages: namespace and phase filters, Relay pagination', () => {
    const ns = uniq('gql-list');
    const names = ['a', 'b', 'c', 'd', 'e'].map((l) => `${l}-${ns}`);
    const failing = `f-${ns}`;

    beforeAll(async () => {
      await createTenantNamespace(ns);
      for (const name of names) await create({ name, namespace: ns, size: '1Gi' });
      await create({ name: failing, namespace: ns, size: '1Gi', prepare: { fromImage: 'example.invalid/fail:1', args: ['x'] } });
      await eventually(async () => {
        const r = await gql(StoragesDocument, { namespace: ns, phase: 'Ready' });
        return r.data?.storages.edges.length === names.length;
      }, 'all plain storages Ready');
      await storageWhen(ns, failing, (x) => x.phase === 'Failed', 'failing storage Failed');
    });

    it('filters by namespace and phase', async () => {
      const all = await gql(StoragesDocument, { namespace: ns });
      expect(all.errors).toBeUndefined();
      expect(all.data!.storages.edges.map((e) => e.node.name)).toEqual([...names, failing]);
      expect(all.data!.storages.pageInfo.hasNextPage).toBe(false);

      const ready = await gql(StoragesDocument, { namespace: ns, phase: 'Ready' });
      expect(ready.data!.storages.edges.map((e) => e.node.name)).toEqual(names);
      const failed = await gql(StoragesDocument, { namespace: ns, phase: 'Failed' });
      expect(failed.data!.storages.edges.map((e) => e.node.name)).toEqual([failing]);
      expect(failed.data!.storages.edges[0]!.node.prepareStatus.lastFailure?.exitCode).toBe(1);
      const pending = await gql(StoragesDocument, { namespace: ns, phase: 'Pending' });
      expect(pending.data!.storages.edges).toEqual([]);

      // Without a namespace: every namespace.
      const everywhere = await gql(StoragePageDocument, { first: 1000 });
      const keys = everywhere.data!.storages.edges.map((e) => `${e.node.namespace}/${e.node.name}`);
      expect(keys).toEqual(expect.arrayContaining([`${ns}/${names[0]}`]));
      expect(keys.some((k) => k.startsWith(`${NS}/`))).toBe(true);

      const bad = await gql(StoragesDocument, { namespace: 'Bad.NS' });
      expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_REQUEST', field: 'namespace' });
    });

    it('pages forward with first/after and backward with last/before', async () => {
      const seen: string[] = [];
      let after: string | null | undefined;
      for (let page = 0; page < 10; page++) {
        const r = await gql(StoragePageDocument, { namespace: ns, first: 2, after });
        expect(r.errors).toBeUndefined();
        const c = r.data!.storages;
        seen.push(...c.edges.map((e) => e.node.name));
        expect(c.pageInfo.endCursor).toBe(c.edges.at(-1)?.cursor ?? null);
        if (!c.pageInfo.hasNextPage) break;
        expect(c.edges).toHaveLength(2);
        after = c.pageInfo.endCursor;
      }
      expect(seen).toEqual([...names, failing]);

      const tail = await gql(StoragePageDocument, { namespace: ns, last: 2 });
      expect(tail.data!.storages.edges.map((e) => e.node.name)).toEqual([names[4], failing]);
      expect(tail.data!.storages.pageInfo.hasPreviousPage).toBe(true);
      const before = await gql(StoragePageDocument, { namespace: ns, last: 2, before: tail.data!.storages.pageInfo.startCursor });
      expect(before.data!.storages.edges.map((e) => e.node.name)).toEqual([names[2], names[3]]);

      // Every node of a page resolves by its global ID.
      for (const e of tail.data!.storages.edges) {
        const n = await gql(NodeDocument, { id: e.node.id });
        expect(n.data!.node).toMatchObject({ __typename: 'Storage', name: e.node.name, namespace: ns });
      }
    });
  });
});

describe('GraphQL storage subscriptions over graphql-ws', () => {
  const client = wsClient();
  afterAll(() => client.dispose());

  it('storageChanged: a subscriber sees a storage go from Pending to Ready, then DELETED', async () => {
    const name = uniq('gql-sub');
    await create({ name, namespace: NS, size: '1Gi', prepare: seed });
    const sub = subscribe(client, StorageChangedDocument, { namespace: NS, name });
    try {
      const phase = (r: GraphQLAnswer<StorageChangedSubscription>) => r.data?.storageChanged.storage.phase;
      await sub.waitFor((rs) => rs.some((r) => phase(r) === 'Ready'), 'Ready');
      expect(sub.results.every((r) => !r.errors)).toBe(true);
      const first = sub.results[0]!.data!.storageChanged;
      expect(first.type).toBe('ADDED');
      expect(first.storage.phase).toBe('Pending');
      expect(sub.results.slice(1).every((r) => r.data!.storageChanged.type === 'MODIFIED')).toBe(true);
      // resourceVersions only move forward.
      const rvs = sub.results.map((r) => BigInt(r.data!.storageChanged.resourceVersion));
      expect(rvs).toEqual([...rvs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      expect(sub.results.every((r) => r.data!.storageChanged.resourceVersion === r.data!.storageChanged.storage.resourceVersion)).toBe(true);

      const del = await gql(DeleteStorageDocument, { input: { namespace: NS, name } });
      expect(del.data!.deleteStorage.__typename).toBe('DeleteStorageSuccess');
      await sub.waitFor((rs) => rs.some((r) => r.data?.storageChanged.type === 'DELETED'), 'DELETED');
      const last = sub.results.at(-1)!.data!.storageChanged;
      expect(last.type).toBe('DELETED');
      expect(last.storage.name).toBe(name);
      const phases = sub.results.map(phase).filter((p, i, a) => p !== a[i - 1]);
      expect(phases).toEqual(['Pending', 'Ready']);
    } finally {
      sub.stop();
    }
  });

  it('storageChanged sees updates made through the API (grow, accessor toggle) as MODIFIED', async () => {
    const name = uniq('gql-sub-upd');
    await create({ name, namespace: NS, size: '1Gi' });
    const sub = subscribe(client, StorageChangedDocument, { namespace: NS, name });
    try {
      await sub.waitFor((rs) => rs.length > 0, 'first event');
      await gql(UpdateStorageDocument, { input: { namespace: NS, name, size: '4Gi', accessor: { enabled: true } } });
      const rs = await sub.waitFor((x) => x.some((r) => r.data?.storageChanged.storage.size === '4Gi' && r.data.storageChanged.storage.accessorEnabled), 'grown with accessor');
      expect(rs.find((r) => r.data?.storageChanged.storage.size === '4Gi')!.data!.storageChanged.type).toMatch(/^(ADDED|MODIFIED)$/);
    } finally {
      sub.stop();
    }
  });

  it('storagesChanged(namespace): current state first, then creations and deletions of that namespace only', async () => {
    const ns = uniq('gql-subns');
    await createTenantNamespace(ns);
    const existing = `x-${ns}`;
    await create({ name: existing, namespace: ns, size: '1Gi' });
    const sub = subscribe(client, StoragesChangedDocument, { namespace: ns });
    const all = subscribe(client, StoragesChangedDocument, {});
    try {
      type R = GraphQLAnswer<StoragesChangedSubscription>;
      const ev = (r: R) => r.data?.storagesChanged;
      await sub.waitFor((rs) => rs.some((r) => ev(r)?.storage.name === existing), 'current state');
      expect(ev(sub.results[0]!)!.type).toBe('ADDED');

      const added = `y-${ns}`;
      await create({ name: added, namespace: ns, size: '1Gi' });
      await create({ name: uniq('gql-elsewhere'), namespace: NS, size: '1Gi' });
      await sub.waitFor((rs) => rs.some((r) => ev(r)?.storage.name === added && ev(r)!.storage.phase === 'Ready'), 'new storage Ready');
      await gql(DeleteStorageDocument, { input: { namespace: ns, name: added } });
      await sub.waitFor((rs) => rs.some((r) => ev(r)?.type === 'DELETED' && ev(r)!.storage.name === added), 'DELETED');
      expect(sub.results.every((r) => [existing, added].includes(ev(r)!.storage.name))).toBe(true);

      // Without a namespace: every namespace, starting with the current state of all of them.
      await all.waitFor((rs) => rs.some((r) => ev(r)?.storage.name === existing) && rs.some((r) => ev(r)?.storage.name.startsWith('gql-elsewhere')), 'all namespaces');
    } finally {
      sub.stop();
      all.stop();
    }
  });

  it('storageChanged also streams over yoga SSE (what curl uses), first event the current state', async () => {
    const name = uniq('gql-sse');
    await create({ name, namespace: NS, size: '1Gi' });
    const ac = new AbortController();
    const res = await fetch(`${testEnv().url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: `subscription { storageChanged(namespace: "${NS}", name: "${name}") { type storage { name size } } }` }),
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    const events = () => [...text.matchAll(/event: next\ndata: (.*)\n/g)].map((m) => JSON.parse(m[1]!) as { data: { storageChanged: { type: string; storage: { name: string; size: string } } } });
    try {
      while (events().length === 0) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      expect(events()[0]!.data.storageChanged).toEqual({ type: 'ADDED', storage: { name, size: '1Gi' } });
      await gql(UpdateStorageDocument, { input: { namespace: NS, name, size: '2Gi' } });
      while (!events().some((e) => e.data.storageChanged.storage.size === '2Gi')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      expect(events().at(-1)!.data.storageChanged).toEqual({ type: 'MODIFIED', storage: { name, size: '2Gi' } });
    } finally {
      ac.abort();
    }
  });

  it('a subscription with invalid arguments fails with extensions.code', async () => {
    const sub = subscribe(client, StorageChangedDocument, { namespace: 'Bad NS', name: 'x' });
    await sub.ended;
    const errors = (sub.results[0]?.errors ?? sub.error) as { message: string; extensions?: { code?: string; field?: string } }[];
    expect(Array.isArray(errors), JSON.stringify({ results: sub.results, error: sub.error })).toBe(true);
    expect(errors[0]!.extensions).toMatchObject({ code: 'INVALID_REQUEST', field: 'namespace' });
  });
});
