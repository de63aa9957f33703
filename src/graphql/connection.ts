/**
 * Relay connections over keyset pages (src/service/paging.ts): edges with opaque cursors that
 * encode the node's position (namespace, sort key, name), so a walk with first/after (or
 * last/before) never repeats or skips an object that existed during the whole walk, and
 * `totalCount` (the size of the whole filtered list: cheap, the index buckets know their sizes).
 * Page size: 20 when neither `first` nor `last` is given, at most 1000 (CONNECTION_BOUNDS); the
 * document cost limit (GRAPHQL_MAX_COST) bounds it further for literal sizes.
 */
import type { ObjectPage } from '../service/listing';

/** The connection shape Pothos resolves (edges, pageInfo) plus totalCount. */
export interface ConnectionResult<V> {
  edges: { cursor: string; node: V }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  totalCount: number;
}

/** The connection of a page of views. */
export function toConnection<V>(page: ObjectPage<V>): ConnectionResult<V> {
  const edges = page.items.map((node, i) => ({ cursor: page.cursors[i]!, node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: page.hasPreviousPage,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    totalCount: page.totalCount,
  };
}

/** Connection options adding `totalCount` (see {@link ConnectionResult}). */
export const TOTAL_COUNT_DESCRIPTION = 'Objects in the whole filtered list (every page), as the cache has them now.';

/** The totalCount of a connection built by {@link toConnection}. */
export function totalCountOf(c: unknown): number {
  return (c as ConnectionResult<unknown>).totalCount;
}
