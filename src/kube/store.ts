/**
 * An indexed object store, after client-go's `cache.Indexer` (tools/cache/thread_safe_store.go):
 * objects by key (`namespace/name`), plus named indexes mapping an index value to the keys of the
 * objects whose index function yields it. Every mutation (`upsert`, `delete`, `replace` for a
 * relist) keeps every index in step, so a lookup by index costs O(bucket), never O(store).
 *
 * Sorted views (`sorted(index, value)`) are cached per bucket and rebuilt only when the bucket's
 * membership (or an object's sort key) changes, so a status-only MODIFIED event leaves them valid:
 * keyset pagination (src/service/paging.ts) seeks into them by binary search.
 *
 * Pure: no Kubernetes API, no I/O; unit-tested in test/unit/store.test.ts.
 */

/** Index values of one object for one index (client-go's IndexFunc). Empty: not indexed. */
export type IndexFunc<T> = (obj: T) => string[];

/** The sort key of an object inside a bucket; compared by code units (`<`). Must not change for an object's life. */
export type SortKeyFunc<T> = (obj: T) => string;

/** One entry of a sorted view: the object's sort key and its store key (read the object with `get(key)`). */
export interface SortedEntry {
  sort: string;
  key: string;
}

/** The differences a {@link IndexedStore.replace} made, in the order to announce them. */
export interface ReplaceDiff<T> {
  deleted: T[];
  added: T[];
  /** [old, new] for keys present before and after whose `changed(old, new)` is true. */
  updated: [T, T][];
}

/** The pseudo-index of every object (for {@link IndexedStore.sorted} and friends). */
export const ALL = '';

/** Compares two strings by UTF-16 code units (locale-independent, total, what keyset cursors need). */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The informer's cache, after client-go's Indexer: objects by key (`namespace/name`) with indexes
 * kept in step on every add, update, delete and replace, and sorted views per index bucket cached
 * until the bucket changes. Reads return the stored objects themselves (never mutate them).
 */
export class IndexedStore<T> {
  private readonly items = new Map<string, T>();
  /** index name → index value → keys. */
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  /** Sorted views by `index\0value`; deleted when the bucket changes. */
  private readonly sortedCache = new Map<string, SortedEntry[]>();
  private mutations = 0;

  /**
   * @param keyOf the object's store key (`namespace/name`).
   * @param indexers index name → index function (the empty name is reserved for {@link ALL}).
   * @param sortKey order of sorted views (default: the store key).
   */
  constructor(
    private readonly keyOf: (obj: T) => string,
    private readonly indexers: Record<string, IndexFunc<T>> = {},
    private readonly sortKey: SortKeyFunc<T> = keyOf,
  ) {
    if (ALL in indexers) throw new Error('index name "" is reserved');
    for (const name of Object.keys(indexers)) this.indices.set(name, new Map());
  }

  /** How many objects the store holds. */
  get size(): number {
    return this.items.size;
  }

  /** Increases on every mutation: a cheap "has anything changed" check for memoised derived data. */
  get version(): number {
    return this.mutations;
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  /** Store keys (a live iterator: do not mutate the store while iterating). */
  keys(): IterableIterator<string> {
    return this.items.keys();
  }

  /** Objects (a live iterator, no copy). */
  values(): IterableIterator<T> {
    return this.items.values();
  }

  /** Names of the indexes. */
  indexNames(): string[] {
    return [...this.indices.keys()];
  }

  /**
   * Adds or replaces `obj` under its key and updates every index.
   * @returns the object it replaced, if any.
   */
  upsert(obj: T): T | undefined {
    const key = this.keyOf(obj);
    const old = this.items.get(key);
    this.items.set(key, obj);
    this.mutations++;
    for (const [name, fn] of Object.entries(this.indexers)) {
      const before = old ? fn(old) : [];
      const after = fn(obj);
      for (const v of before) if (!after.includes(v)) this.unindex(name, v, key);
      for (const v of after) if (!before.includes(v)) this.addIndex(name, v, key);
      // A changed sort key reorders every bucket the object stays in.
      if (old && this.sortKey(old) !== this.sortKey(obj)) for (const v of after) this.sortedCache.delete(`${name}\0${v}`);
    }
    if (!old || this.sortKey(old) !== this.sortKey(obj)) this.sortedCache.delete(`${ALL}\0`);
    return old;
  }

  /** Removes `key` from the store and from every index. @returns the object removed, if any. */
  delete(key: string): T | undefined {
    const old = this.items.get(key);
    if (old === undefined) return undefined;
    this.items.delete(key);
    this.mutations++;
    for (const [name, fn] of Object.entries(this.indexers)) for (const v of fn(old)) this.unindex(name, v, key);
    this.sortedCache.delete(`${ALL}\0`);
    return old;
  }

  /**
   * Replaces the whole content with `objects` (a relist, client-go's Replace): keys absent from
   * `objects` are deleted, the others upserted; every index ends as if built from `objects` alone.
   * @param changed whether an object present before and after counts as updated (default: not the same reference).
   */
  replace(objects: Iterable<T>, changed: (old: T, obj: T) => boolean = (a, b) => a !== b): ReplaceDiff<T> {
    const fresh = new Map<string, T>();
    for (const o of objects) fresh.set(this.keyOf(o), o);
    const diff: ReplaceDiff<T> = { deleted: [], added: [], updated: [] };
    for (const key of [...this.items.keys()]) {
      if (!fresh.has(key)) diff.deleted.push(this.delete(key)!);
    }
    for (const [, obj] of fresh) {
      const old = this.upsert(obj);
      if (!old) diff.added.push(obj);
      else if (changed(old, obj)) diff.updated.push([old, obj]);
    }
    return diff;
  }

  /** Keys of the objects indexed under `value` in `index` (a live set: do not mutate it). @throws on an unknown index. */
  indexKeys(index: string, value: string): ReadonlySet<string> {
    return this.bucket(index).get(value) ?? EMPTY;
  }

  /** Objects indexed under `value` in `index`, in no particular order (a fresh array of the bucket's size). */
  byIndex(index: string, value: string): T[] {
    const out: T[] = [];
    for (const k of this.indexKeys(index, value)) out.push(this.items.get(k)!);
    return out;
  }

  /** How many objects are indexed under `value` in `index`; {@link ALL} counts the store. */
  count(index: string, value: string): number {
    return index === ALL ? this.items.size : this.indexKeys(index, value).size;
  }

  /** The values of `index` that index at least one object. */
  indexValues(index: string): string[] {
    return [...this.bucket(index).keys()];
  }

  /**
   * The objects under `value` in `index` ({@link ALL}: every object), ordered by sort key then
   * store key. Cached until the bucket changes; do not mutate the array.
   */
  sorted(index: string, value = ''): readonly SortedEntry[] {
    const ck = `${index}\0${index === ALL ? '' : value}`;
    let s = this.sortedCache.get(ck);
    if (!s) {
      const keys = index === ALL ? this.items.keys() : this.indexKeys(index, value);
      s = [];
      for (const key of keys) {
        s.push({ sort: this.sortKey(this.items.get(key)!), key });
      }
      s.sort((a, b) => compareCodeUnits(a.sort, b.sort) || compareCodeUnits(a.key, b.key));
      this.sortedCache.set(ck, s);
    }
    return s;
  }

  private bucket(index: string): Map<string, Set<string>> {
    const b = this.indices.get(index);
    if (!b) throw new Error(`unknown index ${JSON.stringify(index)} (known: ${this.indexNames().join(', ')})`);
    return b;
  }

  private addIndex(index: string, value: string, key: string): void {
    const b = this.indices.get(index)!;
    let set = b.get(value);
    if (!set) b.set(value, (set = new Set()));
    set.add(key);
    this.sortedCache.delete(`${index}\0${value}`);
  }

  private unindex(index: string, value: string, key: string): void {
    const b = this.indices.get(index)!;
    const set = b.get(value);
    if (!set) return;
    set.delete(key);
    if (set.size === 0) b.delete(value);
    this.sortedCache.delete(`${index}\0${value}`);
  }
}

const EMPTY: ReadonlySet<string> = new Set();
