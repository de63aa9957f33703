/**
 * Client-side flow control against the API server's Priority and Fairness (issue 13): a priority
 * level of three seats that rejects what it cannot seat (429 + Retry-After), one ServiceAccount
 * mapped to it, and the three ways of sending a burst of 120 requests as that account:
 * - raw, concurrently, without our client: the API server answers some with 429 (the positive
 *   control: the level really rejects);
 * - through kubeRequest with the client-side limit off: every request succeeds, the 429s are
 *   retried after Retry-After (rest_client_request_retries_total counts them);
 * - through kubeRequest under a client-side limit (4/s, burst 1): no 429 at all, and the burst
 *   takes the time the limit says.
 * And a Lease request of an unthrottled client (leader election) passes a throttled queue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { fetch, Agent } from 'undici';
import { kubeRequest } from '../../src/kube/http';
import { restRetries } from '../../src/kube/metrics';
import { Kube, type Resource } from '../../src/kube/resources';
import { setClientRateLimit } from '../../src/kube/throttle';
import { adminKube, kubectl, serviceAccountToken, testEnv, uniq } from '../support/env';

const PLC: Resource = { apiVersion: 'flowcontrol.apiserver.k8s.io/v1', kind: 'PriorityLevelConfiguration', plural: 'prioritylevelconfigurations', namespaced: false };
const FS: Resource = { apiVersion: 'flowcontrol.apiserver.k8s.io/v1', kind: 'FlowSchema', plural: 'flowschemas', namespaced: false };

const BURST = 120;

describe('flow control: 429 from Priority and Fairness', () => {
  const ns = uniq('apf');
  const level = uniq('tiny');
  let token = '';
  let server = '';
  let ca = '';
  /** ConfigMaps in the namespace (ours and kube-root-ca.crt). */
  let items = 0;
  const path = () => `/api/v1/namespaces/${ns}/configmaps`;

  /** A KubeConfig of the flooding ServiceAccount (its own object: its own limiter). */
  function floodConfig(): KubeConfig {
    const admin = new KubeConfig();
    admin.loadFromFile(testEnv().adminKubeconfig);
    const cluster = admin.getCurrentCluster()!;
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [cluster], users: [{ name: 'flood', token }], contexts: [{ name: 'flood', cluster: cluster.name, user: 'flood' }], currentContext: 'flood' });
    return kc;
  }

  const retried = async () => (await restRetries.get()).values.filter((v) => v.labels.code === '429').reduce((n, v) => n + v.value, 0);

  beforeAll(async () => {
    const admin = adminKube();
    await kubectl('create', 'namespace', ns);
    await kubectl('create', 'serviceaccount', 'flood', '-n', ns);
    await kubectl('create', 'role', 'read-configmaps', '--verb=get,list', '--resource=configmaps', '-n', ns);
    await kubectl('create', 'rolebinding', 'flood-read', '--role=read-configmaps', `--serviceaccount=${ns}:flood`, '-n', ns);
    for (let i = 0; i < 20; i++) await kubectl('create', 'configmap', `c${i}`, `--from-literal=k=${'x'.repeat(2000)}`, '-n', ns);
    // Three seats (1 share of the server's concurrency), none borrowed, no queues: the rest is rejected.
    await admin.create(PLC, {
      metadata: { name: level },
      spec: { type: 'Limited', limited: { nominalConcurrencyShares: 1, lendablePercent: 0, borrowingLimitPercent: 0, limitResponse: { type: 'Reject' } } },
    } as never);
    await admin.create(FS, {
      metadata: { name: level },
      spec: {
        priorityLevelConfiguration: { name: level },
        matchingPrecedence: 100,
        distinguisherMethod: { type: 'ByUser' },
        rules: [{ subjects: [{ kind: 'ServiceAccount', serviceAccount: { name: 'flood', namespace: ns } }], resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true }] }],
      },
    } as never);
    token = await serviceAccountToken(ns, 'flood');
    items = (await admin.list({ apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true }, ns)).items.length;
    expect(items).toBeGreaterThanOrEqual(20);
    const admin2 = new KubeConfig();
    admin2.loadFromFile(testEnv().adminKubeconfig);
    server = admin2.getCurrentCluster()!.server;
    const caData = admin2.getCurrentCluster()!.caData;
    ca = caData ? Buffer.from(caData, 'base64').toString() : '';
  });

  afterAll(async () => {
    await kubectl('delete', 'flowschema', level, '--ignore-not-found', '--wait=false').catch(() => {});
    await kubectl('delete', 'prioritylevelconfiguration', level, '--ignore-not-found', '--wait=false').catch(() => {});
    await kubectl('delete', 'namespace', ns, '--wait=false').catch(() => {});
  });

  it('the priority level rejects a raw burst with 429 and Retry-After (positive control)', async () => {
    const dispatcher = new Agent({ connect: { ca } });
    // The FlowSchema takes effect when the API server's APF controller has seen it: send bursts until one is rejected.
    let rejected: { status: number; retryAfter: string | null }[] = [];
    const deadline = Date.now() + 30_000;
    while (rejected.length === 0 && Date.now() < deadline) {
      const answers = await Promise.all(
        Array.from({ length: BURST }, async () => {
          const res = await fetch(server + path(), { headers: { authorization: `Bearer ${token}` }, dispatcher });
          await res.arrayBuffer();
          return { status: res.status, retryAfter: res.headers.get('retry-after') };
        }),
      );
      expect(answers.every((a) => a.status === 200 || a.status === 429)).toBe(true);
      rejected = answers.filter((a) => a.status === 429);
    }
    await dispatcher.close();
    expect(rejected.length).toBeGreaterThan(0);
    expect(Number(rejected[0]!.retryAfter)).toBeGreaterThan(0);
  });

  it('kubeRequest without a client-side limit retries the 429s after Retry-After: every request succeeds', async () => {
    const kc = floodConfig();
    setClientRateLimit(kc, { qps: 0, burst: 0 });
    const before = await retried();
    // A fresh connection pool spreads the first burst over its TLS handshakes: burst until one is retried.
    for (let round = 0; round < 5 && (await retried()) === before; round++) {
      const lists = await Promise.all(Array.from({ length: 40 }, () => kubeRequest<{ items: unknown[] }>(kc, 'GET', path())));
      expect(lists.every((l) => l.items.length === items)).toBe(true);
    }
    expect(await retried()).toBeGreaterThan(before);
  });

  it('under a client-side limit of 4/s, burst 1, a burst meets no 429 and takes the time the limit gives', async () => {
    // 4 per second keeps fewer than the level's 3 seats busy unless a LIST takes 750 ms (the
    // suite's other files share the API server).
    const kc = floodConfig();
    setClientRateLimit(kc, { qps: 4, burst: 1 });
    const n = 10;
    const before = await retried();
    const started = Date.now();
    const lists = await Promise.all(Array.from({ length: n }, () => kubeRequest<{ items: unknown[] }>(kc, 'GET', path())));
    const seconds = (Date.now() - started) / 1000;
    expect(lists.every((l) => l.items.length === items)).toBe(true);
    expect(await retried()).toBe(before);
    // 10 requests at 4 per second after a burst of 1: at least 2.25 s.
    expect(seconds).toBeGreaterThanOrEqual(2.2);
  });

  it('an unthrottled client (leader election) is not held back by the queue of a throttled one', async () => {
    const kc = floodConfig();
    setClientRateLimit(kc, { qps: 1, burst: 1 });
    const kube = new Kube(kc);
    const cm: Resource = { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
    const queued = Array.from({ length: 4 }, () => kube.get(cm, ns, 'c0'));
    const started = Date.now();
    await kube.unthrottled().get(cm, ns, 'c1');
    expect(Date.now() - started).toBeLessThan(1000);
    const t = Date.now();
    await Promise.all(queued);
    // The throttled four: one at once, then one per second.
    expect(Date.now() - t).toBeGreaterThanOrEqual(2000);
  });
});
