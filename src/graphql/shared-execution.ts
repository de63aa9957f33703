/**
 * Shared execution of subscription events: an envelop plugin that executes the selection set of
 * a subscription event once per (document, operation, variables, caller identity) and hands the
 * same ExecutionResult to every subscriber of that group, instead of once per subscriber.
 *
 * What makes it possible: the informer hub (./stream.ts) delivers one WatchEvent object per
 * informer event to every stream, so the event object identifies "the same event" across
 * subscribers; yoga's parser cache gives one DocumentNode per query string. What keeps it
 * correct: resolvers read only the event, the cache and the caller's RBAC decisions, all shared
 * by the group (the caller identity is part of the key, so two users never share a result); and a
 * result is reused for at most {@link SHARED_RESULT_MAX_AGE_MS}, after which a late subscriber
 * executes again and sees related data (mountedBy, storages) as it is then.
 *
 * Only the per-event execution is shared; creating the source stream (the subscribe resolver:
 * authorization, budgets) runs per subscriber, and each socket still serializes its own message.
 */
import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext } from './context';

/** How long a shared result may be handed to a subscriber that takes the event later, in ms. */
export const SHARED_RESULT_MAX_AGE_MS = 1000;

interface Shared {
  at: number;
  result: Promise<ExecutionResult> | ExecutionResult;
}

/** Per event object: group key → result. Weak: dropped with the event once no stream holds it. */
const results = new WeakMap<object, Map<string, Shared>>();
const documentIds = new WeakMap<DocumentNode, number>();
let nextDocumentId = 0;

/** Counters for benchmarks and tests: executions run and results reused. */
export const sharedExecutionStats = { executed: 0, reused: 0 };

/** The group of a subscription: same document, operation, variables and caller identity. */
function groupKey(args: ExecutionArgs): string {
  let id = documentIds.get(args.document);
  if (id === undefined) documentIds.set(args.document, (id = nextDocumentId++));
  const user = (args.contextValue as GraphQLContext | undefined)?.svc?.caller?.user;
  const who = user ? JSON.stringify([user.username, user.uid ?? '', user.groups ?? [], user.extra ?? {}]) : '?';
  return `${id}\0${args.operationName ?? ''}\0${JSON.stringify(args.variableValues ?? {})}\0${who}`;
}

/** Executes `args` for event `payload`, or reuses the result of its group (see the module comment). */
function executeEvent(args: ExecutionArgs, group: string, payload: unknown): Promise<ExecutionResult> | ExecutionResult {
  const run = () => {
    sharedExecutionStats.executed++;
    return execute({ ...args, rootValue: payload }) as Promise<ExecutionResult> | ExecutionResult;
  };
  if (typeof payload !== 'object' || payload === null) return run();
  let byGroup = results.get(payload);
  if (!byGroup) results.set(payload, (byGroup = new Map()));
  const now = Date.now();
  const hit = byGroup.get(group);
  if (hit && now - hit.at <= SHARED_RESULT_MAX_AGE_MS) {
    sharedExecutionStats.reused++;
    return hit.result;
  }
  const result = run();
  byGroup.set(group, { at: now, result });
  return result;
}

/** Maps each item of `source` through `fn`, passing return() on to the source. */
function mapAsync<A, B>(source: AsyncIterator<A>, fn: (a: A) => Promise<B> | B): AsyncIterableIterator<B> {
  const it: AsyncIterableIterator<B> = {
    async next() {
      const r = await source.next();
      return r.done ? { done: true, value: undefined } : { done: false, value: await fn(r.value) };
    },
    async return() {
      await source.return?.();
      return { done: true, value: undefined };
    },
    async throw(err?: unknown) {
      if (source.throw) await source.throw(err);
      throw err;
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}

/**
 * graphql-js `subscribe` with shared per-event execution: the source stream as graphql-js
 * creates it, each event executed through {@link executeEvent}.
 */
export async function sharedSubscribe(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const source = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in source)) return source as ExecutionResult;
  const group = groupKey(args);
  return mapAsync((source as AsyncIterable<unknown>)[Symbol.asyncIterator](), (payload) => executeEvent(args, group, payload));
}

/** The yoga plugin: every subscription (graphql-ws and SSE) subscribes through {@link sharedSubscribe}. */
export function useSharedSubscriptionExecution(): Plugin {
  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(sharedSubscribe as never);
    },
  };
}
