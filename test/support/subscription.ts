/**
 * A live graphql-ws subscription for tests: results are collected as they arrive and the test
 * waits for a predicate over them while it acts (creates, updates, deletes) in between.
 */
import type { Client } from 'graphql-ws';
import { print, type DocumentNode } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { GraphQLAnswer } from './http';

export interface LiveSubscription<TResult> {
  /** Every result received so far, in order. */
  readonly results: GraphQLAnswer<TResult>[];
  /** The error the subscription ended with (a CloseEvent or an array of GraphQL errors), if any. */
  readonly error: unknown;
  /** Resolves once `pred(results)` holds; rejects on timeout or when the subscription ends first. */
  waitFor(pred: (results: GraphQLAnswer<TResult>[]) => boolean, what: string, timeoutMs?: number): Promise<GraphQLAnswer<TResult>[]>;
  /** Resolves when the server completes the subscription or it fails. */
  readonly ended: Promise<void>;
  /** Unsubscribes. */
  stop(): void;
}

/** Subscribes `doc` on `client` and collects its results. */
export function subscribe<TResult, TVars>(client: Client, doc: TypedDocumentNode<TResult, TVars> | DocumentNode | string, variables: TVars): LiveSubscription<TResult> {
  const results: GraphQLAnswer<TResult>[] = [];
  const waiters = new Set<() => void>();
  let error: unknown;
  let finished = false;
  let endedResolve!: () => void;
  const ended = new Promise<void>((r) => (endedResolve = r));
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const end = () => {
    finished = true;
    endedResolve();
    notify();
  };
  const unsubscribe = client.subscribe<TResult>(
    { query: typeof doc === 'string' ? doc : print(doc), variables: variables as Record<string, unknown> },
    {
      next: (r) => {
        results.push(r as GraphQLAnswer<TResult>);
        notify();
      },
      error: (e) => {
        error = e;
        end();
      },
      complete: end,
    },
  );
  return {
    results,
    get error() {
      return error;
    },
    ended,
    stop: unsubscribe,
    waitFor(pred, what, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pred(results)) {
            cleanup();
            resolve(results);
          } else if (finished) {
            cleanup();
            reject(new Error(`subscription ended before ${what}; error: ${JSON.stringify(error)}; results: ${JSON.stringify(results)}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${what}; results: ${JSON.stringify(results)}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}
