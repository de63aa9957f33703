/**
 * npm run bench:stalled — 1,000 graphql-ws clients that subscribe and then never read
 * (issue 12, "Many stalled subscribers"), against the production build on a fresh local cluster:
 * RSS and heap before, while 100 storages change 100 times a second, once the stalled clients
 * have been dropped (close code 4008, WS_STALL_SECONDS=10 here), and 60 s after they are gone.
 *
 * Options: --clients N (1000), --seconds S (30: how long the changes run).
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { WebSocket } from 'ws';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import pLimit from 'p-limit';
import { Kube, R } from '../src/kube/resources';
import { grantDevelopmentAccess } from '../src/auth/roles';
import type { GPUStorage } from '../src/api/types';
import { benchCluster, repoRoot, startService } from './support/service';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const CLIENTS = Number(arg('clients', '1000'));
const SECONDS = Number(arg('seconds', '30'));
const NS = 'runtime-instance';
const OBJECTS = 100;
const QUERY = `subscription { storagesChanged(namespace: "${NS}") { type storage { name phase resourceVersion message conditions { type status reason message } } } }`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function memory(url: string): Promise<{ rssMB: number; heapUsedMB: number; heapTotalMB: number; externalMB: number; subscriptions: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const num = (re: RegExp) => Number(text.match(re)?.[1] ?? NaN);
  return {
    rssMB: num(/^process_resident_memory_bytes ([\d.e+]+)/m) / 2 ** 20,
    heapUsedMB: num(/^nodejs_heap_size_used_bytes ([\d.e+]+)/m) / 2 ** 20,
    heapTotalMB: num(/^nodejs_heap_size_total_bytes ([\d.e+]+)/m) / 2 ** 20,
    externalMB: num(/^nodejs_external_memory_bytes ([\d.e+]+)/m) / 2 ** 20,
    subscriptions: num(/^gpu_runtime_subscriptions\{kind="GPUStorage"\} (\d+)/m) || 0,
  };
}

const cluster = await benchCluster('stalled', { nodes: 1 });
const kc = new KubeConfig();
kc.loadFromFile(cluster.kubeconfig);
const kube = new Kube(kc);
await grantDevelopmentAccess(kube);
const svc = await startService(cluster.operatorKubeconfig, { WS_STALL_SECONDS: '10', RATE_LIMIT_PER_SECOND: '0', MAX_SUBSCRIPTIONS_PER_IDENTITY: String(CLIENTS * 2) });
const limit = pLimit(20);
await Promise.all(
  Array.from({ length: OBJECTS }, (_, i) =>
    limit(() =>
      kube.create(R.storage, {
        apiVersion: 'runtime.lokiwager.io/v1alpha1',
        kind: 'GPUStorage',
        metadata: { name: `o-${i}`, namespace: NS },
        spec: { size: '1Gi', storageClassName: 'rook-ceph-block', prepare: { fromImage: 'busybox:1.36', args: ['true'] } },
      } as GPUStorage & KubernetesObject),
    ),
  ),
);
await sleep(10_000); // prepares done
const baseline = await memory(svc.url);

// 1,000 clients: connect, subscribe, receive the first message, then stop reading.
const clients: { ws: WebSocket }[] = [];
await Promise.all(
  Array.from({ length: CLIENTS }, () =>
    limit(async () => {
      const ws = new WebSocket(`${svc.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
      clients.push({ ws });
      await new Promise((r) => ws.once('open', r));
      const first = new Promise<void>((r) =>
        ws.on('message', (d) => {
          const m = JSON.parse(String(d)) as { type: string };
          if (m.type === 'connection_ack') ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: QUERY } }));
          if (m.type === 'next') r();
        }),
      );
      ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
      await first;
      (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    }),
  ),
);
const connected = await memory(svc.url);

// 100 changes a second for SECONDS seconds.
let changes = 0;
let peak = connected;
const started = Date.now();
while (Date.now() - started < SECONDS * 1000) {
  const tick = Date.now();
  await Promise.all(Array.from({ length: 100 }, (_, k) => limit(() => kube.patch(R.storage, NS, `o-${(changes + k) % OBJECTS}`, { metadata: { annotations: { n: String(changes + k) } } }, 'merge'))));
  changes += 100;
  const m = await memory(svc.url);
  if (m.rssMB > peak.rssMB) peak = m;
  await sleep(Math.max(0, 1000 - (Date.now() - tick)));
}
const during = await memory(svc.url);
// The stalled clients are dropped (4008) within WS_STALL_SECONDS plus a check interval.
await sleep(15_000);
const afterDrop = await memory(svc.url);
// The clients read nothing, so they never see the close frame: count the server's own drops.
const droppedWith4008 = Number((await (await fetch(`${svc.url}/metrics`)).text()).match(/^gpu_runtime_subscriptions_slow_consumers_dropped_total (\d+)/m)?.[1] ?? 0);
for (const c of clients) c.ws.terminate();
await sleep(60_000);
const afterGone = await memory(svc.url);
await svc.stop();
await cluster.stop();

const perSubscriberKiB = ((peak.rssMB - baseline.rssMB) * 1024) / CLIENTS;
const result = {
  benchmark: 'stalled-subscribers',
  date: new Date().toISOString(),
  machine: `${(await import('node:os')).cpus().length} cores, ${Math.round((await import('node:os')).totalmem() / 2 ** 30)} GiB, ${process.platform}`,
  clients: CLIENTS,
  objects: OBJECTS,
  changes,
  seconds: SECONDS,
  baseline,
  connected,
  peak,
  during,
  afterDrop,
  afterGone,
  droppedWith4008,
  perSubscriberKiB,
  rssAfterGoneVsBaselinePercent: ((afterGone.rssMB - baseline.rssMB) / baseline.rssMB) * 100,
  heapAfterGoneVsBaselinePercent: ((afterGone.heapUsedMB - baseline.heapUsedMB) / baseline.heapUsedMB) * 100,
};
mkdirSync(resolve(repoRoot, 'bench/results'), { recursive: true });
writeFileSync(resolve(repoRoot, 'bench/results/stalled-subscribers.json'), JSON.stringify(result, null, 2) + '\n');
console.table(
  Object.fromEntries(['baseline', 'connected', 'peak', 'during', 'afterDrop', 'afterGone'].map((k) => [k, (result as unknown as Record<string, object>)[k]])),
);
console.log(`dropped with 4008: ${droppedWith4008}/${CLIENTS}; ${perSubscriberKiB.toFixed(1)} KiB RSS per stalled subscriber at the peak; RSS after they are gone ${result.rssAfterGoneVsBaselinePercent.toFixed(1)} % over the baseline, heap ${result.heapAfterGoneVsBaselinePercent.toFixed(1)} %`);
process.exit(0);
