/**
 * The service under test of bench/reads.ts and bench/subscriptions.ts, in a process of its own
 * (so its RSS and CPU are its own): no controllers (the benchmarks write what changes), budgets
 * opened for 1,000 subscribers of one identity. Prints `URL <url>` once serving. On SIGUSR2 it
 * collects garbage (when started with --expose-gc) and prints one line
 * `STATS {"rssMiB":…,"heapUsedMiB":…,"api":{…}}`: `api` counts every request it sent to
 * kube-apiserver since start, by kind — `probe` (GET /readyz), `authz` (TokenReview,
 * SubjectAccessReview), `watch` (informer watches), `list` (informer lists), `other` (anything
 * else: a read that missed the cache, a write) — from undici's diagnostics channel.
 * Stops on SIGTERM. Argument: the operator kubeconfig.
 */
import { subscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { startApp } from '../src/app';

const api: Record<string, number> = { probe: 0, authz: 0, watch: 0, list: 0, other: 0 };
const otherPaths: Record<string, number> = {};
let apiOrigin = '';
subscribe('undici:request:create', (m) => {
  const r = (m as { request: { origin: string | URL; method: string; path: string } }).request;
  if (!apiOrigin || String(r.origin) !== apiOrigin) return;
  const [path, query = ''] = r.path.split('?');
  const kind = path === '/readyz' ? 'probe' : /tokenreviews|subjectaccessreviews/.test(path!) ? 'authz' : /(^|&)watch=(true|1)/.test(query) ? 'watch' : r.method === 'GET' && /(^|&)limit=/.test(query) ? 'list' : 'other';
  api[kind]!++;
  if (kind === 'other') otherPaths[`${r.method} ${path}`] = (otherPaths[`${r.method} ${path}`] ?? 0) + 1;
});

process.env.LOG_LEVEL ??= 'warn';
const app = await startApp({
  kubeconfig: process.argv[2],
  port: 0,
  controllers: false,
  auth: { requestsPerSecond: 0, subscriptionsPerIdentity: 100_000, subscriptionsPerConnection: 100 },
  graphql: { maxCost: 1_000_000 },
});
apiOrigin = new URL(app.svc.kube.kc.getCurrentCluster()!.server).origin;
process.stdout.write(`URL ${app.url}\n`);
process.on('SIGUSR2', () => {
  global.gc?.();
  global.gc?.();
  const mem = process.memoryUsage();
  const cache = app.svc.cache;
  const cached = { storages: cache.storages.size, units: cache.units.size, pvcs: cache.pvcs.size };
  // RSS split as the kernel counts it: anonymous (heaps, malloc) and file-backed (the node binary's
  // code and ICU data, shared libraries: pages touched once, reclaimable, not a leak).
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (k: string) => +(Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) / 1024).toFixed(1);
  process.stdout.write(
    `STATS ${JSON.stringify({ rssMiB: +(mem.rss / 2 ** 20).toFixed(1), rssAnonMiB: kib('RssAnon'), rssFileMiB: kib('RssFile'), heapUsedMiB: +(mem.heapUsed / 2 ** 20).toFixed(1), heapTotalMiB: +(mem.heapTotal / 2 ** 20).toFixed(1), externalMiB: +(mem.external / 2 ** 20).toFixed(1), cached, api, otherPaths })}\n`,
  );
});
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
