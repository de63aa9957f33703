// Production build (npm run build): bundles src/main.ts and every relative import into
// dist/main.js (ESM, Node 22) with esbuild, leaving packages in node_modules external, so
// `npm ci --omit=dev && node dist/main.js` runs with the production dependencies only.
//
// One package is bundled, tree-shaken: @kubernetes/client-node (hack/bundle-options.mjs says why).
//
// Why a bundle and not plain tsc output: the sources import relative modules without file
// extensions (moduleResolution "Bundler", as tsx and vitest resolve them); Node's ESM loader
// does not, so tsc's emit would not run. Type checking stays `npm run typecheck` (tsc --noEmit).
//
// The local development cluster (hack/cluster/cluster.ts, imported dynamically by src/main.ts
// when neither KUBECONFIG nor KUBERNETES_SERVICE_HOST is set) is left out of the bundle: in
// production that path fails with a clear message instead of trying to build Kubernetes.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { BUNDLED, OPTIONAL, bundleOptions } from './bundle-options.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
rmSync(`${root}/dist`, { recursive: true, force: true });


const devOnly = {
  name: 'dev-only',
  setup(b) {
    b.onResolve({ filter: /\/hack\/cluster\/cluster$/ }, (args) => ({ path: args.path, external: true }));
  },
};

const result = await build({
  ...bundleOptions(root),
  entryPoints: ['src/main.ts'],
  outfile: 'dist/main.js',
  sourcemap: 'linked',
  sourcesContent: false,
  plugins: [devOnly],
  metafile: true,
});
const out = result.metafile.outputs['dist/main.js'];

// Every package the bundle imports must be a production dependency, or `npm ci --omit=dev`
// would leave it out.
const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
const packages = new Set(
  out.imports
    .filter((i) => i.external && !i.path.startsWith('node:') && !i.path.startsWith('.') && !builtinModules.includes(i.path) && !OPTIONAL.has(i.path))
    .map((i) => (i.path.startsWith('@') ? i.path.split('/').slice(0, 2).join('/') : i.path.split('/')[0])),
);
const missing = [...packages].filter((p) => !(p in (pkg.dependencies ?? {})));
if (missing.length) {
  process.stderr.write(`build: dist/main.js imports ${missing.join(', ')}, not in package.json "dependencies" (npm ci --omit=dev would not install it)\n`);
  process.exit(1);
}
process.stdout.write(`dist/main.js: ${(out.bytes / 1024).toFixed(0)} KiB from ${Object.keys(out.inputs).length} modules; external packages: ${packages.size}, all in dependencies; bundled: ${[...BUNDLED].join(', ')}\n`);
