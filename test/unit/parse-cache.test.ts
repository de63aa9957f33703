import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { boundedParseCaches, DOCUMENT_CACHE_MAX_CHARS } from '../../src/graphql/yoga';

describe('the GraphQL parse caches (bounded by text, not entries)', () => {
  it('keep at most DOCUMENT_CACHE_MAX_CHARS of document text whatever a client sends', () => {
    const { documentCache, errorCache } = boundedParseCaches();
    const big = (i: number) => `{ health { ${'ready '.repeat(330)} } } # ${i}`; // ~2,000 characters each
    for (let i = 0; i < 1024; i++) documentCache.set(big(i), parse(big(i)));
    expect(documentCache.calculatedSize).toBeLessThanOrEqual(DOCUMENT_CACHE_MAX_CHARS);
    expect(documentCache.size).toBeLessThan(DOCUMENT_CACHE_MAX_CHARS / 1900);
    // The most recent ones are the ones kept.
    expect(documentCache.get(big(1023))).toBeDefined();
    expect(documentCache.get(big(0))).toBeUndefined();
    for (let i = 0; i < 1000; i++) errorCache.set(`{ ${i}`, new Error('Syntax Error'));
    expect(errorCache.size).toBeLessThanOrEqual(128);
  });

  it('keep the small documents of real clients (a dashboard polls a few queries)', () => {
    const { documentCache } = boundedParseCaches();
    const queries = Array.from({ length: 200 }, (_, i) => `query Q${i} { storages(first: 20) { edges { node { name phase } } } }`);
    for (const q of queries) documentCache.set(q, parse(q));
    expect(queries.every((q) => documentCache.get(q))).toBe(true);
  });
});
