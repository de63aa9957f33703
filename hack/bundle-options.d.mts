// Types of hack/bundle-options.mjs (plain JavaScript: hack/build.mjs runs it on node alone).
import type { BuildOptions } from 'esbuild';

/** Production dependencies compiled into the bundle instead of loaded from node_modules. */
export const BUNDLED: Set<string>;
/** Imports of bundled code that may fail at run time by design. */
export const OPTIONAL: Set<string>;
/** esbuild options for an ESM bundle for Node 22 rooted at `root`: every production dependency external but BUNDLED. */
export function bundleOptions(root: string): BuildOptions;
