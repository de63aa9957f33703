/**
 * Clients of the service under test: REST (fetch) and GraphQL over HTTP and graphql-ws.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { print, type DocumentNode } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { testEnv } from './env';

export interface RestAnswer<T = unknown> {
  status: number;
  body: { data?: T; error?: { code: string; message: string; field?: string } } | undefined;
}

/** One REST call; `body` is sent as JSON (a string is sent as is, for malformed-JSON tests). */
export async function rest<T = any>(method: string, path: string, body?: unknown): Promise<RestAnswer<T>> {
  return restAt<T>(testEnv().url, method, path, body);
}

/** {@link rest} against the service at `baseUrl` (e.g. a second replica a test started). */
export async function restAt<T = any>(baseUrl: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<RestAnswer<T> & { headers: Headers }> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** {@link rest} as the holder of a bearer `token` (undefined: anonymous). */
export async function restAs<T = any>(token: string | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<RestAnswer<T> & { headers: Headers }> {
  return restAt<T>(testEnv().url, method, path, body, { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers });
}

/** {@link gql} as the holder of a bearer `token`, with the HTTP status of the answer. */
export async function gqlAs<TResult, TVars>(
  token: string | undefined,
  doc: TypedDocumentNode<TResult, TVars> | DocumentNode | string,
  variables?: TVars,
  baseUrl = testEnv().url,
): Promise<GraphQLAnswer<TResult> & { status: number; headers: Headers }> {
  const res = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: typeof doc === 'string' ? doc : print(doc), variables }),
  });
  return { ...((await res.json()) as GraphQLAnswer<TResult>), status: res.status, headers: res.headers };
}

export interface GraphQLAnswer<T> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
}

/** A GraphQL query or mutation over HTTP POST. */
export async function gql<TResult, TVars>(doc: TypedDocumentNode<TResult, TVars> | DocumentNode | string, variables?: TVars): Promise<GraphQLAnswer<TResult>> {
  const res = await fetch(`${testEnv().url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query: typeof doc === 'string' ? doc : print(doc), variables }),
  });
  return (await res.json()) as GraphQLAnswer<TResult>;
}

/**
 * A graphql-ws client of the service under test (of `baseUrl` when given); with `token`, it is
 * sent in connection_init as `{ authorization: "Bearer …" }`. Dispose it when done.
 */
export function wsClient(token?: string, baseUrl = testEnv().url, on?: { closed?: (e: unknown) => void }): Client {
  return createClient({
    url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    ...(token ? { connectionParams: { authorization: `Bearer ${token}` } } : {}),
    ...(on?.closed ? { on: { closed: on.closed } } : {}),
  });
}

/**
 * Subscribes and collects results until `until` returns true for the collected list (or timeout).
 * @returns every result received.
 */
export async function collectSubscription<TResult, TVars>(
  client: Client,
  doc: TypedDocumentNode<TResult, TVars> | DocumentNode | string,
  variables: TVars,
  until: (results: GraphQLAnswer<TResult>[]) => boolean,
  timeoutMs = 90_000,
  onFirst?: () => Promise<void> | void,
): Promise<GraphQLAnswer<TResult>[]> {
  const results: GraphQLAnswer<TResult>[] = [];
  const iterator = client.iterate<TResult>({ query: typeof doc === 'string' ? doc : print(doc), variables: variables as Record<string, unknown> });
  const timer = setTimeout(() => void iterator.return?.(), timeoutMs);
  let first = true;
  try {
    for await (const r of iterator) {
      results.push(r as GraphQLAnswer<TResult>);
      if (first) {
        first = false;
        await onFirst?.();
      }
      if (until(results) || r.errors) break;
    }
  } finally {
    clearTimeout(timer);
    await iterator.return?.();
  }
  return results;
}

/**
 * GET of a path sent exactly as written (node:http, no URL parsing), so dot segments and
 * percent-escapes reach the server as a hostile client would send them (fetch resolves `..` and
 * `%2E%2E` before sending). @returns status and body text.
 */
export async function rawGet(baseUrl: string, rawPath: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { request } = await import('node:http');
  const u = new URL(baseUrl);
  return await new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: rawPath, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
