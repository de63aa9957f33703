/**
 * A yoga plugin for the service's availability (src/service/availability.ts): a mutation while
 * kube-apiserver is unreachable, or any operation while one of the CRDs is not served, is answered
 * with one OPERATOR_UNAVAILABLE error (HTTP 503) before it executes; a query served from a cache
 * that may be stale carries `extensions.staleSeconds`.
 */
import { getOperationAST, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { ServiceContext } from '../service/context';
import { requireAvailable, staleSeconds } from '../service/availability';
import { OperatorUnavailableError } from '../service/errors';

/** The plugin of this module's comment, for the service context `svc`. */
export function useAvailability(svc: ServiceContext): Plugin {
  const refusal = (err: OperatorUnavailableError) => ({
    errors: [new GraphQLError(err.message, { extensions: { code: 'OPERATOR_UNAVAILABLE', http: { status: 503, headers: { 'retry-after': String(err.retryAfterSeconds) } } } })],
  });
  const check = (args: { document: Parameters<typeof getOperationAST>[0]; operationName?: string | null }) => {
    const op = getOperationAST(args.document, args.operationName ?? undefined);
    // Introspection and __typename-only probes are answered by the schema alone.
    if (!op || op.selectionSet.selections.every((s) => s.kind === 'Field' && s.name.value.startsWith('__'))) return undefined;
    try {
      requireAvailable(svc, { write: op.operation === 'mutation' });
      return undefined;
    } catch (err) {
      if (err instanceof OperatorUnavailableError) return refusal(err);
      throw err;
    }
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refused = check(args);
      if (refused) {
        setResultAndStopExecution(refused);
        return;
      }
      const stale = staleSeconds(svc);
      if (stale === undefined) return;
      return {
        onExecuteDone({ result, setResult }) {
          if (!('data' in result)) return;
          setResult({ ...result, extensions: { ...result.extensions, staleSeconds: stale } });
        },
      };
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refused = check(args);
      if (refused) setResultAndStopExecution(refused);
    },
  };
}
