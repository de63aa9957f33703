/**
 * Starts, once per test run, the local cluster (a real etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler and kwok on loopback) and the service under test
 * against it, and hands both to the tests through `inject('env')`.
 *
 * An ambient KUBECONFIG is ignored: tests never touch a real cluster by accident. To run them
 * against another cluster on purpose, set GPU_RUNTIME_TEST_KUBECONFIG (and
 * GPU_RUNTIME_TEST_KUBECTL), which must point at a disposable cluster.
 */
import type { TestProject } from 'vitest/node';
import { reapStaleTestClusters, startLocalCluster, type LocalCluster } from '../../hack/cluster/cluster';
import type { TestEnv } from './env';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  delete process.env.KUBECONFIG;
  let cluster: LocalCluster | undefined;
  let env: Omit<TestEnv, 'url'>;
  const external = process.env.GPU_RUNTIME_TEST_KUBECONFIG;
  if (external) {
    env = { kubeconfig: external, adminKubeconfig: external, kubectl: process.env.GPU_RUNTIME_TEST_KUBECTL ?? 'kubectl', auditLog: undefined, etcd: undefined };
  } else {
    reapStaleTestClusters();
    // ConfigMaps are watched from etcd (no watch cache) so informer-faults can expire a
    // resourceVersion by compacting etcd (W3); the product itself never watches ConfigMaps.
    cluster = await startLocalCluster({ name: `test-${process.pid}`, persistent: false, uncachedWatches: ['configmaps'] });
    env = { kubeconfig: cluster.operatorKubeconfig, adminKubeconfig: cluster.kubeconfig, kubectl: cluster.kubectl, auditLog: cluster.auditLog, etcd: cluster.etcd };
  }
  // The service under test, in this (the runner's) process; tests reach it over HTTP and WebSocket.
  const { startApp, loadKubeConfig } = await import('../../src/app');
  // The embedded default's development grant (anonymous: tenant in runtime-instance, stock
  // operator in runtime-stock), as `npm start` applies it, so requests without a token work there;
  // tests of authorization use real ServiceAccounts in namespaces of their own.
  if (cluster) {
    const { grantDevelopmentAccess } = await import('../../src/auth/roles');
    const { Kube } = await import('../../src/kube/resources');
    await grantDevelopmentAccess(new Kube(loadKubeConfig(cluster.kubeconfig)));
  }
  const app = await startApp({
    kubeconfig: env.kubeconfig,
    port: 0,
    prepareJobTTLSeconds: 3600,
    prepareDeadlineSeconds: 300,
    // Short decision caches and re-check period, so revocation tests end in seconds; the rate
    // limit is raised so the suite's bursts (one anonymous identity) are not throttled.
    auth: { allowedTtlMs: 2000, deniedTtlMs: 1000, tokenCacheTtlMs: 2000, recheckMs: 2000, requestsPerSecond: 5000 },
  });
  project.provide('env', { ...env, url: app.url });
  return async () => {
    await app.close();
    await cluster?.stop();
  };
}
