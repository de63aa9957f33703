/**
 * What integration tests get from test/support/global-setup.ts, and small helpers over it.
 */
import { inject } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { Kube } from '../../src/kube/resources';
import { auditLines } from './audit';

export interface TestEnv {
  /** Kubeconfig of the service's identity: the ServiceAccount gpu-runtime of deploy/rbac/operator.yaml. */
  kubeconfig: string;
  /** That identity's user name in the audit log (`system:serviceaccount:gpu-runtime-system:gpu-runtime`). */
  operatorUser: string;
  /** Kubeconfig of the admin user, for test setup and assertions. */
  adminKubeconfig: string;
  kubectl: string;
  /** The API server's audit log (writes only), when the local cluster runs. */
  auditLog?: string;
  /** etcd's client URL, when the local cluster runs (ConfigMap watches bypass the watch cache there). */
  etcd?: string;
  /** Base URL of the service under test, e.g. http://127.0.0.1:40123. */
  url: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    env: TestEnv;
  }
}

export function testEnv(): TestEnv {
  return inject('env');
}

/** A typed client as the admin user (not the service's identity, so audit counts stay clean). */
export function adminKube(): Kube {
  const kc = new KubeConfig();
  kc.loadFromFile(testEnv().adminKubeconfig);
  return new Kube(kc);
}

const execFileAsync = promisify(execFile);

/** Runs the cluster's kubectl as admin and returns stdout. */
export async function kubectl(...args: string[]): Promise<string> {
  const env = testEnv();
  const { stdout } = await execFileAsync(env.kubectl, [`--kubeconfig=${env.adminKubeconfig}`, ...args]);
  return stdout;
}

/** A short random suffix for names, so tests never collide. */
export function uniq(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes; returns the value or throws with the last one. */
export async function eventually<T>(fn: () => Promise<T> | T, what: string, timeoutMs = 60_000, intervalMs = 250): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}${lastErr ? `; last error: ${String(lastErr)}` : ''}`);
}

/** The admin kubeconfig's user (hack/cluster/cluster.ts issues its certificate). */
const ADMIN_USER = 'kubernetes-admin';

/** The verbs that change something (the audit log also records the service's reads). */
const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** One audit event of a write, as {@link auditWrites} returns it. */
export interface AuditWrite {
  verb: string;
  uri: string;
  objectRef?: { resource?: string; name?: string; namespace?: string; subresource?: string };
  code?: number;
}

/**
 * Audit events of writes by `user` since `sinceMs` (epoch ms).
 * @throws when the run has no audit log (a cluster given by GPU_RUNTIME_TEST_KUBECONFIG): a check
 *   that "nothing was written" must not pass because nothing could be seen. Call
 *   {@link auditBarrier} first so every write made before it is in the file.
 */
export function auditWrites(user: string, sinceMs: number): AuditWrite[] {
  const file = testEnv().auditLog;
  if (!file || !existsSync(file)) throw new Error(`no audit log (${file ?? 'this cluster has none'}): write counts cannot be checked`);
  const lines = auditLines(file);
  lines.pop(); // the last line is either empty or still being written by the API server
  return lines
    .filter(Boolean)
    .map(
      (l) =>
        JSON.parse(l) as {
          verb: string;
          requestURI: string;
          user: { username: string };
          stageTimestamp: string;
          objectRef?: { resource?: string; name?: string; namespace?: string; subresource?: string };
          responseStatus?: { code?: number };
          stage: string;
        },
    )
    .filter((e) => e.stage === 'ResponseComplete' && WRITE_VERBS.has(e.verb) && e.user.username === user && Date.parse(e.stageTimestamp) >= sinceMs)
    .map((e) => ({ verb: e.verb, uri: e.requestURI, objectRef: e.objectRef, code: e.responseStatus?.code }));
}

/**
 * The positive control of every "writes nothing" check: makes a write of its own (a ConfigMap in
 * `default`, as the admin) and waits until {@link auditWrites} returns it, so the audit log is
 * proven live and holds every write that completed before this call.
 * @throws when the marker does not show up within 15 s.
 */
export async function auditBarrier(): Promise<void> {
  const since = Date.now() - 1000;
  const name = uniq('audit-barrier');
  await kubectl('create', 'configmap', name, '-n', 'default');
  await eventually(() => auditWrites(ADMIN_USER, since).some((w) => w.verb === 'create' && w.objectRef?.name === name), `audit event of ${name}`, 15_000, 100);
  await kubectl('delete', 'configmap', name, '-n', 'default', '--wait=false');
}

/**
 * Creates namespace `ns` as a tenant namespace that requests without a token may use: the
 * anonymous group bound to the gpu-runtime-tenant role there, as the embedded default does for
 * runtime-instance (src/auth/roles.ts).
 */
export async function createTenantNamespace(ns: string): Promise<void> {
  await kubectl('create', 'namespace', ns);
  await kubectl('create', 'rolebinding', 'anonymous-tenant', '--clusterrole=gpu-runtime-tenant', '--group=system:unauthenticated', '-n', ns);
}

/** A TokenRequest token of ServiceAccount `namespace/name` (kubectl create token), valid for an hour. */
export async function serviceAccountToken(namespace: string, name: string): Promise<string> {
  return (await kubectl('create', 'token', name, '-n', namespace, '--duration=1h')).trim();
}
