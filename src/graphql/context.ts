/**
 * Per-request GraphQL context: the shared service context plus request-scoped DataLoaders.
 */
import DataLoader from 'dataloader';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ServiceContext } from '../service/context';
import type { GPUUnit } from '../api/types';

export interface GraphQLContext {
  svc: ServiceContext;
  loaders: Loaders;
}

export interface Loaders {
  /** Active units mounting a storage, keyed `namespace/storageName`; one index per request. */
  unitsByStorage: DataLoader<string, (GPUUnit & KubernetesObject)[]>;
}

/** Builds the loaders of one request (a WebSocket operation counts as one request). */
export function createLoaders(svc: ServiceContext): Loaders {
  return {
    unitsByStorage: new DataLoader(async (keys) => {
      const index = new Map<string, (GPUUnit & KubernetesObject)[]>();
      for (const u of svc.cache.units.list()) {
        if (u.metadata.deletionTimestamp) continue;
        for (const m of u.spec.storageMounts ?? []) {
          const k = `${u.metadata.namespace}/${m.name}`;
          index.set(k, [...(index.get(k) ?? []), u]);
        }
      }
      return keys.map((k) => index.get(k) ?? []);
    }),
  };
}

export function createContext(svc: ServiceContext): GraphQLContext {
  return { svc, loaders: createLoaders(svc) };
}
