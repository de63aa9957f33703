/**
 * Document limits hold on every transport: hostile documents (too deep, too costly, too many
 * aliases, directives or tokens, an oversized payload, a circular introspection query) are
 * rejected with clear errors over HTTP and over graphql-ws; introspection can be turned off (the
 * createGraphQL option and GRAPHQL_INTROSPECTION=false), on both transports, while ordinary
 * operations keep working.
 */
import { ClusterAvailability } from '../../src/kube/availability';
import { Auth } from '../../src/auth/index';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { getIntrospectionQuery } from 'graphql';
import { testEnv } from '../support/env';
import { subscribe } from '../support/subscription';
import { startHttpServer, type HttpServer } from '../../src/server';
import { ClusterCache } from '../../src/kube/cache';
import { EventRecorder } from '../../src/kube/events';
import { Kube } from '../../src/kube/resources';
import type { ServiceContext } from '../../src/service/context';

interface Answer {
  status: number;
  body: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

/** POSTs a raw GraphQL request body to `url`/graphql. */
async function post(url: string, body: unknown): Promise<Answer> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

function ws(url: string): Client {
  return createClient({ url: `${url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
}

/** Runs `query` over graphql-ws; returns the errors it was refused with (or the data). */
async function overWs(client: Client, query: string): Promise<{ errors?: { message: string; extensions?: Record<string, unknown> }[]; data?: unknown; closed?: { code: number; reason: string } }> {
  const sub = subscribe(client, query, {});
  await sub.ended;
  const err = sub.error as unknown;
  if (Array.isArray(err)) return { errors: err };
  if (err && typeof err === 'object' && 'code' in err) return { closed: { code: (err as { code: number }).code, reason: String((err as { reason?: string }).reason) } };
  const r = sub.results[0];
  return { errors: r?.errors as never, data: r?.data };
}

const deep = `query Deep { __type(name: "Storage") { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } }`;
// The storage↔unit links make a cycle in the schema; depth bounds it.
const cycle = `query Cycle { storages { edges { node { mountedByUnits { storages { mountedByUnits { storages { mountedByUnits { storages { mountedByUnits { name } } } } } } } } } } }`;
const aliases = `query Aliases { ${Array.from({ length: 16 }, (_, i) => `h${i}: health { nodeCount }`).join(' ')} }`;
const tokens = `query Tokens { health { ${'nodeCount '.repeat(2100)} } }`;
const directives = `query Directives { health { ${Array.from({ length: 25 }, () => 'nodeCount @include(if: true)').join(' ')} } }`;
const costly = `query Costly { storages(first: 1000) { edges { node { ${Array(60).fill('...F').join(' ')} } } } }
fragment F on Storage { prepareStatus { lastFailure { reason exitCode message jobName time } } conditions { type status reason message } }`;
const circularIntrospection = `query Circular { __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }`;

/** [what, document, message, extensions.code (undefined: none; parse errors carry none)] */
const hostile: [string, string, RegExp, string | undefined][] = [
  ['too deep', deep, /^Query depth limit of 10 exceeded, found 1\d\.$/, 'DOCUMENT_LIMIT_EXCEEDED'],
  ['too deep through the storage↔unit cycle', cycle, /^Query depth limit of 10 exceeded, found 1\d\.$/, 'DOCUMENT_LIMIT_EXCEEDED'],
  ['with too many aliases', aliases, /^Aliases limit of 15 exceeded, found 16\.$/, 'DOCUMENT_LIMIT_EXCEEDED'],
  ['with too many tokens', tokens, /^Syntax Error: Token limit of 2000 exceeded/, undefined],
  ['with too many directives', directives, /^Directives limit of 20 exceeded, found 25\.$/, 'DOCUMENT_LIMIT_EXCEEDED'],
  ['too costly', costly, /^Query Cost limit of 20000 exceeded, found \d+/, 'DOCUMENT_LIMIT_EXCEEDED'],
  ['with circular introspection', circularIntrospection, /Maximum introspection depth exceeded/, undefined],
];

describe('GraphQL limits on the service under test', () => {
  const url = () => testEnv().url;
  const client = ws(testEnv().url);
  afterAll(() => client.dispose());

  for (const [what, query, message, code] of hostile) {
    it(`rejects a document ${what} over HTTP with a clear error and no execution`, async () => {
      const r = await post(url(), { query });
      expect(r.status).toBe(400);
      expect(r.body.data).toBeUndefined();
      expect(r.body.errors?.length).toBeGreaterThan(0);
      expect(r.body.errors![0]!.message).toMatch(message);
      if (code) expect(r.body.errors![0]!.extensions?.code).toBe(code);
    });

    it(`rejects a document ${what} over WebSocket with the same error`, async () => {
      const r = await overWs(client, query);
      expect(r.data).toBeUndefined();
      expect(r.errors?.length, JSON.stringify(r)).toBeGreaterThan(0);
      expect(r.errors![0]!.message).toMatch(message);
      if (code) expect(r.errors![0]!.extensions?.code).toBe(code);
      // The connection survives a refused document.
      const ok = await overWs(client, '{ health { nodeCount } }');
      expect(ok.data).toEqual({ health: { nodeCount: 4 } });
    });
  }

  it('rejects a subscription that is too deep or has too many aliases over WebSocket', async () => {
    const subAliases = `subscription S { ${Array.from({ length: 16 }, (_, i) => `s${i}: storagesChanged { type }`).join(' ')} }`;
    const r = await overWs(client, subAliases);
    expect(r.errors?.map((e) => e.message)).toContain('Aliases limit of 15 exceeded, found 16.');
    // Nested fragment spreads count as levels (flattenFragments is off).
    const chain = Array.from({ length: 9 }, (_, i) => `fragment F${i} on StorageEvent { type ...F${i + 1} }`).join('\n');
    const subDeep = `subscription D { storagesChanged { ...F0 } }\n${chain}\nfragment F9 on StorageEvent { storage { prepareStatus { lastFailure { reason } } } }`;
    const d = await overWs(client, subDeep);
    expect(d.errors, JSON.stringify(d.errors)).toEqual(expect.arrayContaining([{ message: expect.stringMatching(/^Query depth limit of 10 exceeded, found \d+\.$/), extensions: { code: 'DOCUMENT_LIMIT_EXCEEDED' } }]));
    // HTTP details do not leak into WebSocket errors.
    expect(d.errors!.every((e) => !('http' in (e.extensions ?? {})))).toBe(true);
  });

  it('still answers the standard introspection query (GraphiQL needs it) and ordinary operations', async () => {
    const r = await post(url(), { query: getIntrospectionQuery() });
    expect(r.status).toBe(200);
    expect(r.body.errors).toBeUndefined();
    expect((r.body.data as { __schema: { types: { name: string }[] } }).__schema.types.map((t) => t.name)).toContain('Storage');
    const viaWs = await overWs(client, getIntrospectionQuery());
    expect(viaWs.errors).toBeUndefined();
    const ok = await overWs(client, '{ health { nodeCount } }');
    expect(ok.data).toEqual({ health: { nodeCount: 4 } });
  });

  it('refuses an oversized HTTP body with 413 and a GraphQL error', async () => {
    const query = `{ health { nodeCount } } # ${'x'.repeat(1_200_000)}`;
    const r = await post(url(), { query });
    expect(r.status).toBe(413);
    expect(r.body.errors?.[0]?.message).toMatch(/too large/i);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers malformed JSON on /graphql with 400 and a GraphQL error', async () => {
    const r = await post(url(), '{"query": ');
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
    expect(r.body.errors?.[0]?.message).toMatch(/JSON/);
  });

  it('closes a WebSocket that sends an oversized message (1009, message too big)', async () => {
    const big = ws(url());
    try {
      const query = `{ health { nodeCount } } # ${'x'.repeat(1_200_000)}`;
      const r = await overWs(big, query);
      expect(r.closed?.code, JSON.stringify(r)).toBe(1009);
      // The service is unaffected: a fresh connection works.
      const ok = await overWs(client, '{ health { nodeCount } }');
      expect(ok.data).toEqual({ health: { nodeCount: 4 } });
    } finally {
      await big.dispose();
    }
  });
});

describe('introspection turned off', () => {
  let svc: ServiceContext;
  let cache: ClusterCache;
  const servers: HttpServer[] = [];

  beforeAll(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(testEnv().kubeconfig);
    const kube = new Kube(kc);
    cache = new ClusterCache(kc);
    cache.start();
    await cache.waitForSync();
    svc = { kube, cache, recorder: new EventRecorder(kube), startedAt: new Date(), availability: new ClusterAvailability(kube, cache) };
    // By option…
    servers.push(await startHttpServer(svc, new Auth(kube), { port: 0, graphql: { introspection: false } }));
    // …and by environment.
    const before = process.env.GRAPHQL_INTROSPECTION;
    process.env.GRAPHQL_INTROSPECTION = 'false';
    try {
      servers.push(await startHttpServer(svc, new Auth(kube), { port: 0 }));
    } finally {
      if (before === undefined) delete process.env.GRAPHQL_INTROSPECTION;
      else process.env.GRAPHQL_INTROSPECTION = before;
    }
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    cache?.stop();
  });

  for (const [how, index] of [['createGraphQL option', 0], ['GRAPHQL_INTROSPECTION=false', 1]] as const) {
    it(`${how}: __schema and __type are refused over HTTP and WebSocket; other operations work`, async () => {
      const url = servers[index]!.url;
      for (const query of ['{ __schema { queryType { name } } }', '{ __type(name: "Storage") { name } }', getIntrospectionQuery()]) {
        const r = await post(url, { query });
        expect(r.status).toBe(400);
        expect(r.body.data).toBeUndefined();
        expect(r.body.errors?.[0]).toMatchObject({ message: 'GraphQL introspection is disabled on this server.', extensions: { code: 'INTROSPECTION_DISABLED' } });
      }
      const c = ws(url);
      try {
        const r = await overWs(c, '{ __schema { types { name } } }');
        expect(r.errors?.[0]).toMatchObject({ message: 'GraphQL introspection is disabled on this server.', extensions: { code: 'INTROSPECTION_DISABLED' } });
        const ok = await overWs(c, '{ __typename health { nodeCount } }');
        expect(ok.data).toEqual({ __typename: 'Query', health: { nodeCount: 4 } });
      } finally {
        await c.dispose();
      }
      const ok = await post(url, { query: '{ health { kubernetesConnected } }' });
      expect(ok.body).toEqual({ data: { health: { kubernetesConnected: true } } });
      // No schema hints by suggestion either.
      const typo = await post(url, { query: '{ storagez { totalCount } }' });
      expect(typo.body.errors?.[0]?.message).not.toMatch(/Did you mean/);
    });
  }
});
