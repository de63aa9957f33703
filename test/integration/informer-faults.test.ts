/**
 * The informer under the hazards of ../shared/spec/controller-runtime-notes.md, against the real
 * API server, with network faults provoked by a TCP proxy in front of it (W1 silent watch, W2
 * refused connections, W3 a resourceVersion expired by an etcd compaction, W4 no duplicate
 * watches after restarts, W6 a throwing listener, W8 a CRD not installed yet, W9 stamped kinds).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { Informer } from '../../src/kube/informer';
import { collectionPath, Kube, type Resource } from '../../src/kube/resources';
import { adminKube, eventually, testEnv, uniq } from '../support/env';
import { TcpProxy } from '../support/tcp-proxy';

const NS = 'runtime-instance';
const CM: Resource<V1ConfigMap> = { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };

function proxiedKubeConfig(port: number): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testEnv().adminKubeconfig);
  const cluster = kc.getCurrentCluster()!;
  kc.loadFromOptions({
    clusters: [{ ...cluster, server: `https://127.0.0.1:${port}` }],
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return kc;
}

describe('informer under faults', () => {
  let proxy: TcpProxy;
  const label = uniq('inf');
  const informers: Informer<V1ConfigMap>[] = [];

  beforeAll(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(testEnv().adminKubeconfig);
    const url = new URL(kc.getCurrentCluster()!.server);
    proxy = new TcpProxy(url.hostname, Number(url.port));
    await proxy.start();
  });
  afterAll(async () => {
    for (const i of informers) i.stop();
    await proxy.stop();
  });

  function informer(opts: { inactivityTimeoutMs?: number } = {}): Informer<V1ConfigMap> {
    const i = new Informer<V1ConfigMap>(proxiedKubeConfig(proxy.port), {
      path: collectionPath(CM),
      apiVersion: 'v1',
      kind: 'ConfigMap',
      labelSelector: `test=${label}`,
      ...opts,
    });
    informers.push(i);
    i.start();
    return i;
  }

  const mk = (name: string) => adminKube().create(CM, { metadata: { name, namespace: NS, labels: { test: label } }, data: { a: '1' } });

  it('stamps kind and apiVersion on listed items (W9), drops managedFields, and survives a throwing listener (W6)', async () => {
    const first = uniq('cm');
    const created = await mk(first);
    expect(created.metadata?.managedFields?.length).toBeGreaterThan(0);
    const inf = informer();
    await inf.waitForSync();
    const cached = inf.get(NS, first)!;
    expect(cached.kind).toBe('ConfigMap');
    expect(cached.apiVersion).toBe('v1');
    expect(cached.metadata?.managedFields).toBeUndefined();
    const seen: string[] = [];
    inf.on(() => {
      throw new Error('listener bug');
    });
    inf.on((e) => seen.push(`${e.type}:${e.object.metadata?.name}`));
    const second = uniq('cm');
    await mk(second);
    await eventually(() => seen.includes(`ADDED:${second}`), 'the second listener still hears events');
    expect(inf.get(NS, second)!.metadata?.managedFields).toBeUndefined();
  });

  it('restarts a watch that went silent (W1) and misses nothing', async () => {
    const inf = informer({ inactivityTimeoutMs: 2000 });
    await inf.waitForSync();
    await new Promise((r) => setTimeout(r, 500)); // the watch is open
    const restartsBefore = inf.health().restarts;
    expect(proxy.stallExisting()).toBeGreaterThan(0);
    const name = uniq('cm');
    await mk(name);
    await eventually(() => inf.get(NS, name), 'object seen after the watchdog restarted the watch', 20_000);
    expect(inf.health().restarts).toBeGreaterThan(restartsBefore);
  });

  it('retries with backoff while connections are refused (W2), recovers, and delivers each event once (W4)', async () => {
    const inf = informer();
    await inf.waitForSync();
    const added: string[] = [];
    inf.on((e) => {
      if (e.type === 'ADDED') added.push(e.object.metadata!.name!);
    });
    proxy.setRefusing(true);
    await eventually(() => inf.health().lastError, 'the informer reports the outage', 15_000);
    const during = uniq('cm');
    await mk(during);
    await new Promise((r) => setTimeout(r, 1500));
    const restartsDuringOutage = inf.health().restarts;
    expect(restartsDuringOutage).toBeGreaterThan(0);
    expect(restartsDuringOutage).toBeLessThan(15); // backoff, not a tight loop
    proxy.setRefusing(false);
    await eventually(() => inf.get(NS, during), 'object created during the outage seen after recovery', 40_000);
    const after = uniq('cm');
    await mk(after);
    await eventually(() => inf.get(NS, after), 'later object seen', 20_000);
    // Watch events arrive in order: once the later object is seen, a duplicate of the earlier one
    // would already have been delivered, so no sleep is needed before counting.
    expect(added.filter((n) => n === during)).toHaveLength(1);
    expect(added.filter((n) => n === after)).toHaveLength(1);
    expect(inf.health().lastError).toBeUndefined();
  });

  it('relists once, after a backoff, when its resourceVersion expired (W3: 410 Gone after an etcd compaction)', async (ctx) => {
    // The test cluster serves ConfigMap watches from etcd (no watch cache), so compacting etcd
    // past the informer's resourceVersion makes its next watch answer 410, as on a busy cluster.
    const etcd = testEnv().etcd;
    if (!etcd) ctx.skip(); // an external cluster: no etcd to compact
    const inf = informer();
    await inf.waitForSync();
    const before = uniq('cm');
    await mk(before);
    await eventually(() => inf.get(NS, before), 'first object seen');
    const seen: string[] = [];
    inf.on((e) => seen.push(`${e.type}:${e.object.metadata?.name}`));
    const relistsBefore = inf.health().relists;

    proxy.setRefusing(true);
    await eventually(() => inf.health().lastError, 'the informer reports the outage', 15_000);
    const during = uniq('cm');
    await mk(during);
    await adminKube().delete(CM, NS, before);
    const etcdPost = async (route: string, body: object) => {
      const res = await fetch(`${etcd}${route}`, { method: 'POST', body: JSON.stringify(body) });
      expect(res.status, `etcd ${route}`).toBe(200);
      return (await res.json()) as { header: { revision: string } };
    };
    const { header } = await etcdPost('/v3/kv/range', { key: Buffer.from('/registry/configmaps/').toString('base64'), count_only: true });
    await etcdPost('/v3/kv/compaction', { revision: header.revision, physical: true });
    proxy.setRefusing(false);

    await eventually(() => inf.get(NS, during) && !inf.get(NS, before), 'cache converged after the relist', 40_000);
    const after = uniq('cm');
    await mk(after);
    await eventually(() => inf.get(NS, after), 'the new watch delivers', 20_000);
    // Ordered delivery: everything the relist and the new watch had to say came before `after`.
    expect(inf.health().relists - relistsBefore).toBe(1);
    expect(seen.filter((e) => e === `ADDED:${during}`)).toHaveLength(1);
    expect(seen.filter((e) => e === `DELETED:${before}`)).toHaveLength(1);
  });

  it('reports a CRD that is not installed (W8) and syncs once it is', async () => {
    const group = `${uniq('t')}.lokiwager.io`;
    const kc = new KubeConfig();
    kc.loadFromFile(testEnv().adminKubeconfig);
    const inf = new Informer(kc, { path: `/apis/${group}/v1/widgets`, apiVersion: `${group}/v1`, kind: 'Widget' });
    informers.push(inf as unknown as Informer<V1ConfigMap>);
    inf.start();
    await eventually(() => inf.health().lastError?.includes('not served'), 'missing CRD reported', 15_000);
    expect(inf.hasSynced).toBe(false);
    await new Kube(kc).create({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false }, {
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    } as never);
    await eventually(() => inf.hasSynced, 'synced after the CRD appears', 60_000);
  });
});
