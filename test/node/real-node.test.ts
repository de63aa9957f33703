/**
 * Data really moves (issue 11, "Done when"): on a local cluster of its own with a real kubelet
 * node (hack/node/node.ts: containerd + runc, CNI bridge, images built by hack/node/images.sh),
 * nothing is simulated for storage: the prepare Job runs `busybox:1.36` with the design text's
 * exact command and writes into the volume, the accessor (nginx) serves it, the API server's
 * service proxy reaches the accessor at its pod IP, the clone's copy Job copies the bytes.
 *
 * The same flow runs on the Immediate class `rook-ceph-block` (kube-controller-manager's hostpath
 * provisioner: a directory on the machine) and on the WaitForFirstConsumer class `local-path`
 * (rancher's provisioner makes the directory on the real node with a helper pod; the PV gets node
 * affinity to it).
 *
 * Checked by digest: a tree with a dot-file, a nested directory, a symlink and a 20 MiB file is
 * prepared, cloned, and both volumes are read by a pod of the test's own (busybox: path, type,
 * mode, mtime in seconds, size, SHA-256 of the bytes, link target) through `kubectl logs` (the API
 * server asks the kubelet). busybox's `cp -a` (the copy image) keeps modes, contents, links and
 * mtimes to the second; it does not keep nanoseconds or a symlink's own mtime, so neither is compared.
 *
 * Run with `npm run test:node` (root; builds the kubelet and images once).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { reapStaleTestClusters, startLocalCluster, type LocalCluster } from '../../hack/cluster/cluster';
import { REAL_NODE_NAME } from '../../hack/node/node';
import { loadKubeConfig, startApp, type App } from '../../src/app';
import { grantDevelopmentAccess } from '../../src/auth/roles';
import { Kube } from '../../src/kube/resources';
import { eventually } from '../support/env';
import { rawGet, restAt } from '../support/http';
import type { StorageView } from '../../src/service/storage';
import { HOSTILE_PATHS } from '../support/hostile-paths';
import { forbiddenAnswers, SERVICE_ACCOUNT_USER, serviceAccountKubeconfig } from '../support/global-setup';

const run = promisify(execFile);

/** A volume path as URL path segments: dot segments raw (rawGet sends the path as written), the rest percent-encoded. */
function encodeForUrl(p: string): string {
  return p
    .replace(/^\//, '')
    .split('/')
    .map((seg) => (/^\.+$/.test(seg) ? seg : encodeURIComponent(seg)))
    .join('/');
}
const NS = 'runtime-instance';
const DESIGN_ARGS = 'mkdir -p /workspace/model && echo seeded > /workspace/model/README.txt';
/** A tree for the digest: dot-files, a nested directory, a symlink, modes, old mtimes, 20 MiB. */
const TREE_ARGS = [
  'set -e',
  'mkdir -p /workspace/model && echo seeded > /workspace/model/README.txt',
  'cd /workspace',
  'echo hidden > .hidden && chmod 0600 .hidden',
  'mkdir -p model/weights/.cache && echo "{}" > model/weights/.cache/index.json',
  'head -c 20971520 /dev/urandom > model/weights/blob.bin && chmod 0640 model/weights/blob.bin',
  'ln -s model/README.txt readme-link',
  'printf "#!/bin/sh\\necho run\\n" > model/run.sh && chmod 0755 model/run.sh',
  'touch -d "2024-02-03 04:05:06" model/README.txt .hidden model/weights',
  'echo "tree written: $(du -s /workspace | cut -f1) KiB"',
].join('\n');

describe('a real node: bytes written, served and copied', () => {
  let cluster: LocalCluster;
  let app: App;
  let pki: string;
  const kubectl = async (...args: string[]) => (await run(cluster.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, ...args], { maxBuffer: 1 << 24 })).stdout;
  const rest = <T = any>(method: string, path: string, body?: unknown) => restAt<T>(app.url, method, path, body);
  const storage = async (name: string) => (await rest<StorageView>('GET', `/api/v1/gpu-storages/${name}?namespace=${NS}`)).body!.data!;
  const whenStorage = (name: string, ok: (s: StorageView) => boolean, what: string, ms = 120_000) =>
    eventually(async () => {
      const s = await storage(name);
      return ok(s) ? s : undefined;
    }, `${name}: ${what}`, ms, 500);

  const gql = async (query: string, variables: Record<string, unknown> = {}) =>
    (await (await fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) })).json()) as {
      data?: any;
      errors?: { message: string; extensions?: { code?: string; field?: string } }[];
    };
  const FILES = `query($name: String!, $path: String!, $file: String!) { storage(name: $name) { files(path: $path) { edges { node { name path type size modifiedAt } } } file(path: $file) { path size head complete contentType modifiedAt } } }`;

  /** GET/other through the API server's service proxy to the accessor (admin client certificate). */
  const viaProxy = (svc: string, path: string, method = 'GET'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const url = `${cluster.server}/api/v1/namespaces/${NS}/services/${svc}:http/proxy${path}`;
      const req = httpsRequest(
        url,
        {
          method,
          ca: readFileSync(join(pki, 'ca.crt')),
          cert: readFileSync(join(pki, 'admin.crt')),
          key: readFileSync(join(pki, 'admin.key')),
          timeout: 15_000,
          agent: false, // one connection per request: a refused write must not leave a half-read body on a reused one
          headers: method === 'GET' || method === 'HEAD' ? {} : { 'content-type': 'text/plain', 'content-length': '1' },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        },
      );
      req.on('error', reject);
      req.end(method === 'GET' || method === 'HEAD' ? undefined : 'x');
    });

  /** The digest of a storage's tree, read by a pod of our own on the real node (kubectl logs). */
  const treeDigest = async (claim: string): Promise<{ digest: string; listing: string }> => {
    const pod = `digest-${claim}-${Date.now().toString(36)}`;
    const script = [
      'cd /vol',
      'find . ! -path . | sort | while read -r p; do',
      '  if [ -L "$p" ]; then echo "$p link $(stat -c %a "$p") $(readlink "$p")";',
      '  elif [ -f "$p" ]; then echo "$p file $(stat -c "%a %Y %s" "$p") $(sha256sum < "$p" | cut -d" " -f1)";',
      '  else echo "$p dir $(stat -c "%a %Y" "$p")"; fi',
      'done > /tmp/listing',
      'cat /tmp/listing',
      'echo "digest $(sha256sum < /tmp/listing | cut -d" " -f1)"',
    ].join('\n');
    const manifest = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: pod, namespace: NS },
      spec: {
        restartPolicy: 'Never',
        nodeSelector: { 'kubernetes.io/hostname': REAL_NODE_NAME },
        containers: [{ name: 'digest', image: 'busybox:1.36', command: ['sh', '-c', script], volumeMounts: [{ name: 'vol', mountPath: '/vol', readOnly: true }] }],
        volumes: [{ name: 'vol', persistentVolumeClaim: { claimName: claim, readOnly: true } }],
      },
    };
    await new Promise<void>((resolve, reject) => {
      const child = execFile(cluster.kubectl, [`--kubeconfig=${cluster.kubeconfig}`, 'apply', '-f', '-'], (err) => (err ? reject(err) : resolve()));
      child.stdin!.end(JSON.stringify(manifest));
    });
    await eventually(async () => {
      const phase = (await kubectl('get', 'pod', pod, '-n', NS, '-o', 'jsonpath={.status.phase}')).trim();
      if (phase === 'Failed') throw new Error(`digest pod failed: ${await kubectl('logs', pod, '-n', NS)}`);
      return phase === 'Succeeded' || undefined;
    }, `digest pod ${pod}`, 90_000, 500);
    const logs = await kubectl('logs', pod, '-n', NS);
    await kubectl('delete', 'pod', pod, '-n', NS, '--wait=false');
    const digest = /^digest ([0-9a-f]{64})$/m.exec(logs)?.[1];
    expect(digest, logs).toBeTruthy();
    return { digest: digest!, listing: logs.replace(/^digest .*$/m, '').trim() };
  };

  beforeAll(async () => {
    reapStaleTestClusters();
    cluster = await startLocalCluster({ name: `test-${process.pid}-node`, persistent: false, nodes: 1, realNode: true, log: (l) => process.stderr.write(`[node-cluster] ${l}\n`) });
    pki = join(cluster.dir, 'pki');
    await grantDevelopmentAccess(new Kube(loadKubeConfig(cluster.kubeconfig)));
    // The service under the ServiceAccount of deploy/rbac/operator.yaml, as installed (file
    // browsing needs its services/proxy rule).
    app = await startApp({ kubeconfig: await serviceAccountKubeconfig(cluster), port: 0, prepareDeadlineSeconds: 300, auth: { requestsPerSecond: 5000 } });
  }, 900_000);
  afterAll(async () => {
    await app?.close(2000);
    const refused = cluster ? forbiddenAnswers(cluster.auditLog, SERVICE_ACCOUNT_USER) : [];
    await cluster?.stop();
    expect(refused, 'requests of the service refused by the API server').toEqual([]);
  });

  // rook-ceph-block here is kube-controller-manager's hostpath provisioner, which makes each
  // volume's directory 0750 root:root: the accessor (nginx as uid 101, non-root by contract) gets
  // "Permission denied" on `/` there (403), as it would on any volume whose root it may not enter.
  // Real block storage (a fresh ext4 root is 0755) and local-path (0777) do not; so the accessor's
  // part runs on local-path only.
  for (const { storageClassName, accessor } of [
    { storageClassName: 'local-path', accessor: true },
    { storageClassName: 'rook-ceph-block', accessor: false },
  ]) {
    describe(`on ${storageClassName}`, () => {
      const sfx = storageClassName === 'local-path' ? '-lp' : '';
      const src = `model-cache${sfx}`;
      const copy = `model-cache-copy${sfx}`;
      const tree = `model-tree${sfx}`;
      const treeCopy = `model-tree-copy${sfx}`;

      it(`prepares model-cache from busybox:1.36 with the design text's command${accessor ? ' and serves its bytes through the accessor over the service proxy' : ''}`, async () => {
        const created = await rest('POST', '/api/v1/gpu-storages', {
          name: src,
          namespace: NS,
          size: '1Gi',
          storageClassName,
          prepare: { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: [DESIGN_ARGS] },
          accessor: { enabled: accessor },
        });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const ready = await whenStorage(src, (s) => s.phase === 'Ready' && (!accessor || s.accessorStatus.phase === 'Ready'), 'Ready');
        expect(ready.prepareStatus.phase).toBe('Succeeded');
        const job = (await kubectl('get', 'pods', '-n', NS, '-l', `runtime.lokiwager.io/storage-prepare=${src}`, '-o', 'jsonpath={.items[*].spec.nodeName}')).trim();
        expect(job).toBe(REAL_NODE_NAME);
        if (!accessor) {
          expect((await treeDigest(src)).listing).toMatch(/^\.\/model\/README\.txt file 644 \d+ 7 /m);
          // Browsing needs the accessor: 409, not a hang.
          const off = await rest('GET', `/api/v1/gpu-storages/${src}/files/model/README.txt?namespace=${NS}`);
          expect(off.status).toBe(409);
          expect(off.body!.error!.message).toContain('accessor');
          const g = await gql(FILES, { name: src, path: '/model', file: '/model/README.txt' });
          expect(g.errors?.[0]?.extensions?.code).toBe('OPERATION_CONFLICT');
          return;
        }
        // Through the service (REST and GraphQL), which goes through the API server's service proxy.
        const bytes = await fetch(`${app.url}/api/v1/gpu-storages/${src}/files/model/README.txt?namespace=${NS}`);
        expect(bytes.status).toBe(200);
        expect(bytes.headers.get('content-type')).toContain('text/plain');
        expect(await bytes.text()).toBe('seeded\n');
        const part = await fetch(`${app.url}/api/v1/gpu-storages/${src}/files/model/README.txt?namespace=${NS}`, { headers: { range: 'bytes=0-2' } });
        expect(part.status).toBe(206);
        expect(await part.text()).toBe('see');
        const dir = await rest('GET', `/api/v1/gpu-storages/${src}/files/model/?namespace=${NS}`);
        expect(dir.status).toBe(200);
        expect(dir.body!.data).toEqual([expect.objectContaining({ name: 'README.txt', path: '/model/README.txt', type: 'file', size: 7 })]);
        const rootDir = await rest('GET', `/api/v1/gpu-storages/${src}/files?namespace=${NS}`);
        expect(rootDir.body!.data).toEqual([expect.objectContaining({ name: 'model', path: '/model/', type: 'directory' })]);
        const g = await gql(FILES, { name: src, path: '/model', file: '/model/README.txt' });
        expect(g.errors).toBeUndefined();
        expect(g.data.storage.files.edges.map((e: any) => e.node.name)).toEqual(['README.txt']);
        expect(g.data.storage.file).toMatchObject({ path: '/model/README.txt', size: 7, head: 'seeded\n', complete: true });
        const missing = await rest('GET', `/api/v1/gpu-storages/${src}/files/model/nope.txt?namespace=${NS}`);
        expect(missing.status).toBe(404);
        expect(missing.body!.error!.code).toBe('file_not_found');
        // Hostile paths: 400, and nothing of the machine ever comes back.
        for (const p of HOSTILE_PATHS) {
          const r = await rawGet(app.url, `/api/v1/gpu-storages/${src}/files/${encodeForUrl(p)}?namespace=${NS}`);
          const text = r.body;
          expect(r.status, `REST ${JSON.stringify(p)}: ${text}`).toBe(400);
          expect(text).not.toContain('root:x:0:0');
          const q = await gql(FILES, { name: src, path: p, file: p });
          expect(q.errors?.[0]?.extensions?.code, `GraphQL ${JSON.stringify(p)}`).toBe('INVALID_REQUEST');
          expect(JSON.stringify(q)).not.toContain('root:x:0:0');
        }

        const svc = `storage-accessor-${src}`;
        const file = await viaProxy(svc, '/model/README.txt');
        expect(file.status).toBe(200);
        expect(file.body).toBe('seeded\n');
        const root = await viaProxy(svc, '/');
        expect(root.status).toBe(200);
        expect(root.body).toContain('href="model/"');
        const model = await viaProxy(svc, '/model/');
        expect(model.status).toBe(200);
        expect(model.body).toContain('href="README.txt"');
        const json = await viaProxy(svc, '/.accessor/json/model/');
        expect(json.status).toBe(200);
        const entries = JSON.parse(json.body) as { name: string; type: string; size?: number; mtime: string }[];
        expect(entries).toEqual([expect.objectContaining({ name: 'README.txt', type: 'file', size: 7 })]);
        // Read-only: no method but GET/HEAD, and the volume is mounted read-only anyway.
        for (const method of ['PUT', 'POST', 'DELETE']) {
          const w = await viaProxy(svc, '/model/README.txt', method);
          expect(w.status, `${method} through the accessor`).toBeGreaterThanOrEqual(400);
        }
        expect((await viaProxy(svc, '/model/README.txt')).body).toBe('seeded\n');
      });

      it('clones it into model-cache-copy with identical contents (digest)', async () => {
        const created = await rest('POST', '/api/v1/gpu-storages', { name: copy, namespace: NS, size: '1Gi', storageClassName, prepare: { fromStorageName: src } });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const ready = await whenStorage(copy, (s) => s.phase === 'Ready', 'clone Ready');
        expect(ready.prepareStatus.phase).toBe('Succeeded');
        const [a, b] = [await treeDigest(src), await treeDigest(copy)];
        expect(a.listing).toMatch(/^\.\/model\/README\.txt file 644 \d+ 7 /m);
        expect(b.listing).toBe(a.listing);
        expect(b.digest).toBe(a.digest);
      });

      it('clones a tree with dot-files, a symlink and a 20 MiB file with identical contents, modes and mtimes (digest)', async () => {
        const made = await rest('POST', '/api/v1/gpu-storages', {
          name: tree,
          namespace: NS,
          size: '1Gi',
          storageClassName,
          prepare: { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: [TREE_ARGS] },
          accessor: { enabled: accessor },
        });
        expect(made.status, JSON.stringify(made.body)).toBe(201);
        await whenStorage(tree, (s) => s.phase === 'Ready' && (!accessor || s.accessorStatus.phase === 'Ready'), 'Ready');
        if (accessor) {
          // The accessor does not follow a symlink of the volume; a dot-file is served by its path
          // (nginx's autoindex does not list names starting with a dot, and has no option to); a
          // root-only file (0600) is not readable by the accessor's uid 101. The running accessor
          // holds the volume, so the copy Job is pinned to its node.
          const svc = `storage-accessor-${tree}`;
          expect((await viaProxy(svc, '/readme-link')).status).toBe(403);
          const dot = await viaProxy(svc, '/model/weights/.cache/index.json');
          expect(dot.status).toBe(200);
          expect(dot.body).toBe('{}\n');
          expect((await viaProxy(svc, '/.hidden')).status).toBe(403);
          expect((await viaProxy(svc, '/')).body).toContain('href="readme-link"');
        }
        const created = await rest('POST', '/api/v1/gpu-storages', { name: treeCopy, namespace: NS, size: '1Gi', storageClassName, prepare: { fromStorageName: tree } });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const ready = await whenStorage(treeCopy, (s) => s.phase === 'Ready', 'clone Ready');
        expect(ready.prepareStatus.phase).toBe('Succeeded');
        const copyPods = (await kubectl('get', 'pods', '-n', NS, '-l', `runtime.lokiwager.io/storage-prepare=${treeCopy}`, '-o', 'jsonpath={.items[*].spec.nodeName}')).trim();
        expect(copyPods).toBe(REAL_NODE_NAME);
        if (accessor) {
          const placement = await kubectl('get', 'jobs', '-n', NS, '-l', `runtime.lokiwager.io/storage=${treeCopy}`, '-o', 'jsonpath={.items[*].metadata.annotations.runtime\\.lokiwager\\.io/copy-placement}');
          expect(placement).toContain(`pinned to node ${REAL_NODE_NAME}`);
        }
        const [a, b] = [await treeDigest(tree), await treeDigest(treeCopy)];
        expect(a.listing).toContain('./model/weights/blob.bin file 640');
        expect(a.listing).toMatch(/\.\/model\/weights\/blob\.bin file 640 \d+ 20971520 /);
        expect(a.listing).toContain('./.hidden file 600 1706933106 7');
        expect(a.listing).toContain('./readme-link link 777 model/README.txt');
        expect(b.listing).toBe(a.listing);
        expect(b.digest).toBe(a.digest);
      });

      it('a prepare that exits 3 ends Failed with exit code 3 and its last log line; recover then succeeds', async () => {
        const name = `exit-three${sfx}`;
        // The first attempt leaves a marker in the volume and exits 3; the recovered attempt finds it.
        const args = 'if [ -f /workspace/.attempted ]; then echo recovered > /workspace/ok; echo "second attempt ok"; else touch /workspace/.attempted; echo "seeding failed: checksum mismatch"; exit 3; fi';
        const created = await rest('POST', '/api/v1/gpu-storages', { name, namespace: NS, size: '1Gi', storageClassName, prepare: { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: [args] } });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const failed = await whenStorage(name, (s) => s.phase === 'Failed', 'Failed');
        expect(failed.prepareStatus.phase).toBe('Failed');
        expect(failed.prepareStatus.lastFailure?.exitCode).toBe(3);
        expect(failed.prepareStatus.message).toContain('seeding failed: checksum mismatch');
        const recovered = await rest('POST', `/api/v1/gpu-storages/${name}/recover?namespace=${NS}`);
        expect(recovered.status, JSON.stringify(recovered.body)).toBeLessThan(300);
        const ok = await whenStorage(name, (s) => s.phase === 'Ready', 'Ready after recover');
        expect(ok.prepareStatus.phase).toBe('Succeeded');
        expect(ok.prepareStatus.recoveryPhase).not.toBe('None');
        // status.prepare.history: both attempts, the failed one with its reason and exit code.
        expect(ok.prepareStatus.history?.map((h) => [h.result, h.exitCode])).toEqual([
          ['Failed', 3],
          ['Succeeded', undefined],
        ]);
        expect(ok.prepareStatus.history?.[0]).toMatchObject({ reason: 'BackoffLimitExceeded', digest: failed.prepareStatus.observedDigest });
      });
    });
  }

  it('GPU pods stay on the simulated nodes; the real node has no GPU', async () => {
    const nodes = JSON.parse(await kubectl('get', 'nodes', '-o', 'json')) as { items: { metadata: { name: string }; spec: { taints?: { key: string }[] }; status: { allocatable: Record<string, string> } }[] };
    const real = nodes.items.find((n) => n.metadata.name === REAL_NODE_NAME)!;
    expect(real.status.allocatable['nvidia.com/gpu']).toBeUndefined();
    expect(real.spec.taints ?? []).toEqual([]);
    for (const n of nodes.items.filter((x) => x.metadata.name !== REAL_NODE_NAME)) expect(n.spec.taints?.map((t) => t.key)).toContain('nvidia.com/gpu');
  });
});
