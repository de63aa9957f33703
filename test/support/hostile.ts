/**
 * A generated corpus of hostile HTTP requests against the service (issue 12), with fast-check:
 * malformed and truncated JSON, wrong types for every known field, duplicate keys, deeply nested
 * and huge bodies, unicode, NUL and path tricks in names and paths, 64 KiB strings, batched
 * GraphQL arrays, unknown operations, wrong variables, mismatched content types. The same seed
 * gives the same corpus (`npm test` uses a fixed one; bench/hostile.ts runs longer ones).
 *
 * WebSocket and slow-client cases are not requests: test/integration/hostile.test.ts drives them.
 */
import fc from 'fast-check';

export interface HostileRequest {
  /** `rest` or `graphql` (for reporting by class). */
  surface: 'rest' | 'graphql';
  /** What the generator meant to break, e.g. `wrong-type`, `deep-json`. */
  kind: string;
  method: string;
  /** Path and query, already encoded as sent. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Names this request would create or touch if it were accepted (audit checks). */
  names: string[];
}

const NS = 'runtime-instance';

/** Names as attackers write them: unicode, NUL, traversal, huge, empty, almost-valid. */
const nameArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', '.', '..', '../etc/passwd', 'a\u0000b', '\u0000', 'A-Upper', '-lead', 'trail-', 'x'.repeat(64), 'x'.repeat(254), 'emoji-😀', 'rtl-\u202e', 'a/b', 'a%2Fb', 'a b', 'a;rm -rf', '${jndi:ldap://x}', '<script>', 'null', 'undefined', '__proto__', 'constructor'),
  fc.string({ unit: fc.constantFrom('a', 'b', '-', '.', '1'), minLength: 1, maxLength: 70 }).map((s) => `h${s}`),
  fc.constant('y'.repeat(64 * 1024)),
);

/** A value of any JSON type, including ones no field accepts. */
const anyJson = fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 3 }));

const storageBody = fc.record(
  {
    name: fc.oneof(nameArb, anyJson),
    namespace: fc.oneof(fc.constant(NS), nameArb, anyJson),
    size: fc.oneof(fc.constantFrom('1Gi', '0', '-1Gi', '1e400', '9999999Ei', '1.5.5Gi', '', 'Gi', '1Gi '), anyJson),
    storageClassName: fc.oneof(nameArb, anyJson),
    prepare: fc.oneof(anyJson, fc.record({ fromImage: fc.oneof(nameArb, anyJson), fromStorageName: fc.oneof(nameArb, anyJson), command: fc.oneof(anyJson, fc.array(nameArb, { maxLength: 3 })), args: anyJson }, { requiredKeys: [] })),
    accessor: fc.oneof(anyJson, fc.record({ enabled: anyJson }, { requiredKeys: [] })),
    unknownField: anyJson,
  },
  { requiredKeys: [] },
);

const unitBody = fc.record(
  {
    operationID: fc.oneof(nameArb, anyJson),
    name: fc.oneof(nameArb, anyJson),
    namespace: fc.oneof(fc.constant(NS), nameArb),
    specName: fc.oneof(nameArb, anyJson),
    image: fc.oneof(nameArb, anyJson),
    memory: fc.oneof(fc.constantFrom('1Gi', '-1', 'lots'), anyJson),
    gpu: fc.oneof(fc.integer({ min: -5, max: 1_000_000 }), anyJson),
    storageMounts: fc.oneof(anyJson, fc.array(fc.record({ name: fc.oneof(nameArb, anyJson), mountPath: fc.oneof(nameArb, anyJson), readOnly: anyJson }, { requiredKeys: [] }), { maxLength: 3 })),
    template: anyJson,
    access: anyJson,
  },
  { requiredKeys: [] },
);

/** Turns a body into the bytes a broken client sends. */
const mangled = (json: string) =>
  fc.oneof(
    fc.constant({ kind: 'json', body: json }),
    fc.nat({ max: Math.max(0, json.length - 1) }).map((n) => ({ kind: 'truncated-json', body: json.slice(0, n) })),
    fc.constant({ kind: 'duplicate-keys', body: json.startsWith('{') && json.length > 2 ? `{"name":"dup-a","name":"dup-b",${json.slice(1)}` : '{"a":1,"a":2}' }),
    fc.constant({ kind: 'trailing-garbage', body: `${json}}}]]` }),
    fc.constant({ kind: 'nul-bytes', body: json.replace(/"/, '"\u0000') }),
  );

const deepJson = fc.integer({ min: 100, max: 20_000 }).map((d) => ({ kind: 'deep-json', body: `${'['.repeat(d)}${']'.repeat(d)}` }));
const wideJson = fc.integer({ min: 1000, max: 30_000 }).map((n) => ({ kind: 'wide-json', body: `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')}}` }));
const hugeBody = fc.constant({ kind: 'huge-body', body: JSON.stringify({ name: 'huge', size: '1Gi', pad: 'z'.repeat(2 * 1024 * 1024) }) });

const encodeSeg = (s: string) => encodeURIComponent(s);
const routeArb = fc.oneof(
  fc.constant({ base: '/api/v1/gpu-storages', item: false }),
  fc.constant({ base: '/api/v1/gpu-units', item: false }),
  fc.constant({ base: '/api/v1/gpu-storages', item: true }),
  fc.constant({ base: '/api/v1/gpu-units', item: true }),
  fc.constant({ base: '/api/v1/gpu-storages', item: true, sub: '/recover' }),
  fc.constant({ base: '/api/v1/operator/jobs', item: true }),
  fc.constant({ base: '/api/v1/operator/stock-units', item: false }),
  fc.constant({ base: '/api/v1', item: true }),
);

const restArb: fc.Arbitrary<HostileRequest> = fc
  .record({
    route: routeArb,
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
    name: nameArb,
    ns: fc.oneof(fc.constant(NS), nameArb),
    rawPath: fc.boolean(),
    payload: fc.oneof(
      fc.oneof(storageBody, unitBody).chain((b) => mangled(JSON.stringify(b))),
      deepJson,
      wideJson,
      hugeBody,
      fc.string({ unit: 'binary', maxLength: 200 }).map((s) => ({ kind: 'binary-garbage', body: s })),
    ),
    contentType: fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', 'application/merge-patch+json', ''),
  })
  .map(({ route, method, name, ns, rawPath, payload, contentType }): HostileRequest => {
    // A raw path keeps unicode and traversal as typed; undici percent-encodes what it must.
    const seg = rawPath ? name.replace(/[\u0000-\u001f\s?#]/g, '') || 'x' : encodeSeg(name);
    const path = `${route.base}${route.item ? `/${seg}` : ''}${'sub' in route ? route.sub : ''}?namespace=${encodeSeg(ns)}`;
    const withBody = !['GET', 'HEAD', 'OPTIONS'].includes(method);
    const names = [name];
    const m = /"name":"([^"]*)"/.exec(payload.body);
    if (m) names.push(m[1]!);
    return {
      surface: 'rest' as const,
      kind: withBody ? payload.kind : 'path',
      method,
      path,
      headers: contentType && withBody ? { 'content-type': contentType } : ({} as Record<string, string>),
      body: withBody ? payload.body : undefined,
      names,
    };
  });

const selection = fc.constantFrom('name', 'phase', 'namespace', 'mountedBy', '__typename', 'bogusField', 'storage { name }', 'edges { node { name } }');
const queryText = fc.oneof(
  fc.tuple(fc.constantFrom('query', 'mutation', 'subscription', 'qurey', ''), fc.constantFrom('storages', 'storage', 'units', 'health', 'createStorage', 'deleteStorage', 'recoverStorage', 'nope'), nameArb, fc.array(selection, { maxLength: 4 })).map(
    ([op, field, arg, sel]) => `${op} { ${field}(name: ${JSON.stringify(arg)}) { ${sel.join(' ')} } }`,
  ),
  fc.integer({ min: 50, max: 3000 }).map((d) => `{ ${'storages { edges { node { '.repeat(d)} }`),
  fc.integer({ min: 20, max: 2000 }).map((n) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: health { uptimeSeconds }`).join(' ')} }`),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.constant('{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }'),
  fc.constant(`mutation { createStorage(input: { name: "${'q'.repeat(64 * 1024)}", size: "1Gi" }) { __typename } }`),
);
const gqlPayload = fc.oneof(
  fc.record({ query: queryText, operationName: fc.option(nameArb), variables: fc.option(fc.oneof(anyJson, fc.record({ input: storageBody }))) }).map((p) => ({ kind: 'operation', body: JSON.stringify(p) })),
  fc.array(fc.record({ query: queryText }), { minLength: 2, maxLength: 50 }).map((a) => ({ kind: 'batched', body: JSON.stringify(a) })),
  fc.record({ query: fc.constant('mutation($i: CreateStorageInput!) { createStorage(input: $i) { __typename } }'), variables: fc.record({ i: storageBody }) }).map((p) => ({ kind: 'wrong-variables', body: JSON.stringify(p) })),
  deepJson,
  hugeBody,
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => ({ kind: 'binary-garbage', body: s })),
);

const graphqlArb: fc.Arbitrary<HostileRequest> = fc
  .record({
    method: fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT'),
    payload: gqlPayload,
    contentType: fc.constantFrom('application/json', 'application/json', 'application/graphql+json', 'text/plain', 'multipart/form-data; boundary=x', ''),
    accept: fc.constantFrom('application/json', 'application/graphql-response+json', 'text/event-stream', '*/*'),
  })
  .map(({ method, payload, contentType, accept }): HostileRequest => {
    // GET carries the document in the query string (too-long URLs included).
    const get = method === 'GET';
    const names = [...payload.body.matchAll(/name: ?\\?"([^"\\]*)/g)].map((m) => m[1]!);
    return {
      surface: 'graphql' as const,
      kind: payload.kind,
      method,
      path: get ? `/graphql?query=${encodeURIComponent(payload.body.slice(0, 60_000))}` : '/graphql',
      headers: { accept, ...(contentType && !get ? { 'content-type': contentType } : {}) },
      body: get ? undefined : payload.body,
      names,
    };
  });

/** `n` hostile requests from `seed` (deterministic: same seed, same corpus). */
export function hostileRequests(seed: number, n: number): HostileRequest[] {
  return fc.sample(fc.oneof(restArb, graphqlArb), { seed, numRuns: n });
}
