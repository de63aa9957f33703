import { describe, expect, it } from 'vitest';
import { IndexedStore } from '../../src/kube/store';
import { CONNECTION_BOUNDS, decodeCursor, pageKeys, restPageArgs, type Segment } from '../../src/service/paging';
import { ValidationError } from '../../src/service/errors';

type Obj = { ns: string; name: string };
const key = (o: Obj) => `${o.ns}/${o.name}`;
const newStore = () => new IndexedStore<Obj>(key, { namespace: (o) => [o.ns] }, (o) => o.name);
const segments = (s: IndexedStore<Obj>): Segment[] => s.indexValues('namespace').map((ns) => ({ namespace: ns, entries: s.sorted('namespace', ns) }));

describe('keyset pages', () => {
  it('orders by namespace then name and pages forward and backward with Relay semantics', () => {
    const s = newStore();
    for (const [ns, name] of [['b', 'x'], ['a-b', 'y'], ['a', 'z'], ['a', 'b'], ['b', 'a']] as const) s.upsert({ ns, name });
    const all = pageKeys(segments(s), { first: 100 }, CONNECTION_BOUNDS);
    // (namespace, name) order: "a" before "a-b", though "a-b/y" < "a/z" as plain strings.
    expect(all.keys).toEqual(['a/b', 'a/z', 'a-b/y', 'b/a', 'b/x']);
    expect(all).toMatchObject({ totalCount: 5, hasNextPage: false, hasPreviousPage: false });
    const p1 = pageKeys(segments(s), { first: 2 }, CONNECTION_BOUNDS);
    expect(p1).toMatchObject({ keys: ['a/b', 'a/z'], hasNextPage: true, hasPreviousPage: false, remaining: 3 });
    const p2 = pageKeys(segments(s), { first: 2, after: p1.cursors[1] }, CONNECTION_BOUNDS);
    expect(p2).toMatchObject({ keys: ['a-b/y', 'b/a'], hasNextPage: true, hasPreviousPage: true });
    const tail = pageKeys(segments(s), { last: 2 }, CONNECTION_BOUNDS);
    expect(tail).toMatchObject({ keys: ['b/a', 'b/x'], hasPreviousPage: true, hasNextPage: false });
    const back = pageKeys(segments(s), { last: 2, before: tail.cursors[0] }, CONNECTION_BOUNDS);
    expect(back.keys).toEqual(['a/z', 'a-b/y']);
    // No size given: the default; sizes above the bound are cut to it.
    expect(pageKeys(segments(s), {}, { defaultSize: 3, maxSize: 4 }).keys).toHaveLength(3);
    expect(pageKeys(segments(s), { first: 1000 }, { defaultSize: 3, maxSize: 4 }).keys).toHaveLength(4);
  });

  it('never repeats or skips an object that exists during the whole walk, whatever is created and deleted between pages', () => {
    const s = newStore();
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let i = 0; i < 300; i++) s.upsert({ ns: `n${rnd(5)}`, name: `o${rnd(1000)}` });
    const stable = new Set(s.keys()); // minus those deleted below
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const p = pageKeys(segments(s), { first: 7, after }, CONNECTION_BOUNDS);
      seen.push(...p.keys);
      // Between two requests: create some (before and after the cursor), delete some.
      for (let i = 0; i < 5; i++) s.upsert({ ns: `n${rnd(6)}`, name: `new${rnd(100000)}` });
      for (let i = 0; i < 2; i++) {
        const victim = [...s.keys()][rnd(s.size)]!;
        s.delete(victim);
        stable.delete(victim);
      }
      if (!p.hasNextPage) break;
      after = p.cursors.at(-1);
    }
    expect(new Set(seen).size).toBe(seen.length); // no repeats
    for (const k of stable) expect(seen).toContain(k); // no skips
  });

  it('refuses what is not a cursor or a size, naming the argument', () => {
    const s = newStore();
    s.upsert({ ns: 'a', name: 'b' });
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e;
      }
      throw new Error('did not throw');
    };
    for (const [args, field] of [
      [{ after: 'garbage' }, 'after'],
      [{ before: Buffer.from('["k1",1,2,3]').toString('base64url') }, 'before'],
      [{ first: -1 }, 'first'],
      [{ last: 1.5 }, 'last'],
    ] as const) {
      const e = err(() => pageKeys(segments(s), args, CONNECTION_BOUNDS));
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as ValidationError).field).toBe(field);
    }
    expect((err(() => restPageArgs({ limit: 'ten' })) as ValidationError).field).toBe('limit');
    expect((err(() => restPageArgs({ limit: '-3' })) as ValidationError).field).toBe('limit');
    expect((err(() => restPageArgs({ continue: 'nope' })) as ValidationError).field).toBe('continue');
    expect((err(() => restPageArgs({ continue: ['a', 'b'] })) as ValidationError).field).toBe('continue');
    expect(restPageArgs({ limit: '0' })).toEqual({ first: null, after: null });
    const c = pageKeys(segments(s), {}, CONNECTION_BOUNDS).cursors[0]!;
    expect(decodeCursor(c, 'after')).toEqual({ namespace: 'a', sort: 'b', key: 'a/b' });
    expect(restPageArgs({ limit: '5', continue: c })).toEqual({ first: 5, after: c });
  });
});
