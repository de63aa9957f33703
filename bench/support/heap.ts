/**
 * What holds a V8 heap: a `.heapsnapshot` file (Node's `--heapsnapshot-signal`, the format Chrome
 * DevTools reads) summed by node type and constructor name, by self size (the bytes the object
 * itself takes, not what it retains). Enough to tell informer copies (Object, Array), strings
 * (JSON texts, names), closures and code apart (issue 14).
 */
import { readFileSync } from 'node:fs';

/** One group of the heap: every node of one type and name. */
export interface HeapGroup {
  /** V8's node type: object, closure, string, concatenated string, array, code, hidden, … */
  type: string;
  /** Constructor name for objects and closures; for strings the group is `(string)`. */
  name: string;
  count: number;
  selfMB: number;
}

/** The heap by node type, and the largest groups by self size. */
export interface HeapSummary {
  totalMB: number;
  nodes: number;
  byType: Record<string, number>;
  top: HeapGroup[];
}

/**
 * Reads a heap snapshot and sums its nodes. @param top how many of the largest groups to return.
 * @throws when the file is not a V8 heap snapshot (no `snapshot.meta.node_fields`).
 */
export function summariseHeapSnapshot(file: string, top = 20): HeapSummary {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  if (iType < 0 || iName < 0 || iSize < 0) throw new Error(`${file}: not a V8 heap snapshot`);
  const groups = new Map<string, HeapGroup>();
  const byType: Record<string, number> = {};
  let total = 0;
  const n = snap.nodes.length / width;
  for (let k = 0; k < snap.nodes.length; k += width) {
    const type = types[snap.nodes[k + iType]!] ?? 'unknown';
    const size = snap.nodes[k + iSize]!;
    const name = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' ? snap.strings[snap.nodes[k + iName]!]! : `(${type})`;
    const key = `${type}\u0000${name}`;
    const g = groups.get(key) ?? { type, name, count: 0, selfMB: 0 };
    g.count++;
    g.selfMB += size;
    groups.set(key, g);
    byType[type] = (byType[type] ?? 0) + size;
    total += size;
  }
  const mb = (b: number) => Number((b / 1048576).toFixed(2));
  return {
    totalMB: mb(total),
    nodes: n,
    byType: Object.fromEntries(Object.entries(byType).sort((a, b) => b[1] - a[1]).map(([t, b]) => [t, mb(b)])),
    top: [...groups.values()]
      .sort((a, b) => b.selfMB - a.selfMB)
      .slice(0, top)
      .map((g) => ({ ...g, selfMB: mb(g.selfMB) })),
  };
}
