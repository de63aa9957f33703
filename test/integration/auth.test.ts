/**
 * Identity and authorization on every transport, decided by the cluster's own RBAC: two real
 * ServiceAccounts bound to the gpu-runtime-tenant role, each in its own namespace, and a third
 * with no binding, all with TokenRequest tokens. Tenant A succeeds in its namespace and is denied
 * in B's before anything is written (the audit log shows no write of the service there); the
 * unbound account is denied everywhere; rejected and deleted-account tokens answer 401; revoking
 * A's RoleBinding ends A's open subscription within the re-check period; a list across namespaces
 * shows A only its own. Plus the browser rules (CORS allow-list, Origin on writes and WebSocket
 * upgrades) and the per-identity budgets.
 */
import { ClusterAvailability } from '../../src/kube/availability';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { KubeConfig } from '@kubernetes/client-node';
import { auditBarrier, auditWrites, eventually, kubectl, serviceAccountToken, testEnv, uniq } from '../support/env';
import { gqlAs, rest, restAs, restAt, wsClient } from '../support/http';
import { subscribe } from '../support/subscription';
import { seedReady, uniqSpec } from '../support/units';
import { Auth } from '../../src/auth/index';
import { ClusterCache } from '../../src/kube/cache';
import { EventRecorder } from '../../src/kube/events';
import { Kube } from '../../src/kube/resources';
import { startHttpServer, type HttpServer } from '../../src/server';
import type { ServiceContext } from '../../src/service/context';

const OPERATOR = testEnv().operatorUser;
const seed = { fromImage: 'busybox:1.36', command: ['sh', '-c'], args: ['echo seeded > /workspace/README.txt'] };

const STORAGES = 'query($ns: String) { storages(namespace: $ns) { edges { node { name namespace } } } }';
const CREATE = 'mutation($input: CreateStorageInput!) { createStorage(input: $input) { __typename ... on CreateStorageSuccess { storage { name } } ... on Error { code message } } }';
const WATCH = 'subscription($ns: String!, $name: String!) { storageChanged(namespace: $ns, name: $name) { type storage { name phase } } }';
const WATCH_ALL = 'subscription($ns: String) { storagesChanged(namespace: $ns) { type storage { name namespace } } }';

interface Tenant {
  ns: string;
  sa: string;
  user: string;
  token: string;
}

async function tenant(prefix: string, bind: boolean): Promise<Tenant> {
  const ns = uniq(prefix);
  const sa = 'app';
  await kubectl('create', 'namespace', ns);
  await kubectl('create', 'serviceaccount', sa, '-n', ns);
  if (bind) await kubectl('create', 'rolebinding', `${sa}-gpu-tenant`, '--clusterrole=gpu-runtime-tenant', `--serviceaccount=${ns}:${sa}`, '-n', ns);
  return { ns, sa, user: `system:serviceaccount:${ns}:${sa}`, token: await serviceAccountToken(ns, sa) };
}

/** Audit writes of the service in `namespace` since `since` (the API server's own record). */
function serviceWritesIn(namespace: string, since: number) {
  return auditWrites(OPERATOR, since).filter((w) => w.objectRef?.namespace === namespace);
}

describe('authentication and authorization through Kubernetes RBAC', () => {
  let a: Tenant;
  let b: Tenant;
  let none: Tenant;
  const specName = uniqSpec();

  beforeAll(async () => {
    [a, b, none] = await Promise.all([tenant('tenant-a', true), tenant('tenant-b', true), tenant('tenant-none', false)]);
    // Stock for unit creation, seeded by the anonymous development grant in runtime-stock.
    await seedReady(specName, 2);
  }, 120_000);

  it('tenant A may do everything in its namespace over REST, and the objects record who asked', async () => {
    const since = Date.now();
    const name = uniq('a-store');
    const created = await restAs(a.token, 'POST', '/api/v1/gpu-storages', { name, namespace: a.ns, size: '1Gi', prepare: seed });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const live = JSON.parse(await kubectl('get', 'gpustorage', name, '-n', a.ns, '-o', 'json'));
    expect(live.metadata.annotations['runtime.lokiwager.io/requested-by']).toBe(a.user);
    expect((await restAs(a.token, 'GET', `/api/v1/gpu-storages?namespace=${a.ns}`)).body?.data.map((s: { name: string }) => s.name)).toEqual([name]);
    await eventually(async () => (await restAs(a.token, 'GET', `/api/v1/gpu-storages/${name}?namespace=${a.ns}`)).body?.data?.phase === 'Ready', 'A storage Ready');
    expect((await restAs(a.token, 'PUT', `/api/v1/gpu-storages/${name}?namespace=${a.ns}`, { accessor: { enabled: false } })).status).toBe(200);
    const recovered = await restAs(a.token, 'POST', `/api/v1/gpu-storages/${name}/recover?namespace=${a.ns}`);
    expect(recovered.status, JSON.stringify(recovered.body)).toBe(200);
    const events = JSON.parse(await kubectl('get', 'events', '-n', a.ns, '--field-selector', `involvedObject.name=${name},reason=RecoverRequested`, '-o', 'json'));
    expect(events.items[0]?.message).toContain(`recover requested by ${a.user}`);
    await eventually(async () => (await restAs(a.token, 'GET', `/api/v1/gpu-storages/${name}?namespace=${a.ns}`)).body?.data?.prepareStatus?.recoveryPhase === 'Succeeded', 'recover done');

    const unit = uniq('a-unit');
    const u = await restAs(a.token, 'POST', '/api/v1/gpu-units', { operationID: uniq('op'), name: unit, namespace: a.ns, specName, image: 'python:3.12', storageMounts: [{ name, mountPath: '/data' }] });
    expect(u.status, JSON.stringify(u.body)).toBe(201);
    expect((await restAs(a.token, 'GET', `/api/v1/gpu-units?namespace=${a.ns}`)).body?.data.map((x: { name: string }) => x.name)).toEqual([unit]);
    expect((await restAs(a.token, 'GET', `/api/v1/gpu-units/${unit}?namespace=${a.ns}`)).status).toBe(200);
    expect((await restAs(a.token, 'PUT', `/api/v1/gpu-units/${unit}?namespace=${a.ns}`, { image: 'python:3.13' })).status).toBe(200);
    expect((await restAs(a.token, 'DELETE', `/api/v1/gpu-units/${unit}?namespace=${a.ns}`)).status).toBe(204);
    expect((await restAs(a.token, 'DELETE', `/api/v1/gpu-storages/${name}?namespace=${a.ns}`)).status).toBe(204);
    // The positive control of the "writes nothing" checks below: these writes are in the audit log.
    await eventually(() => serviceWritesIn(a.ns, since).some((w) => w.verb === 'create' && w.objectRef?.resource === 'gpustorages'), 'the audit log records the service creating A storage');
  }, 120_000);

  it('tenant A is denied in B, and the unbound account everywhere, before anything is written', async () => {
    const victim = uniq('b-store');
    expect((await restAs(b.token, 'POST', '/api/v1/gpu-storages', { name: victim, namespace: b.ns, size: '1Gi' })).status).toBe(201);
    // Let the controller settle B's storage first: from then on any write in B would be a request's.
    await eventually(async () => (await restAs(b.token, 'GET', `/api/v1/gpu-storages/${victim}?namespace=${b.ns}`)).body?.data?.phase === 'Ready', 'B storage Ready');
    await new Promise((r) => setTimeout(r, 1000));
    const since = Date.now();
    for (const [who, ns] of [
      [a, b.ns],
      [none, b.ns],
      [none, none.ns],
      [none, 'runtime-instance'],
    ] as const) {
      const cases: [string, string, unknown, string][] = [
        ['GET', `/api/v1/gpu-storages?namespace=${ns}`, undefined, 'list'],
        ['POST', '/api/v1/gpu-storages', { name: uniq('x'), namespace: ns, size: '1Gi' }, 'create'],
        ['POST', '/api/v1/gpu-storages', { name: uniq('x'), namespace: ns, size: '1Gi', prepare: { fromStorageName: victim } }, 'create'],
        ['GET', `/api/v1/gpu-storages/${victim}?namespace=${ns}`, undefined, 'get'],
        ['PUT', `/api/v1/gpu-storages/${victim}?namespace=${ns}`, { size: '2Gi' }, 'update'],
        ['POST', `/api/v1/gpu-storages/${victim}/recover?namespace=${ns}`, undefined, 'create'],
        ['DELETE', `/api/v1/gpu-storages/${victim}?namespace=${ns}`, undefined, 'delete'],
        ['GET', `/api/v1/gpu-units?namespace=${ns}`, undefined, 'list'],
        ['POST', '/api/v1/gpu-units', { operationID: uniq('op'), name: uniq('u'), namespace: ns, specName, image: 'python:3.12' }, 'create'],
        ['GET', `/api/v1/gpu-units/some-unit?namespace=${ns}`, undefined, 'get'],
        ['PUT', `/api/v1/gpu-units/some-unit?namespace=${ns}`, { image: 'x:1' }, 'update'],
        ['DELETE', `/api/v1/gpu-units/some-unit?namespace=${ns}`, undefined, 'delete'],
      ];
      for (const [method, path, body, verb] of cases) {
        const r = await restAs(who.token, method, path, body);
        expect(r.status, `${who.user} ${method} ${path}: ${JSON.stringify(r.body)}`).toBe(403);
        expect(r.body?.error?.code).toBe('forbidden');
        expect(r.body?.error?.message).toContain(`User "${who.user}" cannot ${verb} resource`);
        expect(r.body?.error?.message).toContain(`in the namespace "${ns}"`);
      }
    }
    // Stock seeding needs the stock operator role, which tenants do not have.
    const seedReq = { operationID: uniq('seed'), specName, memory: '1Gi', gpu: 1, replicas: 1 };
    for (const [method, path, body] of [
      ['POST', '/api/v1/operator/stock-units', seedReq],
      ['GET', '/api/v1/operator/stock-units', undefined],
      ['GET', `/api/v1/operator/jobs/${seedReq.operationID}`, undefined],
    ] as const) {
      const r = await restAs(a.token, method, path, body);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body?.error?.message).toContain('in the namespace "runtime-stock"');
    }
    await auditBarrier(); // every write made so far is in the audit log
    expect(serviceWritesIn(b.ns, since)).toEqual([]);
    expect(serviceWritesIn(none.ns, since)).toEqual([]);
  }, 120_000);

  it('a clone needs get on its source, and mounting a storage needs get on it', async () => {
    // An account that may create storages and units in A, but not read storages.
    const ns = a.ns;
    const limited = 'creator';
    await kubectl('create', 'serviceaccount', limited, '-n', ns);
    await kubectl('create', 'role', 'creator-units', '--verb=create,get,list,watch', '--resource=gpuunits.runtime.lokiwager.io', '-n', ns);
    await kubectl('create', 'role', 'creator-storages', '--verb=create', '--resource=gpustorages.runtime.lokiwager.io', '-n', ns);
    for (const role of ['creator-units', 'creator-storages']) await kubectl('create', 'rolebinding', role, `--role=${role}`, `--serviceaccount=${ns}:${limited}`, '-n', ns);
    const token = await serviceAccountToken(ns, limited);
    const store = uniq('source');
    expect((await restAs(a.token, 'POST', '/api/v1/gpu-storages', { name: store, namespace: ns, size: '1Gi' })).status).toBe(201);
    expect((await restAs(token, 'POST', '/api/v1/gpu-storages', { name: uniq('plain'), namespace: ns, size: '1Gi' })).status).toBe(201);
    const clone = await restAs(token, 'POST', '/api/v1/gpu-storages', { name: uniq('clone'), namespace: ns, size: '1Gi', prepare: { fromStorageName: store } });
    expect(clone.status, JSON.stringify(clone.body)).toBe(403);
    expect(clone.body?.error?.message).toContain('cannot get resource "gpustorages"');
    const mount = await restAs(token, 'POST', '/api/v1/gpu-units', { operationID: uniq('op'), name: uniq('u'), namespace: ns, specName, image: 'python:3.12', storageMounts: [{ name: store, mountPath: '/d' }] });
    expect(mount.status, JSON.stringify(mount.body)).toBe(403);
    expect(mount.body?.error?.message).toContain('cannot get resource "gpustorages"');
  });

  it('GraphQL answers FORBIDDEN (HTTP 403) in B, and a list across namespaces shows A only its own', async () => {
    const mine = uniq('a-gql');
    const created = await gqlAs(a.token, CREATE, { input: { name: mine, namespace: a.ns, size: '1Gi' } });
    expect(created.data, JSON.stringify(created)).toMatchObject({ createStorage: { __typename: 'CreateStorageSuccess' } });
    const denied = await gqlAs(a.token, CREATE, { input: { name: uniq('x'), namespace: b.ns, size: '1Gi' } });
    expect(denied.status).toBe(403);
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const list = await gqlAs<{ storages: { edges: { node: { name: string; namespace: string } }[] } }, unknown>(a.token, STORAGES, { ns: b.ns });
    expect(list.status).toBe(403);
    expect(list.errors?.[0]?.message).toContain(`cannot list resource "gpustorages" in API group "runtime.lokiwager.io" in the namespace "${b.ns}"`);
    await eventually(async () => {
      const all = await gqlAs<{ storages: { edges: { node: { name: string; namespace: string } }[] } }, unknown>(a.token, STORAGES, {});
      const namespaces = new Set(all.data?.storages.edges.map((e) => e.node.namespace));
      return all.data?.storages.edges.some((e) => e.node.name === mine) && namespaces.size === 1 && namespaces.has(a.ns);
    }, 'a cross-namespace list showing A only its own namespace');
    const nobody = await gqlAs<{ storages: { edges: unknown[] } }, unknown>(none.token, STORAGES, {});
    expect(nobody.data?.storages.edges).toEqual([]);
  });

  it('tokens the cluster rejects are 401 on every transport; a deleted account\'s token too', async () => {
    const bad = await restAs('not-a-real-token', 'GET', `/api/v1/gpu-storages?namespace=${a.ns}`);
    expect(bad.status).toBe(401);
    expect(bad.body?.error?.code).toBe('unauthenticated');
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer realm="gpu-runtime", error="invalid_token"/);
    const malformed = await restAt(testEnv().url, 'GET', `/api/v1/gpu-storages?namespace=${a.ns}`, undefined, { authorization: 'Basic abc' });
    expect(malformed.status).toBe(401);
    const g = await gqlAs('not-a-real-token', STORAGES, { ns: a.ns });
    expect(g.status).toBe(401);
    expect(g.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    // graphql-ws: closed with 4401 at connection_init.
    let closed: { code?: number; reason?: string } | undefined;
    const client = wsClient('not-a-real-token', undefined, { closed: (e) => (closed = e as { code: number; reason: string }) });
    const sub = subscribe(client, WATCH, { ns: a.ns, name: 'whatever' });
    await sub.ended;
    expect(closed?.code).toBe(4401);
    await client.dispose();

    const ghost = await tenant('tenant-ghost', true);
    expect((await restAs(ghost.token, 'GET', `/api/v1/gpu-storages?namespace=${ghost.ns}`)).status).toBe(200);
    await kubectl('delete', 'serviceaccount', ghost.sa, '-n', ghost.ns);
    await eventually(async () => (await restAs(ghost.token, 'GET', `/api/v1/gpu-storages?namespace=${ghost.ns}`)).status === 401, 'the deleted account\'s token rejected (once its cached verdict expires)', 20_000);
  });

  it('a caller allowed cluster-wide meets the 400 for a namespace that does not exist (authorization first, then existence)', async () => {
    const ns = a.ns;
    await kubectl('create', 'serviceaccount', 'cluster-tenant', '-n', ns);
    const crb = uniq('gpu-cluster-tenant');
    await kubectl('create', 'clusterrolebinding', crb, '--clusterrole=gpu-runtime-tenant', `--serviceaccount=${ns}:cluster-tenant`);
    try {
      const token = await serviceAccountToken(ns, 'cluster-tenant');
      const r = await restAs(token, 'POST', '/api/v1/gpu-storages', { name: uniq('x'), namespace: 'no-such-namespace', size: '1Gi' });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body?.error).toMatchObject({ code: 'invalid_request', field: 'namespace' });
    } finally {
      await kubectl('delete', 'clusterrolebinding', crb);
    }
  });

  it('subscriptions: authorized when they start (graphql-ws and SSE), ended with FORBIDDEN when access is revoked', async () => {
    const name = uniq('a-watch');
    expect((await restAs(a.token, 'POST', '/api/v1/gpu-storages', { name, namespace: a.ns, size: '1Gi' })).status).toBe(201);
    const client = wsClient(a.token);
    try {
      const denied = subscribe(client, WATCH, { ns: b.ns, name });
      await denied.ended;
      const deniedErrors = (denied.results.flatMap((r) => r.errors ?? []) as { extensions?: { code?: string } }[]).concat((Array.isArray(denied.error) ? denied.error : []) as never[]);
      expect(deniedErrors.map((e) => e.extensions?.code)).toContain('FORBIDDEN');

      // SSE (yoga over HTTP): 403 for B.
      const sse = await fetch(`${testEnv().url}/graphql?query=${encodeURIComponent(WATCH)}&variables=${encodeURIComponent(JSON.stringify({ ns: b.ns, name }))}`, {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${a.token}` },
      });
      const text = await sse.text();
      expect(text).toContain('FORBIDDEN');

      const live = subscribe(client, WATCH, { ns: a.ns, name });
      await live.waitFor((rs) => rs.some((r) => (r.data as { storageChanged?: { type: string } })?.storageChanged?.type === 'ADDED'), 'the current state as ADDED');
      const wide = subscribe(client, WATCH_ALL, {});
      await wide.waitFor((rs) => rs.some((r) => (r.data as { storagesChanged?: { storage: { name: string } } })?.storagesChanged?.storage.name === name), 'A storage in the cross-namespace subscription');
      expect(wide.results.every((r) => (r.data as { storagesChanged?: { storage: { namespace: string } } })?.storagesChanged?.storage.namespace === a.ns)).toBe(true);

      const revokedAt = Date.now();
      await kubectl('delete', 'rolebinding', `${a.sa}-gpu-tenant`, '-n', a.ns);
      await live.ended;
      const elapsed = Date.now() - revokedAt;
      const last = live.results.at(-1);
      expect(last?.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(last?.errors?.[0]?.message).toContain('access was revoked');
      // Re-check every 2 s and decisions cached 2 s in the test service: ended within both plus slack.
      expect(elapsed).toBeLessThan(10_000);
      await wide.ended;
      expect(wide.results.at(-1)?.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    } finally {
      await client.dispose();
      await kubectl('create', 'rolebinding', `${a.sa}-gpu-tenant`, '--clusterrole=gpu-runtime-tenant', `--serviceaccount=${a.ns}:${a.sa}`, '-n', a.ns).catch(() => undefined);
    }
  }, 60_000);
});

describe('browser safety and per-identity budgets', () => {
  let svc: ServiceContext;
  let cache: ClusterCache;
  let server: HttpServer;
  let kube: Kube;

  beforeAll(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(testEnv().kubeconfig);
    kube = new Kube(kc);
    cache = new ClusterCache(kc);
    cache.start();
    await cache.waitForSync();
    svc = { kube, cache, recorder: new EventRecorder(kube), startedAt: new Date(), availability: new ClusterAvailability(kube, cache) };
    server = await startHttpServer(svc, new Auth(kube, { corsOrigins: ['http://console.example:3000'], requestsPerSecond: 5, subscriptionsPerConnection: 2 }), { port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    cache?.stop();
  });

  it('CORS is off by default: a preflight from any origin gets no access-control-allow-origin', async () => {
    const r = await fetch(`${testEnv().url}/graphql`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
    expect(r.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('an allow-listed origin gets CORS without credentials; others get nothing', async () => {
    const ok = await fetch(`${server.url}/graphql`, { method: 'OPTIONS', headers: { origin: 'http://console.example:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://console.example:3000');
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull();
    const evil = await fetch(`${server.url}/api/v1/gpu-storages`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a state-changing request from a foreign origin is refused (REST body-less recover, GraphQL), and writes nothing', async () => {
    const name = uniq('csrf');
    expect((await rest('POST', '/api/v1/gpu-storages', { name, namespace: 'runtime-instance', size: '1Gi', prepare: seed })).status).toBe(201);
    // Settled first, so that any later write to it would be a request's.
    await eventually(async () => (await rest('GET', `/api/v1/gpu-storages/${name}?namespace=runtime-instance`)).body?.data?.phase === 'Ready', 'storage Ready');
    await new Promise((r) => setTimeout(r, 1000));
    const since = Date.now();
    const recover = await restAt(testEnv().url, 'POST', `/api/v1/gpu-storages/${name}/recover?namespace=runtime-instance`, undefined, { origin: 'http://evil.example' });
    expect(recover.status).toBe(403);
    expect(recover.body?.error?.message).toContain('cross-origin POST from http://evil.example refused');
    const form = await fetch(`${testEnv().url}/api/v1/gpu-storages`, { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'text/plain' }, body: '{"name":"x"}' });
    expect(form.status).toBe(403);
    const g = await fetch(`${testEnv().url}/graphql`, { method: 'POST', headers: { origin: 'null', 'content-type': 'application/json' }, body: JSON.stringify({ query: CREATE, variables: { input: { name: uniq('x'), size: '1Gi' } } }) });
    expect(g.status).toBe(403);
    // A simple (non-preflighted) GraphQL POST is refused even without Origin: multipart without
    // yoga's CSRF header (403), form-encoded and text/plain bodies are not accepted at all (415).
    const boundary = 'x-boundary';
    const multipart = `--${boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: CREATE, variables: { input: { name: uniq('x'), size: '1Gi' } } })}\r\n--${boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{}\r\n--${boundary}--\r\n`;
    const simple = await fetch(`${testEnv().url}/graphql`, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: multipart });
    expect(simple.status).toBe(403);
    expect(await simple.text()).toContain('Required CSRF header');
    for (const ct of ['application/x-www-form-urlencoded', 'text/plain']) {
      const r = await fetch(`${testEnv().url}/graphql`, { method: 'POST', headers: { 'content-type': ct }, body: 'query=mutation{__typename}' });
      expect(r.status, ct).toBe(415);
    }
    // Same origin is fine.
    const own = new URL(testEnv().url).origin;
    const same = await restAt(testEnv().url, 'GET', `/api/v1/gpu-storages/${name}?namespace=runtime-instance`, undefined, { origin: own });
    expect(same.status).toBe(200);
    await auditBarrier();
    expect(auditWrites(OPERATOR, since).filter((w) => w.objectRef?.name === name && w.objectRef?.resource === 'gpustorages')).toEqual([]);
  });

  it('a WebSocket upgrade from a foreign origin is refused; the own origin and non-browsers connect', async () => {
    const url = `${testEnv().url.replace(/^http/, 'ws')}/graphql`;
    const attempt = (origin?: string) =>
      new Promise<number | 'open'>((resolve) => {
        const ws = new WebSocket(url, 'graphql-transport-ws', origin ? { origin } : {});
        ws.on('open', () => {
          ws.close();
          resolve('open');
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => undefined);
      });
    expect(await attempt('http://evil.example')).toBe(403);
    expect(await attempt(new URL(testEnv().url).origin)).toBe('open');
    expect(await attempt()).toBe('open');
  });

  it('rate limit per identity: 429 with Retry-After past the budget; others are not affected', async () => {
    const answers = await Promise.all(Array.from({ length: 12 }, () => restAt(server.url, 'GET', '/api/v1/gpu-storages?namespace=runtime-instance')));
    const limited = answers.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.body?.error?.code).toBe('rate_limited');
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(answers.filter((r) => r.status === 200).length).toBe(5);
  });

  it('subscriptions per connection are bounded (RATE_LIMITED past the bound)', async () => {
    await new Promise((r) => setTimeout(r, 1100)); // a fresh rate window
    const client = wsClient(undefined, server.url);
    try {
      // Three at once on one connection with a bound of two: exactly one is refused (which one
      // depends on which authorization answers last), the other two stay open.
      const subs = [0, 1, 2].map((i) => subscribe(client, WATCH, { ns: 'runtime-instance', name: `budget-${i}` }));
      const refused = await Promise.race(subs.map((s) => s.ended.then(() => s)));
      const errors = (refused.results.flatMap((r) => r.errors ?? []) as { extensions?: { code?: string; message?: string } }[]).concat((Array.isArray(refused.error) ? refused.error : []) as never[]);
      expect(errors.map((e) => e.extensions?.code)).toContain('RATE_LIMITED');
      await new Promise((r) => setTimeout(r, 300));
      expect(subs.filter((s) => s !== refused && s.results.some((r) => r.errors))).toEqual([]);
    } finally {
      await client.dispose();
    }
  });
});
