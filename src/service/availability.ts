/**
 * The service's answer while the cluster cannot serve it (contract, "REST compatibility surface":
 * 503 `operator_unavailable`): writes are refused while kube-apiserver is unreachable, since none
 * could land; every request touching a kind whose CRD is not installed is refused, since the cache
 * of that kind is empty; reads otherwise answer from the cache, with how stale it may be.
 * REST (src/rest/index.ts) and GraphQL (src/graphql/availability.ts) both ask here.
 */
import type { ServiceContext } from './context';
import { OperatorUnavailableError } from './errors';

/**
 * @throws OperatorUnavailableError naming what is missing, for a write (`write: true`) while the
 *   API server is unreachable, or for any request while one of the service's CRDs is not served.
 */
export function requireAvailable(ctx: ServiceContext, opts: { write: boolean }): void {
  const state = ctx.availability.check();
  if (state.notServed.length) {
    throw new OperatorUnavailableError(`the cluster does not serve ${state.notServed.join(', ')}: its CRD is not installed; apply crds/ (kubectl apply -f crds/) and retry`);
  }
  if (opts.write && state.apiServerDown) {
    throw new OperatorUnavailableError(`writes are refused while the Kubernetes API server is unreachable (${state.reasons[0]}); reads still answer from the cache`);
  }
}

/**
 * How stale a cached read may be, in seconds since the API server last answered; undefined while
 * it answers (the cache then trails the cluster by one watch event at most).
 */
export function staleSeconds(ctx: ServiceContext): number | undefined {
  return ctx.availability.check().staleSeconds;
}
