/**
 * Where the files the service reads at run time (crds/, deploy/rbac/user-roles.yaml) are.
 *
 * This module sits one directory below the project root (src/paths.ts), as the production bundle
 * does (dist/main.js, every module inlined there, so `import.meta.url` is the bundle's): `..`
 * from here is the project root in both layouts, under tsx and under `node dist/main.js`.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('../', import.meta.url));

/** The absolute path of `relative` (a path inside the project, e.g. `crds/`). */
export function projectPath(relative: string): string {
  return join(root, relative);
}
