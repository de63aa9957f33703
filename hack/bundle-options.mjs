// The esbuild options every bundle of the service shares: the production build (hack/build.mjs)
// and the benchmarks' service harness (bench/seed.ts), so what the benchmarks measure is bundled
// as what is deployed.
//
// Packages stay in node_modules (external), but @kubernetes/client-node, compiled in tree-shaken:
// its index (and its config.js, through gen/index.js) loads every generated API client and model,
// ~94 MB of RSS and 34 MB of heap, for the KubeConfig, Watch, loadAllYaml and ApiException we use
// (issue 14; README "Controller throughput and memory"). Its own dependencies that are also ours
// (undici, ws) stay external, so one copy of each is loaded.
import { readFileSync } from 'node:fs';

/** Production dependencies compiled into the bundle instead of loaded from node_modules. */
export const BUNDLED = new Set(['@kubernetes/client-node']);

/** Imports of bundled code that may fail at run time by design (debug's `try { require('supports-color') }`). */
export const OPTIONAL = new Set(['supports-color']);

/**
 * esbuild options for an ESM bundle for Node 22 rooted at `root` (the repository, with its
 * package.json): every production dependency external but {@link BUNDLED}.
 * @param {string} root
 */
export function bundleOptions(root) {
  const dependencies = Object.keys(JSON.parse(readFileSync(`${root}/package.json`, 'utf8')).dependencies ?? {});
  return {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    external: dependencies.filter((p) => !BUNDLED.has(p)),
    legalComments: 'none',
    // Bundled CommonJS modules (client-node's socks, form-data, …) require Node's builtins; ESM
    // has no `require`, so give the bundle one.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  };
}
