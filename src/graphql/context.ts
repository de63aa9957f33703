/**
 * Per-request GraphQL context: the shared service context plus request-scoped DataLoaders.
 */
import DataLoader from 'dataloader';
import type { KubernetesObject } from '@kubernetes/client-node';
import { forCaller, type RequestContext, type ServiceContext } from '../service/context';
import type { Auth, Caller } from '../auth/index';
import type { GPUStorage, GPUUnit } from '../api/types';
import { STOCK_NAMESPACE } from '../api/constants';
import { INDEX } from '../kube/cache';

export interface GraphQLContext {
  /** The service, acting for the request's caller. */
  svc: RequestContext;
  /** Budgets, re-check period and the authorizer of the service. */
  auth: Auth;
  /** The graphql-ws connection (its subscription budget); undefined over HTTP and SSE. */
  connection?: object;
  loaders: Loaders;
}

export interface Loaders {
  /** Active units mounting a storage, keyed `namespace/storageName`; one index per request. */
  unitsByStorage: DataLoader<string, (GPUUnit & KubernetesObject)[]>;
  /** Storages by `namespace/name` (undefined when missing), from the shared cache. */
  storage: DataLoader<string, (GPUStorage & KubernetesObject) | undefined>;
}

/** Builds the loaders of one request (a WebSocket operation counts as one request). */
export function createLoaders(svc: ServiceContext): Loaders {
  return {
    // The storage → mounting units index (src/kube/cache.ts): the same rule as the service's
    // mountedBy (unitsMounting), active units not being deleted; O(units of the storage) per key.
    unitsByStorage: new DataLoader(async (keys) =>
      keys.map((k) => (k.startsWith(`${STOCK_NAMESPACE}/`) ? [] : svc.cache.units.byIndex(INDEX.mountedStorage, k).sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!)))),
    ),
    storage: new DataLoader(async (keys) =>
      keys.map((k) => {
        const [ns, name] = k.split('/');
        return ns && name ? svc.cache.storages.get(ns, name) : undefined;
      }),
    ),
  };
}

/** The context of one HTTP request or one WebSocket operation, acting for `caller`. */
export function createContext(svc: ServiceContext, auth: Auth, caller: Caller, connection?: object): GraphQLContext {
  return { svc: forCaller(svc, caller), auth, connection, loaders: createLoaders(svc) };
}

/**
 * Gives a subscription's context fresh loaders before each event is resolved: the context of a
 * subscription lives as long as the subscription, and each event's related data (mountedBy, a
 * unit's storages) must be read from the cache as it is now, not as it was at the first event.
 */
export function refreshLoaders(ctx: GraphQLContext): void {
  ctx.loaders = createLoaders(ctx.svc);
}
