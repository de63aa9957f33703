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
export async function restAt<T = any>(baseUrl: string, method: string, path: string, body?: unknown): Promise<RestAnswer<T>> {
  const res = await fetch(baseUrl + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
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

/** A graphql-ws client of the service under test. Dispose it when done. */
export function wsClient(): Client {
  return createClient({ url: `${testEnv().url.replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
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
