import { describe, expect, it } from 'vitest';
import { ALL, IndexedStore } from '../../src/kube/store';
import { INDEX, unitIndexers, unitSortKey, storageIndexers } from '../../src/kube/cache';
import { objectKey } from '../../src/kube/informer';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { GPUStorage, GPUUnit } from '../../src/api/types';

type Obj = { ns: string; name: string; labels: string[]; rv: number; sort?: string };
const key = (o: Obj) => `${o.ns}/${o.name}`;
const store = () =>
  new IndexedStore<Obj>(key, { namespace: (o) => [o.ns], label: (o) => o.labels }, (o) => o.sort ?? o.name);
const o = (ns: string, name: string, labels: string[] = [], rv = 1): Obj => ({ ns, name, labels, rv });
const names = (objs: Obj[]) => objs.map(key).sort();

/** Every index rebuilt from scratch over the store's objects: what a consistent store must equal. */
function rebuilt(s: IndexedStore<Obj>): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = { namespace: {}, label: {} };
  for (const obj of s.values()) {
    (out.namespace![obj.ns] ??= []).push(key(obj));
    for (const l of obj.labels) (out.label![l] ??= []).push(key(obj));
  }
  for (const idx of Object.values(out)) for (const v of Object.keys(idx)) idx[v]!.sort();
  return out;
}
function actual(s: IndexedStore<Obj>): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  for (const idx of s.indexNames()) {
    out[idx] = {};
    for (const v of s.indexValues(idx)) out[idx]![v] = [...s.indexKeys(idx, v)].sort();
  }
  return out;
}

describe('IndexedStore', () => {
  it('indexes on add, moves an object between buckets on update, and removes it from every index on delete', () => {
    const s = store();
    s.upsert(o('a', 'x', ['l1', 'l2']));
    s.upsert(o('a', 'y', ['l1']));
    s.upsert(o('b', 'z', ['l2']));
    expect(names(s.byIndex('label', 'l1'))).toEqual(['a/x', 'a/y']);
    expect(names(s.byIndex('namespace', 'b'))).toEqual(['b/z']);

    // Update: x leaves l1 and joins l3; its old bucket no longer lists it.
    const old = s.upsert(o('a', 'x', ['l2', 'l3'], 2));
    expect(old?.rv).toBe(1);
    expect(names(s.byIndex('label', 'l1'))).toEqual(['a/y']);
    expect(names(s.byIndex('label', 'l3'))).toEqual(['a/x']);
    expect(s.get('a/x')?.rv).toBe(2);

    // DELETE removes the key from every index it was in, and empty buckets disappear.
    expect(s.delete('a/x')?.rv).toBe(2);
    expect(s.byIndex('label', 'l3')).toEqual([]);
    expect(s.indexValues('label').sort()).toEqual(['l1', 'l2']);
    expect(names(s.byIndex('label', 'l2'))).toEqual(['b/z']);
    expect(s.count('namespace', 'a')).toBe(1);
    expect(s.delete('a/x')).toBeUndefined();
    expect(actual(s)).toEqual(rebuilt(s));
  });

  it('replace (a relist) swaps the content, reports the differences and leaves indexes as if built from the list alone', () => {
    const s = store();
    s.upsert(o('a', 'gone', ['l1']));
    s.upsert(o('a', 'kept', ['l1'], 1));
    s.upsert(o('a', 'same', ['l2'], 1));
    const same = s.get('a/same')!;
    const diff = s.replace([o('a', 'kept', ['l9'], 2), same, o('c', 'new', ['l1'])], (a, b) => a.rv !== b.rv);
    expect(diff.deleted.map(key)).toEqual(['a/gone']);
    expect(diff.added.map(key)).toEqual(['c/new']);
    expect(diff.updated.map(([a, b]) => [key(a), a.rv, b.rv])).toEqual([['a/kept', 1, 2]]);
    expect([...s.keys()].sort()).toEqual(['a/kept', 'a/same', 'c/new']);
    expect(names(s.byIndex('label', 'l1'))).toEqual(['c/new']);
    expect(names(s.byIndex('label', 'l9'))).toEqual(['a/kept']);
    expect(actual(s)).toEqual(rebuilt(s));
    // An empty relist empties every index.
    s.replace([]);
    expect(s.size).toBe(0);
    expect(actual(s)).toEqual({ namespace: {}, label: {} });
  });

  it('stays consistent with a from-scratch rebuild over a long random sequence of events and relists', () => {
    const s = store();
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const labels = ['p', 'q', 'r', 's'];
    for (let step = 0; step < 5000; step++) {
      const name = `o${rnd(60)}`;
      const ns = `n${rnd(3)}`;
      const r = rnd(100);
      if (r < 55) s.upsert(o(ns, name, labels.filter(() => rnd(2) === 0), step));
      else if (r < 95) s.delete(`${ns}/${name}`);
      else s.replace(Array.from({ length: rnd(30) }, (_, i) => o(`n${rnd(3)}`, `o${i}`, labels.filter(() => rnd(2) === 0), step)));
      if (step % 250 === 0) expect(actual(s)).toEqual(rebuilt(s));
    }
    expect(actual(s)).toEqual(rebuilt(s));
  });

  it('sorted views follow membership and sort-key changes, and are reused across status-only updates', () => {
    const s = store();
    for (const n of ['c', 'a', 'b']) s.upsert(o('ns', n, ['l']));
    const v1 = s.sorted('label', 'l');
    expect(v1.map((e) => e.key)).toEqual(['ns/a', 'ns/b', 'ns/c']);
    s.upsert(o('ns', 'b', ['l'], 2)); // same sort key, same buckets: the cached view stands
    expect(s.sorted('label', 'l')).toBe(v1);
    s.upsert(o('ns', 'a', [], 2)); // leaves the bucket
    expect(s.sorted('label', 'l').map((e) => e.key)).toEqual(['ns/b', 'ns/c']);
    s.upsert({ ...o('ns', 'c', ['l'], 3), sort: '0' }); // its sort key changed: reordered
    expect(s.sorted('label', 'l').map((e) => e.key)).toEqual(['ns/c', 'ns/b']);
    expect(s.sorted(ALL).map((e) => e.key)).toEqual(['ns/c', 'ns/a', 'ns/b']);
    s.delete('ns/c');
    expect(s.sorted(ALL).map((e) => e.key)).toEqual(['ns/a', 'ns/b']);
    expect(() => s.byIndex('nope', 'x')).toThrow(/unknown index "nope"/);
  });
});

describe('the cache indexers', () => {
  const unit = (namespace: string, name: string, spec: Partial<GPUUnit['spec']>, meta: Partial<GPUUnit['metadata']> = {}): GPUUnit & KubernetesObject =>
    ({ metadata: { namespace, name, ...meta }, spec: { specName: 'g1.1', memory: '1Gi', ...spec } }) as GPUUnit & KubernetesObject;

  it('storage → mounting units: active units only, not being deleted, one entry per storage', () => {
    const s = new IndexedStore(objectKey, unitIndexers, unitSortKey);
    s.upsert(unit('t', 'u1', { storageMounts: [{ name: 'data', mountPath: '/a' }, { name: 'model', mountPath: '/b' }] }));
    s.upsert(unit('t', 'u2', { storageMounts: [{ name: 'data', mountPath: '/a' }] }, { deletionTimestamp: new Date() }));
    s.upsert(unit('runtime-stock', 'st', { storageMounts: [{ name: 'data', mountPath: '/a' }] }));
    s.upsert(unit('other', 'u3', { storageMounts: [{ name: 'data', mountPath: '/a' }] }));
    expect(s.byIndex(INDEX.mountedStorage, 't/data').map((u) => u.metadata.name)).toEqual(['u1']);
    expect(s.byIndex(INDEX.mountedStorage, 't/model').map((u) => u.metadata.name)).toEqual(['u1']);
    expect(s.byIndex(INDEX.mountedStorage, 'other/data').map((u) => u.metadata.name)).toEqual(['u3']);
    // Unmounting by an update removes the entry.
    s.upsert(unit('t', 'u1', { storageMounts: [{ name: 'model', mountPath: '/b' }] }));
    expect(s.byIndex(INDEX.mountedStorage, 't/data')).toEqual([]);
    expect(s.indexValues(INDEX.activeNamespace).sort()).toEqual(['other', 't']);
  });

  it('orders stock units oldest first and other units by name; indexes storages by phase and clone source', () => {
    const s = new IndexedStore(objectKey, unitIndexers, unitSortKey);
    s.upsert(unit('runtime-stock', 'b-001', {}, { creationTimestamp: '2026-01-02T00:00:00Z' as unknown as Date }));
    s.upsert(unit('runtime-stock', 'a-001', {}, { creationTimestamp: '2026-01-03T00:00:00Z' as unknown as Date }));
    s.upsert(unit('runtime-stock', 'c-001', {}, { creationTimestamp: '2026-01-01T00:00:00Z' as unknown as Date }));
    expect(s.sorted(INDEX.unitLabel, 'x').length).toBe(0);
    expect(s.sorted(ALL).map((e) => e.key)).toEqual(['runtime-stock/c-001', 'runtime-stock/b-001', 'runtime-stock/a-001']);

    const st = new IndexedStore<GPUStorage & KubernetesObject>(objectKey, storageIndexers);
    const storage = (name: string, phase?: 'Ready', from?: string) =>
      ({ metadata: { namespace: 't', name }, spec: { size: '1Gi', ...(from ? { prepare: { fromStorageName: from } } : {}) }, ...(phase ? { status: { phase } } : {}) }) as GPUStorage & KubernetesObject;
    st.upsert(storage('src', 'Ready'));
    st.upsert(storage('clone', undefined, 'src'));
    expect(st.byIndex(INDEX.cloneSource, 't/src').map((x) => x.metadata.name)).toEqual(['clone']);
    expect(st.byIndex(INDEX.namespacePhase, 't/Pending').map((x) => x.metadata.name)).toEqual(['clone']);
    st.upsert(storage('clone', 'Ready', 'src'));
    expect(st.count(INDEX.namespacePhase, 't/Pending')).toBe(0);
    expect(st.count(INDEX.phase, 'Ready')).toBe(2);
  });
});
