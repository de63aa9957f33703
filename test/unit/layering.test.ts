/**
 * The import direction of the README's Layout: `graphql/`, `rest/` → `service/` → `api/`, `kube/`;
 * `controllers/` → `api/`, `kube/`. A rule both the service and a controller need lives in `api/`
 * (pure) or `kube/` (read off the cache), never in a controller's file. Each import of every file
 * under src/ is resolved and its folder checked against the edges forbidden here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const src = resolve(import.meta.dirname, '../../src');

/** Folder under src/ → folders under src/ it must not import from. */
const FORBIDDEN: Record<string, string[]> = {
  api: ['kube', 'auth', 'http', 'service', 'controllers', 'graphql', 'rest'],
  kube: ['auth', 'http', 'service', 'controllers', 'graphql', 'rest'],
  controllers: ['auth', 'http', 'service', 'graphql', 'rest'],
  service: ['http', 'controllers', 'graphql', 'rest'],
  graphql: ['controllers', 'rest'],
  rest: ['controllers', 'graphql'],
};

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The top folder under src/ of a path ('' for a file directly in src/). */
const topOf = (p: string) => {
  const parts = relative(src, p).split('/');
  return parts.length > 1 ? parts[0]! : '';
};

/** Relative import specifiers of a source file (static imports, re-exports and dynamic imports). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
}

describe('layering (README Layout)', () => {
  it('sees imports across folders (positive control)', () => {
    const edges = files(join(src, 'service')).flatMap((f) => importsOf(f).map((i) => topOf(resolve(dirname(f), i))));
    expect(edges).toContain('api');
    expect(edges).toContain('kube');
  });

  it('no file imports from a folder its layer must not depend on', () => {
    const violations: string[] = [];
    for (const file of files(src)) {
      const from = topOf(file);
      for (const spec of importsOf(file)) {
        const to = topOf(resolve(dirname(file), spec));
        if (FORBIDDEN[from]?.includes(to)) violations.push(`${relative(src, file)} imports ${spec} (${from}/ → ${to}/)`);
      }
    }
    expect(violations).toEqual([]);
  });
});
