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
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { reapStaleTestClusters, startLocalCluster, type LocalCluster } from '../../hack/cluster/cluster';
import type { TestEnv } from './env';
import { auditLines } from './audit';

const run = promisify(execFile);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  delete process.env.KUBECONFIG;
  let cluster: LocalCluster | undefined;
  let env: Omit<TestEnv, 'url'>;
  const external = process.env.GPU_RUNTIME_TEST_KUBECONFIG;
  if (external) {
    env = { kubeconfig: external, adminKubeconfig: external, kubectl: process.env.GPU_RUNTIME_TEST_KUBECTL ?? 'kubectl', auditLog: undefined, etcd: undefined, operatorUser: 'unknown' };
  } else {
    reapStaleTestClusters();
    // ConfigMaps are watched from etcd (no watch cache) so informer-faults can expire a
    // resourceVersion by compacting etcd (W3); the product itself never watches ConfigMaps.
    cluster = await startLocalCluster({ name: `test-${process.pid}`, persistent: false, uncachedWatches: ['configmaps'] });
    // The service runs as it does when installed with deploy/: under the ServiceAccount
    // gpu-runtime with exactly the rights of deploy/rbac/operator.yaml (a TokenRequest token), not
    // as system:masters. Teardown checks the audit log for any 403 it got.
    const serviceAccount = await serviceAccountKubeconfig(cluster);
    env = { kubeconfig: serviceAccount, adminKubeconfig: cluster.kubeconfig, kubectl: cluster.kubectl, auditLog: cluster.auditLog, etcd: cluster.etcd, operatorUser: SERVICE_ACCOUNT_USER };
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
    const refused = cluster ? forbiddenAnswers(cluster.auditLog, SERVICE_ACCOUNT_USER) : [];
    await cluster?.stop();
    if (refused.length) {
      throw new Error(`the service's ServiceAccount was refused ${refused.length} request(s) during the suite (deploy/rbac/operator.yaml lacks a rule):\n${refused.slice(0, 20).join('\n')}`);
    }
  };
}

export const SERVICE_ACCOUNT_USER = 'system:serviceaccount:gpu-runtime-system:gpu-runtime';

/**
 * Applies deploy/namespaces.yaml and deploy/rbac/ (the service's ServiceAccount, ClusterRole and
 * Roles, the user roles) and writes a kubeconfig with a 12-hour TokenRequest token of the
 * ServiceAccount. @returns its path.
 */
export async function serviceAccountKubeconfig(cluster: LocalCluster): Promise<string> {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const k = async (...args: string[]) => (await run(cluster.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, ...args])).stdout;
  await k('apply', '-f', `${root}deploy/namespaces.yaml`);
  await k('apply', '-f', `${root}deploy/rbac/user-roles.yaml`, '-f', `${root}deploy/rbac/operator.yaml`);
  const token = (await k('create', 'token', 'gpu-runtime', '-n', 'gpu-runtime-system', '--duration=12h')).trim();
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.operatorKubeconfig);
  const server = kc.getCurrentCluster()!;
  kc.loadFromOptions({ clusters: [server], users: [{ name: 'gpu-runtime', token }], contexts: [{ name: 'gpu-runtime', cluster: server.name, user: 'gpu-runtime' }], currentContext: 'gpu-runtime' });
  const file = join(cluster.dir, 'service-account.kubeconfig');
  writeFileSync(file, kc.exportConfig(), { mode: 0o600 });
  return file;
}

/** Audit events of `user` answered 403, as `verb uri` lines. */
export function forbiddenAnswers(auditLog: string, user: string): string[] {
  if (!existsSync(auditLog)) return [];
  return auditLines(auditLog)
    .filter((l) => l.includes(user) && l.includes('"code":403'))
    .map((l) => JSON.parse(l) as { verb: string; requestURI: string; user: { username: string }; responseStatus?: { code?: number; message?: string } })
    // A create in a namespace being deleted is refused with 403 by NamespaceLifecycle admission,
    // not by RBAC (an Event sent after a test removed its namespace): not a missing rule.
    .filter((e) => e.user.username === user && e.responseStatus?.code === 403 && !e.responseStatus.message?.includes('because it is being terminated'))
    .map((e) => `${e.verb} ${e.requestURI}`);
}
