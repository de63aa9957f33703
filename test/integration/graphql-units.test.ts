/**
 * The unit and operation domains of the GraphQL API against the local cluster: seedStock and the
 * operation it starts (query and operationChanged), stockUnits, createUnit consuming stock
 * (CapacityError without it), unit/units/node, updateUnit, deleteUnit, the storage↔unit links
 * through DataLoaders (Storage.mountedByUnits, Unit.storages), unitChanged / unitsChanged over
 * graphql-ws, and the typed errors of each mutation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateStorageDocument,
  CreateUnitDocument,
  DeleteStorageDocument,
  DeleteUnitDocument,
  OperationChangedDocument,
  OperationDocument,
  SeedStockDocument,
  StockUnitsDocument,
  StorageWithUnitsDocument,
  UnitChangedDocument,
  UnitDocument,
  UnitOrOperationNodeDocument,
  UnitsChangedDocument,
  UnitsDocument,
  UpdateUnitDocument,
  type CreateUnitInput,
  type OperationChangedSubscription,
  type SeedStockInput,
  type UnitChangedSubscription,
  type UnitsChangedSubscription,
} from '../graphql/generated/graphql';
import { gql, wsClient, type GraphQLAnswer } from '../support/http';
import { eventually, uniq } from '../support/env';
import { subscribe } from '../support/subscription';

const NS = 'runtime-instance';
const STOCK_NS = 'runtime-stock';

function spec(): string {
  return uniq('gq').replace('-', '.');
}

/** Asserts a payload is the typed error `typename` (with `field` when given) and returns it. */
function expectError<T extends { __typename?: string }>(payload: T | undefined, typename: string, code: string, field?: string) {
  expect(payload, JSON.stringify(payload)).toMatchObject({ __typename: typename, code, ...(field !== undefined ? { field } : {}) });
  return payload as T & { message: string };
}

async function seed(input: SeedStockInput) {
  const r = await gql(SeedStockDocument, { input });
  expect(r.errors).toBeUndefined();
  const p = r.data!.seedStock;
  if (p.__typename !== 'SeedStockSuccess') throw new Error(`seedStock failed: ${JSON.stringify(p)}`);
  return p;
}

/** Seeds `replicas` units of `specName` and waits until they are all Ready stock. */
async function seedReady(specName: string, replicas: number) {
  const operationID = uniq(`seed-${specName}`);
  await seed({ operationID, specName, memory: '2Gi', gpu: 1, replicas });
  await eventually(async () => {
    const r = await gql(StockUnitsDocument, { specName });
    const nodes = r.data?.stockUnits.edges.map((e) => e.node) ?? [];
    return nodes.length === replicas && nodes.every((n) => n.phase === 'Ready');
  }, `${replicas} Ready stock units of ${specName}`, 90_000);
  return operationID;
}

async function createStorage(name: string) {
  const r = await gql(CreateStorageDocument, { input: { name, namespace: NS, size: '1Gi' } });
  expect(r.data?.createStorage.__typename, JSON.stringify(r)).toBe('CreateStorageSuccess');
}

async function createUnitOK(input: CreateUnitInput) {
  const r = await gql(CreateUnitDocument, { input });
  expect(r.errors).toBeUndefined();
  const p = r.data!.createUnit;
  if (p.__typename !== 'CreateUnitSuccess') throw new Error(`createUnit failed: ${JSON.stringify(p)}`);
  return p;
}

describe('GraphQL operations: seedStock, operation, operationChanged, stockUnits', () => {
  const client = wsClient();
  afterAll(() => client.dispose());

  it('seedStock validates its input, naming the field', async () => {
    const base: SeedStockInput = { operationID: uniq('op'), specName: 'g1.1', memory: '1Gi', gpu: 0, replicas: 1 };
    const cases: [Partial<SeedStockInput>, string][] = [
      [{ operationID: '' }, 'operationID'],
      [{ specName: '-bad-' }, 'specName'],
      [{ memory: 'lots' }, 'memory'],
      [{ memory: '0' }, 'memory'],
      [{ gpu: -1 }, 'gpu'],
      [{ gpu: 65 }, 'gpu'],
      [{ replicas: 0 }, 'replicas'],
      [{ replicas: 101 }, 'replicas'],
    ];
    for (const [patch, field] of cases) {
      const r = await gql(SeedStockDocument, { input: { ...base, ...patch } });
      expect(r.errors, JSON.stringify(patch)).toBeUndefined();
      expectError(r.data!.seedStock, 'ValidationError', 'INVALID_REQUEST', field);
    }
  });

  it('seedStock starts an operation that operationChanged follows to succeeded; replay and conflict; stockUnits lists its units', async () => {
    const specName = spec();
    const operationID = uniq('op-seed');
    // Subscribed before the operation exists: nothing, then its creation and every change.
    const sub = subscribe(client, OperationChangedDocument, { operationID });
    try {
      const first = await seed({ operationID, specName, memory: '2Gi', gpu: 1, replicas: 2 });
      expect(first.replay).toBe(false);
      expect(first.operation).toMatchObject({ operationID, type: 'seed_stock_units', objectNamespace: STOCK_NS, request: { specName, memory: '2Gi', gpu: 1, replicas: 2 } });
      expect(first.operation.objectName).toMatch(new RegExp(`^stock-${specName.replace('.', '-')}-[0-9a-f]{10}$`));

      type R = GraphQLAnswer<OperationChangedSubscription>;
      const done = await sub.waitFor((rs: R[]) => rs.some((r) => r.data?.operationChanged.operation.status === 'succeeded'), 'operation succeeded', 90_000);
      expect(done.every((r) => !r.errors && r.data!.operationChanged.operation.operationID === operationID)).toBe(true);
      expect(done[0]!.data!.operationChanged.type).toBe('ADDED');
      const statuses = done.map((r) => r.data!.operationChanged.operation.status).filter((s, i, a) => s !== a[i - 1]);
      expect(statuses.at(-1)).toBe('succeeded');
      expect(statuses.every((s) => ['pending', 'running', 'succeeded'].includes(s))).toBe(true);

      const op = await gql(OperationDocument, { operationID });
      expect(op.errors).toBeUndefined();
      const view = op.data!.operation!;
      expect(view.status).toBe('succeeded');
      expect(view.objects).toEqual([`${view.objectName}-001`, `${view.objectName}-002`]);
      expect(view.units.map((u) => u.name).sort()).toEqual(view.objects);
      expect(view.units.every((u) => u.lifecycle === 'stock')).toBe(true);

      const node = await gql(UnitOrOperationNodeDocument, { id: view.id });
      expect(node.data!.node).toMatchObject({ __typename: 'Operation', operationID, status: 'succeeded' });

      const replay = await seed({ operationID, specName, memory: '2Gi', gpu: 1, replicas: 2 });
      expect(replay.replay).toBe(true);
      expect(replay.operation.id).toBe(view.id);
      const other = await gql(SeedStockDocument, { input: { operationID, specName, memory: '2Gi', gpu: 1, replicas: 3 } });
      expectError(other.data!.seedStock, 'ConflictError', 'OPERATION_CONFLICT');

      const stock = await eventually(async () => {
        const r = await gql(StockUnitsDocument, { specName });
        const nodes = r.data!.stockUnits.edges.map((e) => e.node);
        return nodes.length === 2 && nodes.every((n) => n.phase === 'Ready') ? nodes : undefined;
      }, 'stock Ready', 90_000);
      expect(stock.map((u) => u.name)).toEqual(view.objects);
      for (const u of stock) expect(u).toMatchObject({ namespace: STOCK_NS, lifecycle: 'stock', specName, memory: '2Gi', gpu: 1, operationID, access: null });
    } finally {
      sub.stop();
    }
  });

  it('operation(operationID) is null for an unknown id and a thrown INVALID_REQUEST for an empty one', async () => {
    const none = await gql(OperationDocument, { operationID: 'never-used' });
    expect(none.errors).toBeUndefined();
    expect(none.data!.operation).toBeNull();
    const empty = await gql(OperationDocument, { operationID: '' });
    expect(empty.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_REQUEST', field: 'operationID' });
  });
});

describe('GraphQL units: create, read, update, delete, links to storage, subscriptions', () => {
  const client = wsClient();
  afterAll(() => client.dispose());
  const specName = spec();
  let seedOperationID: string;

  beforeAll(async () => {
    seedOperationID = await seedReady(specName, 3);
  }, 180_000);

  it('createUnit errors: validation naming the field, missing mount, capacity', async () => {
    const base = { name: uniq('gql-unit'), namespace: NS, specName, image: 'python:3.12' };
    const cases: [Partial<CreateUnitInput>, string][] = [
      [{ name: 'Bad_Name' }, 'name'],
      [{ namespace: STOCK_NS }, 'namespace'],
      [{ image: 'has space' }, 'image'],
      [{ specName: '-x-' }, 'specName'],
      [{ access: { primaryPort: 'http' } }, 'access.primaryPort'],
      [{ access: { scheme: 'ftp' } }, 'access.scheme'],
      [{ template: { ports: [{ name: 'http', port: 70000 }] } }, 'template.ports[0].port'],
      [{ template: { envs: [{ name: 'GPU_COUNT', value: '9' }] } }, 'template.envs[0].name'],
      [{ storageMounts: [{ name: 'x', mountPath: 'relative' }] }, 'storageMounts[0].mountPath'],
      [{ storageMounts: [{ name: 'no-such-storage', mountPath: '/data' }] }, 'storageMounts[0].name'],
    ];
    for (const [patch, field] of cases) {
      const r = await gql(CreateUnitDocument, { input: { ...base, ...patch } });
      expect(r.errors, JSON.stringify(patch)).toBeUndefined();
      expectError(r.data!.createUnit, 'ValidationError', 'INVALID_REQUEST', field);
    }
    const none = await gql(CreateUnitDocument, { input: { ...base, specName: spec() } });
    const e = expectError(none.data!.createUnit, 'CapacityError', 'INSUFFICIENT_CAPACITY');
    expect(e.message.length).toBeGreaterThan(0);
  });

  it('createUnit consumes stock, mounts a storage (links both ways through loaders), replays, conflicts; update; delete', async () => {
    const storage = uniq('gql-ustore');
    await createStorage(storage);
    const name = uniq('gql-unit');
    const operationID = uniq('op-unit');
    const input: CreateUnitInput = {
      operationID,
      name,
      namespace: NS,
      specName,
      image: 'python:3.12',
      template: { command: ['python', '-m', 'http.server'], args: ['8080'], envs: [{ name: 'MODE', value: 'serve' }], ports: [{ name: 'http', port: 8080 }] },
      storageMounts: [{ name: storage, mountPath: '/data' }],
    };
    const created = await createUnitOK(input);
    expect(created.replay).toBe(false);
    const u = created.unit;
    expect(u).toMatchObject({
      name,
      namespace: NS,
      lifecycle: 'instance',
      specName,
      operationID,
      sourceStockNamespace: STOCK_NS,
      image: 'python:3.12',
      memory: '2Gi',
      gpu: 1,
      access: { primaryPort: 'http', scheme: 'http' },
      template: { command: ['python', '-m', 'http.server'], args: ['8080'], envs: [{ name: 'MODE', value: 'serve' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
      storageMounts: [{ name: storage, mountPath: '/data', readOnly: false, storage: { name: storage } }],
      storages: [{ name: storage, mountedBy: [name] }],
    });
    expect(u.sourceStockName).toMatch(new RegExp(`^stock-${specName.replace('.', '-')}-`));
    expect(Buffer.from(u.id, 'base64').toString()).toBe(`Unit:${NS}/${name}`);

    // The storage sees its unit (Storage.mountedByUnits through the unitsByStorage loader).
    const s = await gql(StorageWithUnitsDocument, { namespace: NS, name: storage });
    expect(s.data!.storage).toMatchObject({ mountedBy: [name], mountedByUnits: [{ id: u.id, name, specName }] });

    // Reads.
    const read = await gql(UnitDocument, { namespace: NS, name });
    expect(read.data!.unit).toMatchObject({ name, sourceStockName: u.sourceStockName });
    expect((await gql(UnitDocument, { name: 'no-such-unit' })).data!.unit).toBeNull();
    const node = await gql(UnitOrOperationNodeDocument, { id: u.id });
    expect(node.data!.node).toMatchObject({ __typename: 'Unit', name, namespace: NS, lifecycle: 'instance' });
    const list = await gql(UnitsDocument, { namespace: NS, first: 1000 });
    expect(list.data!.units.edges.map((e) => e.node.name)).toContain(name);
    expect(list.data!.units.edges.every((e) => e.node.lifecycle === 'instance')).toBe(true);
    const stock = await gql(StockUnitsDocument, { specName });
    expect(stock.data!.stockUnits.edges.map((e) => e.node.name)).not.toContain(u.sourceStockName);
    expect(stock.data!.stockUnits.edges).toHaveLength(2);

    // Replay: same operationID and payload → the same unit; another payload → conflict.
    const replay = await createUnitOK(input);
    expect(replay.replay).toBe(true);
    expect(replay.unit.id).toBe(u.id);
    const reused = await gql(CreateUnitDocument, { input: { ...input, image: 'python:3.13' } });
    expectError(reused.data!.createUnit, 'ConflictError', 'OPERATION_CONFLICT');
    const sameName = await gql(CreateUnitDocument, { input: { ...input, operationID: uniq('op') } });
    expectError(sameName.data!.createUnit, 'ConflictError', 'OPERATION_CONFLICT');
    // One storage, one active unit.
    const second = await gql(CreateUnitDocument, { input: { ...input, operationID: uniq('op'), name: uniq('gql-unit2') } });
    expect(expectError(second.data!.createUnit, 'ConflictError', 'OPERATION_CONFLICT').message).toContain(name);
    // A mounted storage cannot be deleted.
    const delStorage = await gql(DeleteStorageDocument, { input: { namespace: NS, name: storage } });
    expectError(delStorage.data!.deleteStorage, 'ConflictError', 'OPERATION_CONFLICT');

    // Update: image; removing the template with access that names its port is refused.
    const upd = await gql(UpdateUnitDocument, { input: { namespace: NS, name, image: 'python:3.13' } });
    const updP = upd.data!.updateUnit;
    if (updP.__typename !== 'UpdateUnitSuccess') throw new Error(JSON.stringify(updP));
    expect(updP.unit).toMatchObject({ image: 'python:3.13', storageMounts: [{ name: storage }], template: { ports: [{ name: 'http' }] } });
    const badUpd = await gql(UpdateUnitDocument, { input: { namespace: NS, name, image: 'two words' } });
    expectError(badUpd.data!.updateUnit, 'ValidationError', 'INVALID_REQUEST', 'image');
    const missing = await gql(UpdateUnitDocument, { input: { namespace: NS, name: 'no-such-unit', image: 'x:1' } });
    expectError(missing.data!.updateUnit, 'NotFoundError', 'GPUUNIT_NOT_FOUND');
    // Unmount: the storage is free again.
    const unmount = await gql(UpdateUnitDocument, { input: { namespace: NS, name, storageMounts: [] } });
    const unmountP = unmount.data!.updateUnit;
    if (unmountP.__typename !== 'UpdateUnitSuccess') throw new Error(JSON.stringify(unmountP));
    expect(unmountP.unit).toMatchObject({ storageMounts: [], storages: [] });
    expect((await gql(StorageWithUnitsDocument, { namespace: NS, name: storage })).data!.storage).toMatchObject({ mountedBy: [], mountedByUnits: [] });

    // Delete.
    const del = await gql(DeleteUnitDocument, { input: { namespace: NS, name } });
    const delP = del.data!.deleteUnit;
    if (delP.__typename !== 'DeleteUnitSuccess') throw new Error(JSON.stringify(delP));
    expect(delP.deleted).toEqual({ deletedId: u.id, namespace: NS, name });
    expect((await gql(UnitDocument, { namespace: NS, name })).data!.unit).toBeNull();
    const again = await gql(DeleteUnitDocument, { input: { namespace: NS, name } });
    expectError(again.data!.deleteUnit, 'NotFoundError', 'GPUUNIT_NOT_FOUND');
    // The storage stays, and can be deleted now.
    const delS = await gql(DeleteStorageDocument, { input: { namespace: NS, name: storage } });
    expect(delS.data!.deleteStorage.__typename).toBe('DeleteStorageSuccess');
  });

  it('unitChanged follows a unit to Ready, an update, and DELETED; each event reads its storages as they are then', async () => {
    const storage = uniq('gql-sstore');
    await createStorage(storage);
    const name = uniq('gql-wunit');
    const created = await createUnitOK({ name, namespace: NS, specName, image: 'python:3.12', storageMounts: [{ name: storage, mountPath: '/data' }] });
    expect(created.unit.phase).toMatch(/^(Progressing|Ready)$/);
    const sub = subscribe(client, UnitChangedDocument, { namespace: NS, name });
    const all = subscribe(client, UnitsChangedDocument, { namespace: NS });
    try {
      type R = GraphQLAnswer<UnitChangedSubscription>;
      const ev = (r: R) => r.data?.unitChanged;
      await sub.waitFor((rs: R[]) => rs.some((r) => ev(r)?.unit.phase === 'Ready'), 'unit Ready', 90_000);
      expect(ev(sub.results[0]!)!.type).toBe('ADDED');
      expect(ev(sub.results[0]!)!.unit.storages).toEqual([{ name: storage, mountedByUnits: [{ name }] }]);
      expect(sub.results.at(-1)!.data!.unitChanged.unit.readyReplicas).toBe(1);

      // Unmount the storage: the event's storages and their mountedByUnits are read anew.
      await gql(UpdateUnitDocument, { input: { namespace: NS, name, image: 'python:3.13', storageMounts: [] } });
      await sub.waitFor((rs: R[]) => rs.some((r) => ev(r)?.type === 'MODIFIED' && ev(r)!.unit.image === 'python:3.13'), 'MODIFIED with the new image');
      const modified = sub.results.find((r) => ev(r)?.unit.image === 'python:3.13')!;
      expect(ev(modified)!.unit.storages).toEqual([]);

      await gql(DeleteUnitDocument, { input: { namespace: NS, name } });
      await sub.waitFor((rs: R[]) => rs.some((r) => ev(r)?.type === 'DELETED'), 'DELETED');
      expect(ev(sub.results.at(-1)!)).toMatchObject({ type: 'DELETED', unit: { name } });

      type A = GraphQLAnswer<UnitsChangedSubscription>;
      const seen = await all.waitFor((rs: A[]) => rs.some((r) => r.data?.unitsChanged.type === 'DELETED' && r.data.unitsChanged.unit.name === name), 'unitsChanged DELETED');
      expect(seen.every((r) => r.data!.unitsChanged.unit.namespace === NS && r.data!.unitsChanged.unit.lifecycle === 'instance')).toBe(true);
    } finally {
      sub.stop();
      all.stop();
    }
  });

  it('unitsChanged(runtime-stock) sees the stock unit a create consumes go DELETED', async () => {
    const sub = subscribe(client, UnitsChangedDocument, { namespace: STOCK_NS });
    try {
      type A = GraphQLAnswer<UnitsChangedSubscription>;
      const initial = await sub.waitFor((rs: A[]) => rs.filter((r) => r.data?.unitsChanged.type === 'ADDED').length > 0, 'current stock');
      expect(initial.every((r) => r.data!.unitsChanged.unit.lifecycle === 'stock')).toBe(true);
      const made = await createUnitOK({ name: uniq('gql-consume'), namespace: NS, specName, image: 'python:3.12' });
      await sub.waitFor((rs: A[]) => rs.some((r) => r.data?.unitsChanged.type === 'DELETED' && r.data.unitsChanged.unit.name === made.unit.sourceStockName), 'consumed stock DELETED');
    } finally {
      sub.stop();
    }
    expect(seedOperationID).toBeTruthy();
  });
});
