/**
 * The built OCI image runs under a real OCI runtime (runc) and does its job under the deploy
 * ServiceAccount's least-privilege token:
 *
 * - hack/image/build.sh builds the image (cached by its inputs, so only the first run pays);
 * - a cluster of its own (the same local cluster as the suite's, started here) gets deploy/
 *   applied (`kubectl apply -k deploy/`): CRDs, namespaces, the ServiceAccount and its roles;
 * - the image runs as uid 65532 with a read-only root filesystem, no capabilities, on the host
 *   network, with a kubeconfig holding only a TokenRequest token of gpu-runtime-system/gpu-runtime;
 * - through its REST API a stock operator seeds stock and a tenant creates a storage (Ready),
 *   recovers it, mounts it in a unit, deletes both;
 * - the API server's audit log shows the ServiceAccount's writes and not one 403 for it.
 *
 * GPU_RUNTIME_RBAC_DROP=<Kind>/<name>#<index> removes that rule of deploy/rbac/operator.yaml after
 * applying it, and the test then fails fast at the first refusal (a 403 in the audit log or in the
 * service's log): hack/rbac-minimality.ts runs it once per rule to show no rule is dead weight.
 *
 * A cluster of its own because the suite's cluster already has a reconciling service (the one of
 * test/support/global-setup.ts, in the runner's process): there a storage going Ready would not
 * prove that the container reconciled it. Here nothing else writes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { freePort, startLocalCluster, type LocalCluster } from '../../hack/cluster/cluster';
import { buildImage, containerUnavailable, runImage, type Container } from '../support/container';
import { uniq } from '../support/env';
import { restAt } from '../support/http';

const execFileAsync = promisify(execFile);
const deployDir = fileURLToPath(new URL('../../deploy/', import.meta.url));
const SA_USER = 'system:serviceaccount:gpu-runtime-system:gpu-runtime';
const TAG = `gpu-runtime:${JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')).version}`;
const seed = { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: ['echo seeded > /workspace/README.txt'] };

const unavailable = containerUnavailable();
if (unavailable) console.warn(`image.test.ts skipped: ${unavailable}`);


interface AuditEvent {
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number; message?: string };
  annotations?: Record<string, string>;
  stage: string;
}

/** The rule GPU_RUNTIME_RBAC_DROP names, if any: `ClusterRole/gpu-runtime#3`, `Role/gpu-runtime-leader-election#0`. */
const DROP = process.env.GPU_RUNTIME_RBAC_DROP ? /^(ClusterRole|Role)\/([\w.-]+)#(\d+)$/.exec(process.env.GPU_RUNTIME_RBAC_DROP) : undefined;
if (process.env.GPU_RUNTIME_RBAC_DROP && !DROP) throw new Error(`GPU_RUNTIME_RBAC_DROP=${process.env.GPU_RUNTIME_RBAC_DROP}: want <ClusterRole|Role>/<name>#<rule index>`);

function serviceAccountEvents(auditLog: string): AuditEvent[] {
  const lines = readFileSync(auditLog, 'utf8').split('\n');
  lines.pop(); // the last line is either empty or still being written
  return lines
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((e) => e.stage === 'ResponseComplete' && e.user.username === SA_USER);
}

/**
 * A 403 the API server gave the ServiceAccount. A proxied request (services/proxy) that RBAC
 * allowed carries the answer of what it reached, which may be a 403 of its own: not a refusal.
 */
const isRefusal = (e: AuditEvent) => e.responseStatus?.code === 403 && e.annotations?.['authorization.k8s.io/decision'] !== 'allow';

const describeEvent = (e: AuditEvent) => `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}${e.objectRef?.namespace ? ` in ${e.objectRef.namespace}` : ''}`;

describe.skipIf(unavailable)('the OCI image under runc, as the deploy ServiceAccount', () => {
  let cluster: LocalCluster;
  let container: Container;
  let url: string;
  let tenantToken: string;
  let opsToken: string;
  const tenantNs = uniq('team-img');
  const timings: Record<string, number> = {};

  const k = async (...args: string[]) => (await execFileAsync(cluster.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, ...args], { maxBuffer: 16 << 20 })).stdout;
  const api = (token: string, method: string, path: string, body?: unknown) => restAt(url, method, path, body, { authorization: `Bearer ${token}` });

  /** Throws at once when the API server refused the ServiceAccount anything, or the container died. */
  const assertNoRefusal = () => {
    const refused = serviceAccountEvents(cluster.auditLog).filter(isRefusal);
    if (refused.length) throw new Error(`403 for ${SA_USER} in the audit log: ${[...new Set(refused.map(describeEvent))].join(', ')} (${refused[0]!.responseStatus?.message})`);
    const line = container?.output().split('\n').find((l) => /"code":403|not permitted/.test(l));
    if (line) throw new Error(`the service was refused: ${line}`);
    if (container && container.child.exitCode !== null) throw new Error(`the container exited with ${container.child.exitCode}:\n${container.output()}`);
  };
  /** Polls `fn` until it is truthy (errors of `fn` are retried), failing fast on a refusal. */
  const until = async <T,>(fn: () => Promise<T>, what: string, timeoutMs = 90_000): Promise<NonNullable<T>> => {
    const deadline = Date.now() + timeoutMs;
    let lastErr: unknown;
    for (;;) {
      assertNoRefusal();
      try {
        const v = await fn();
        if (v) return v as NonNullable<T>;
      } catch (err) {
        lastErr = err;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}\ncontainer output:\n${container?.output().slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const expectOk = (res: { status: number; body: unknown }, status: number) => {
    assertNoRefusal();
    expect(res.status, JSON.stringify(res.body)).toBe(status);
  };

  beforeAll(async () => {
    const [image, started] = await Promise.all([
      buildImage(),
      (async () => {
        const t0 = Date.now();
        const c = await startLocalCluster({ name: `image-${process.pid}`, persistent: false, log: () => undefined });
        timings.clusterMs = Date.now() - t0;
        return c;
      })(),
    ]);
    cluster = started;
    timings.imageBuildMs = image.ms;

    // deploy/ as a platform team applies it; the Deployment's own pods are not wanted here.
    await k('apply', '-k', deployDir);
    await k('scale', 'deployment/gpu-runtime', '-n', 'gpu-runtime-system', '--replicas=0');
    if (DROP) {
      const [, kind, roleName, index] = DROP;
      const ns = kind === 'Role' ? ['-n', roleName === 'gpu-runtime-operation-leases' ? 'runtime-stock' : 'gpu-runtime-system'] : [];
      const role = JSON.parse(await k('get', kind!.toLowerCase(), roleName!, ...ns, '-o', 'json'));
      const [dropped] = role.rules.splice(Number(index), 1);
      if (!dropped) throw new Error(`${kind}/${roleName} has no rule ${index}`);
      console.log(`dropped ${kind}/${roleName} rule ${index}: ${JSON.stringify(dropped)}`);
      const file = join(dirname(cluster.kubeconfig), 'dropped-role.json');
      writeFileSync(file, JSON.stringify(role));
      await k('replace', '-f', file);
    }
    const saToken = (await k('create', 'token', 'gpu-runtime', '-n', 'gpu-runtime-system', '--duration=1h')).trim();

    // A tenant and a stock operator, bound with the ClusterRoles of deploy/rbac.
    await k('create', 'namespace', tenantNs);
    await k('create', 'serviceaccount', 'app', '-n', tenantNs);
    await k('create', 'rolebinding', 'app-gpu', '--clusterrole=gpu-runtime-tenant', `--serviceaccount=${tenantNs}:app`, '-n', tenantNs);
    await k('create', 'serviceaccount', 'ops', '-n', 'runtime-stock');
    await k('create', 'rolebinding', 'ops-gpu', '--clusterrole=gpu-runtime-stock-operator', '--serviceaccount=runtime-stock:ops', '-n', 'runtime-stock');
    tenantToken = (await k('create', 'token', 'app', '-n', tenantNs, '--duration=1h')).trim();
    opsToken = (await k('create', 'token', 'ops', '-n', 'runtime-stock', '--duration=1h')).trim();

    // The service's kubeconfig: the API server, its CA, and the ServiceAccount's token only.
    const admin = new KubeConfig();
    admin.loadFromFile(cluster.kubeconfig);
    const c = admin.getCurrentCluster()!;
    const ca = c.caData ?? readFileSync(c.caFile!).toString('base64');
    const kubeconfig = join(dirname(cluster.kubeconfig), 'gpu-runtime-sa.kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'local', cluster: { server: cluster.server, 'certificate-authority-data': ca } }],
        users: [{ name: 'gpu-runtime', user: { token: saToken } }],
        contexts: [{ name: 'gpu-runtime', context: { cluster: 'local', user: 'gpu-runtime', namespace: 'gpu-runtime-system' } }],
        'current-context': 'gpu-runtime',
      }),
      { mode: 0o644 },
    );

    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const t0 = Date.now();
    container = await runImage({
      layout: image.layout,
      tag: TAG,
      kubeconfig,
      env: [`PORT=${port}`, 'HOST=127.0.0.1', 'POD_NAMESPACE=gpu-runtime-system', 'LEADER_ELECTION_NAMESPACE=gpu-runtime-system', 'PREPARE_DEADLINE_SECONDS=300'],
    });
    await until(async () => (await fetch(`${url}/api/v1/health`)).ok, 'the container serves /api/v1/health', 60_000);
    timings.containerStartMs = Date.now() - t0;
  }, 600_000);

  afterAll(async () => {
    console.log(`image.test.ts timings: ${JSON.stringify(timings)}`);
    await container?.stop();
    if (cluster) {
      await cluster.stop();
      if (existsSync(cluster.dir)) rmSync(cluster.dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('runs as uid 65532 on a read-only root filesystem', async () => {
    const out = await container.exec(
      '/usr/local/bin/node',
      '-e',
      "let w; try { require('fs').writeFileSync('/app/x', ''); w = 'writable'; } catch (e) { w = e.code; } console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), w, v: process.version }))",
    );
    expect(JSON.parse(out)).toMatchObject({ uid: 65532, gid: 65532, w: 'EROFS', v: expect.stringMatching(/^v22\./) });
  });

  it('seeds stock, takes a storage to Ready, recovers it and mounts it in a unit, through the container', async () => {
    const t0 = Date.now();
    const specName = uniq('g1').replace('-', '.');
    const operationID = uniq('seed');
    const seeded = await api(opsToken, 'POST', '/api/v1/operator/stock-units', { operationID, specName, memory: '1Gi', gpu: 0, replicas: 1 });
    expectOk(seeded, 202);
    await until(async () => (await api(opsToken, 'GET', `/api/v1/operator/jobs/${operationID}`)).body?.data?.status === 'succeeded', 'stock seeded', 90_000);
    await until(async () => {
      const units = ((await api(opsToken, 'GET', `/api/v1/operator/stock-units?specName=${specName}`)).body?.data ?? []) as { phase: string }[];
      return units.length === 1 && units[0]!.phase === 'Ready';
    }, 'stock unit Ready', 90_000);

    const name = uniq('img-store');
    const created = await api(tenantToken, 'POST', '/api/v1/gpu-storages', { name, namespace: tenantNs, size: '1Gi', prepare: seed });
    expectOk(created, 201);
    await until(async () => (await api(tenantToken, 'GET', `/api/v1/gpu-storages/${name}?namespace=${tenantNs}`)).body?.data?.phase === 'Ready', 'storage Ready', 90_000);
    timings.storageReadyMs = Date.now() - t0;
    const live = JSON.parse(await k('get', 'gpustorage', name, '-n', tenantNs, '-o', 'json'));
    expect(live.status.phase).toBe('Ready');
    // The accessor on: its Deployment and Service are applied; a resize reads the storage class
    // (allowVolumeExpansion); the accessor off: both are deleted.
    const children = async () => (await k('get', 'deployments,services', '-n', tenantNs, '-l', 'app.kubernetes.io/managed-by=gpu-runtime-operator', '-o', 'name')).trim().split('\n').filter(Boolean);
    expectOk(await api(tenantToken, 'PUT', `/api/v1/gpu-storages/${name}?namespace=${tenantNs}`, { accessor: { enabled: true } }), 200);
    await until(async () => (await children()).length === 2, 'accessor Deployment and Service', 60_000);
    // Browsing its files: the service reads through the API server's service proxy under its own
    // identity (services/proxy get), which RBAC must allow (the audit log's decision; a refusal
    // fails assertNoRefusal). kwok's pods serve nothing: what answers at a simulated pod IP depends
    // on the machine's network (nothing, or a middlebox's 403/404), so the answer is one of the
    // accessor's failures, never the 500 of a refused proxy.
    await until(async () => (await api(tenantToken, 'GET', `/api/v1/gpu-storages/${name}?namespace=${tenantNs}`)).body?.data?.accessorStatus?.phase === 'Ready', 'accessor Ready', 60_000);
    const files = await api(tenantToken, 'GET', `/api/v1/gpu-storages/${name}/files/?namespace=${tenantNs}`);
    assertNoRefusal();
    expect([404, 409, 503], JSON.stringify(files.body)).toContain(files.status);
    await until(async () => serviceAccountEvents(cluster.auditLog).some((e) => e.objectRef?.subresource === 'proxy' && e.annotations?.['authorization.k8s.io/decision'] === 'allow'), 'the proxied GET, authorized, in the audit log', 10_000);
    expectOk(await api(tenantToken, 'PUT', `/api/v1/gpu-storages/${name}?namespace=${tenantNs}`, { size: '2Gi' }), 200);
    expectOk(await api(tenantToken, 'PUT', `/api/v1/gpu-storages/${name}?namespace=${tenantNs}`, { accessor: { enabled: false } }), 200);
    await until(async () => (await children()).length === 0, 'accessor removed', 60_000);

    const recovered = await api(tenantToken, 'POST', `/api/v1/gpu-storages/${name}/recover?namespace=${tenantNs}`);
    expectOk(recovered, 200);
    await until(async () => (await api(tenantToken, 'GET', `/api/v1/gpu-storages/${name}?namespace=${tenantNs}`)).body?.data?.prepareStatus?.recoveryPhase === 'Succeeded', 'recover done', 90_000);

    const unit = uniq('img-unit');
    const u = await api(tenantToken, 'POST', '/api/v1/gpu-units', { operationID: uniq('op'), name: unit, namespace: tenantNs, specName, image: 'python:3.12', storageMounts: [{ name, mountPath: '/data' }] });
    expectOk(u, 201);
    await until(async () => (await api(tenantToken, 'GET', `/api/v1/gpu-units/${unit}?namespace=${tenantNs}`)).body?.data?.phase === 'Ready', 'unit Ready', 90_000);
    expectOk(await api(tenantToken, 'DELETE', `/api/v1/gpu-units/${unit}?namespace=${tenantNs}`), 204);
    await until(async () => !(await k('get', 'gpuunits', '-n', tenantNs, '-o', 'name')).trim(), 'unit gone', 60_000);
    expectOk(await api(tenantToken, 'DELETE', `/api/v1/gpu-storages/${name}?namespace=${tenantNs}`), 204);
    await until(async () => !(await k('get', 'gpustorages', '-n', tenantNs, '-o', 'name')).trim(), 'storage gone', 60_000);
    assertNoRefusal();
  });

  it("the audit log shows the ServiceAccount's writes and not one 403 for it", async () => {
    await new Promise((r) => setTimeout(r, 1000)); // the audit backend writes in batches
    const mine = serviceAccountEvents(cluster.auditLog);
    const forbidden = mine.filter(isRefusal);
    expect(forbidden.map(describeEvent)).toEqual([]);
    const did = new Set(mine.map((e) => `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`));
    for (const w of ['create gpustorages', 'patch gpustorages', 'update gpustorages/status', 'create jobs', 'patch persistentvolumeclaims', 'patch deployments', 'delete deployments', 'delete services', 'create events', 'create tokenreviews', 'create subjectaccessreviews', 'create gpuoperations', 'update gpuoperations/status', 'update gpuunits', 'update gpuunits/status', 'create leases', 'update leases']) {
      expect(did, `the ServiceAccount did ${w}`).toContain(w);
    }
    // And the service never logged a refusal (reads are not in the audit log; the service logs a 403 it tolerates).
    expect(container.output()).not.toMatch(/not permitted|forbidden/i);
  });
});
