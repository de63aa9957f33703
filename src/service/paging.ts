/**
 * Keyset pagination over the informer cache's sorted views (src/kube/store.ts `sorted`), for the
 * GraphQL connections (Relay first/after, last/before) and the REST lists (Kubernetes-style
 * `limit`/`continue`).
 *
 * A list is a sequence of segments (one per namespace, in namespace order), each a bucket of an
 * index in sort order; the list's order is (namespace, sort key, store key), compared by code
 * units. A cursor is the position of one object: `base64url(JSON ["k1", namespace, sortKey, key])`,
 * opaque to clients. Seeking to a cursor is a binary search, so a page costs
 * O(namespaces + log n + page size), and it does not depend on the object still existing: a walk
 * page by page never repeats or skips an object that existed during the whole walk, whatever was
 * created or deleted between two requests (objects created behind the cursor are not seen; those
 * created ahead of it are). Like a Kubernetes continue token it is not a snapshot.
 */
import type { SortedEntry } from '../kube/store';
import { compareCodeUnits } from '../kube/store';
import { invalid } from './errors';

/** One sorted bucket of the list: its namespace and its entries. */
export interface Segment {
  namespace: string;
  entries: readonly SortedEntry[];
}

/** A decoded cursor: the position (namespace, sort key, store key) of one object. */
export interface Position {
  namespace: string;
  sort: string;
  key: string;
}

/** Relay connection arguments (null and undefined mean absent). */
export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/** A page of store keys, with a cursor per key and what the connection's pageInfo needs. */
export interface KeyPage {
  keys: string[];
  cursors: string[];
  /** Objects in the whole list (all segments), not only the page. */
  totalCount: number;
  /** Objects after the page's last one. */
  remaining: number;
  hasNextPage: boolean;
  hasPreviousPage: boolean;
}

/** Page-size bounds: `defaultSize` when neither first nor last is given, never more than `maxSize`. */
export interface PageBounds {
  defaultSize: number;
  maxSize: number;
}

/** GraphQL connections: 20 by default (Pothos' Relay default), at most 1000 per page. */
export const CONNECTION_BOUNDS: PageBounds = { defaultSize: 20, maxSize: 1000 };

/**
 * REST lists: without `limit` the whole list when it has at most 1000 items, else its first 1000
 * and `metadata.continue`; `limit` above 1000 is served as 1000 (a server may return fewer than
 * `limit`, as the Kubernetes API may).
 */
export const REST_LIST_BOUNDS: PageBounds = { defaultSize: 1000, maxSize: 1000 };

const CURSOR_VERSION = 'k1';

/** The opaque cursor of a position. */
export function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, p.namespace, p.sort, p.key])).toString('base64url');
}

/**
 * The position a cursor names.
 * @throws ValidationError naming `field` when it is not a cursor this service issued.
 */
export function decodeCursor(cursor: string, field: string): Position {
  let v: unknown;
  try {
    if (cursor.length > 2048) throw new Error('too long');
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid(field, 'is not a cursor this service issued (pass back an endCursor, startCursor or cursor as received)');
  }
  if (!Array.isArray(v) || v.length !== 4 || v[0] !== CURSOR_VERSION || !v.slice(1).every((x) => typeof x === 'string')) {
    throw invalid(field, 'is not a cursor this service issued (pass back an endCursor, startCursor or cursor as received)');
  }
  return { namespace: v[1], sort: v[2], key: v[3] };
}

function compareEntry(e: SortedEntry, p: Position): number {
  return compareCodeUnits(e.sort, p.sort) || compareCodeUnits(e.key, p.key);
}

/** Number of entries of `entries` ordered before `p` (`inclusive`: before or at `p`). */
function rank(entries: readonly SortedEntry[], p: Position, inclusive: boolean): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareEntry(entries[mid]!, p);
    if (c < 0 || (inclusive && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The global index of the first object after (`inclusive`) or at-or-after `p` in the concatenation of `segs`. */
function globalRank(segs: readonly Segment[], p: Position, inclusive: boolean): number {
  let n = 0;
  for (const s of segs) {
    const c = compareCodeUnits(s.namespace, p.namespace);
    if (c < 0) n += s.entries.length;
    else if (c === 0) return n + rank(s.entries, p, inclusive);
    else return n;
  }
  return n;
}

/** A page size argument: a non-negative integer. @throws ValidationError naming `field`. */
function size(v: number | null | undefined, field: string): number | undefined {
  if (v === null || v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 0) throw invalid(field, `must be a non-negative integer (got ${v})`);
  return v;
}

/**
 * The page of `segments` (sorted by namespace; each sorted) that `args` asks for.
 * Relay semantics: the window is (after, before), cut to its first `first` then its last `last`;
 * hasNextPage / hasPreviousPage say whether objects exist after / before the page in the whole list.
 * @throws ValidationError naming `first`, `last`, `after` or `before`.
 */
export function pageKeys(segments: readonly Segment[], args: PageArgs, bounds: PageBounds, fields = { after: 'after', before: 'before' }): KeyPage {
  const first = size(args.first, 'first');
  const last = size(args.last, 'last');
  const after = args.after ? decodeCursor(args.after, fields.after) : undefined;
  const before = args.before ? decodeCursor(args.before, fields.before) : undefined;
  const segs = [...segments].sort((a, b) => compareCodeUnits(a.namespace, b.namespace));
  const total = segs.reduce((n, s) => n + s.entries.length, 0);
  let start = after ? globalRank(segs, after, true) : 0;
  let end = Math.max(start, before ? globalRank(segs, before, false) : total);
  if (first !== undefined) end = Math.min(end, start + Math.min(first, bounds.maxSize));
  if (last !== undefined) start = Math.max(start, end - Math.min(last, bounds.maxSize));
  if (first === undefined && last === undefined) end = Math.min(end, start + bounds.defaultSize);
  const keys: string[] = [];
  const cursors: string[] = [];
  let offset = 0;
  for (const s of segs) {
    const len = s.entries.length;
    if (offset + len > start && offset < end) {
      for (let i = Math.max(0, start - offset); i < Math.min(len, end - offset); i++) {
        const e = s.entries[i]!;
        keys.push(e.key);
        cursors.push(encodeCursor({ namespace: s.namespace, sort: e.sort, key: e.key }));
      }
    }
    offset += len;
    if (offset >= end) break;
  }
  return { keys, cursors, totalCount: total, remaining: total - end, hasNextPage: end < total, hasPreviousPage: start > 0 };
}

/**
 * REST `limit` and `continue` (query strings) as page arguments; `limit=0` or none: the default
 * (REST_LIST_BOUNDS).
 * @throws ValidationError naming `limit` (not a non-negative integer) or `continue` (not a token of this service).
 */
export function restPageArgs(query: Record<string, unknown>): PageArgs {
  const rawLimit = query.limit;
  let first: number | undefined;
  if (rawLimit !== undefined && rawLimit !== '') {
    const s = String(rawLimit);
    if (!/^[0-9]{1,9}$/.test(s)) throw invalid('limit', `must be a non-negative integer (got ${JSON.stringify(rawLimit)})`);
    // 0 means no limit, as in the Kubernetes API (the REST bound still applies).
    first = Number(s) || undefined;
  }
  const cont = query.continue;
  if (cont !== undefined && typeof cont !== 'string') throw invalid('continue', 'must be given once, as received in metadata.continue');
  if (cont) decodeCursor(cont, 'continue');
  return { first: first ?? null, after: cont || null };
}

/** The REST list answer's `metadata` (Kubernetes ListMeta's continue and remainingItemCount). */
export function restListMeta(page: KeyPage): { continue?: string; remainingItemCount?: number } {
  return page.hasNextPage ? { continue: page.cursors.at(-1)!, remainingItemCount: page.remaining } : {};
}
