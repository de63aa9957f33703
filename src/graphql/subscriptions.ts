/**
 * Subscriptions under RBAC: a subscription is authorized when it starts (verb `watch` on the
 * resource, in its namespace or, across namespaces, in each namespace it shows), counted against
 * the caller's subscription budget, and checked again every `auth.recheckMs`. When access is
 * revoked the subscription's last event is a FORBIDDEN error naming what was revoked, and it ends
 * (the client subscribes again once access is restored). A namespace first seen while the
 * subscription runs is asked about once and, when allowed, its objects arrive as ADDED.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { PlatformResource } from '../auth/authorizer';
import { describeDenial } from '../auth/authorizer';
import { NAMESPACE_INDEX, type Informer } from '../kube/informer';
import { ForbiddenError } from '../service/errors';
import { logger } from '../logger';
import type { GraphQLContext } from './context';
import { informerStream, type InformerStream } from './stream';

/** What a subscription watches: one namespace (optionally one object), or all it may see. */
export interface WatchScope {
  resource: PlatformResource;
  /** Undefined: every namespace the caller may watch. */
  namespace?: string;
  name?: string;
}

const nsOf = (o: KubernetesObject) => o.metadata?.namespace ?? '';

/**
 * Starts an authorized stream of `informer` events matching `filter` within `scope`.
 * @throws ForbiddenError when the caller may not watch the scope; RateLimitedError past the
 *   caller's subscription budget.
 */
export async function watchAuthorized<T extends KubernetesObject>(
  ctx: GraphQLContext,
  informer: Informer<T>,
  scope: WatchScope,
  filter: (obj: T) => boolean,
): Promise<InformerStream<T>> {
  const caller = ctx.svc.caller;
  const { resource } = scope;
  if (scope.namespace) await caller.require({ verb: 'watch', resource, namespace: scope.namespace, name: scope.name });
  let visible: 'all' | Set<string> = scope.namespace ? 'all' : await caller.namespacesAllowed('watch', resource, informer.indexValues(NAMESPACE_INDEX));
  const release = ctx.auth.limits.openSubscription(caller.user, ctx.connection);
  const asking = new Set<string>();
  let stream: InformerStream<T>;
  /** A namespace not decided yet (created after the start): ask once, then replay its objects. */
  const discover = (ns: string) => {
    if (asking.has(ns)) return;
    asking.add(ns);
    void caller
      .can({ verb: 'watch', resource, namespace: ns })
      .then((ok) => {
        if (!ok || visible === 'all') return;
        visible.add(ns);
        for (const o of informer.list(ns)) if (filter(o)) stream.push('ADDED', o);
      })
      .catch(() => asking.delete(ns));
  };
  stream = informerStream(
    informer,
    (o) => {
      if (!filter(o)) return false;
      if (visible === 'all' || visible.has(nsOf(o))) return true;
      discover(nsOf(o));
      return false;
    },
    // The informer's hub offers this stream only the events of its scope (./stream.ts).
    { route: { namespace: scope.namespace, name: scope.namespace ? scope.name : undefined } },
  );
  const recheck = async () => {
    try {
      if (scope.namespace) {
        if (!(await caller.can({ verb: 'watch', resource, namespace: scope.namespace, name: scope.name }))) {
          stream.end(new ForbiddenError(`${describeDenial(caller.user, { verb: 'watch', resource, namespace: scope.namespace })}: access was revoked; the subscription has ended`));
        }
        return;
      }
      const before = visible;
      const now = await caller.namespacesAllowed('watch', resource, [...(before === 'all' ? informer.indexValues(NAMESPACE_INDEX) : before)]);
      if (before !== 'all' && now !== 'all') {
        const lost = [...before].find((ns) => !now.has(ns));
        if (lost) stream.end(new ForbiddenError(`${describeDenial(caller.user, { verb: 'watch', resource, namespace: lost })}: access was revoked; the subscription has ended`));
      } else if (before === 'all' && now !== 'all') {
        stream.end(new ForbiddenError(`access to ${resource} across all namespaces was revoked for ${caller.user.username}; subscribe again to see what remains visible`));
      }
      visible = now === 'all' ? now : new Set([...now, ...(before === 'all' ? [] : before)].filter((ns) => now.has(ns)));
    } catch (err) {
      // The cluster could not be asked (503): keep the stream, ask again next period.
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'subscription access re-check failed; retrying next period');
    }
  };
  const timer = setInterval(() => void recheck(), ctx.auth.recheckMs);
  timer.unref();
  stream.onFinish(() => {
    clearInterval(timer);
    release();
  });
  return stream;
}
