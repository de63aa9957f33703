/**
 * The whole service in one process: informers, reconcilers, GraphQL and REST. main.ts starts it
 * from the environment; integration tests start it in-process against the local cluster.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterCache } from './kube/cache';
import { EventRecorder } from './kube/events';
import { Kube } from './kube/resources';
import { ensureClusterPrerequisites } from './kube/setup';
import { StorageController } from './controllers/storage/controller';
import { startHttpServer, type HttpServer } from './server';
import type { ServiceContext } from './service/context';
import type { GraphQLOptions } from './graphql/yoga';
import { DEFAULT_PREPARE_DEADLINE_SECONDS, DEFAULT_PREPARE_JOB_TTL_SECONDS } from './api/constants';
import { logger } from './logger';

export interface AppOptions {
  /** Path of the kubeconfig to use; in-cluster config when omitted and KUBERNETES_SERVICE_HOST is set. */
  kubeconfig?: string;
  host?: string;
  /** HTTP port (0: a free one). */
  port?: number;
  /** Run the reconcilers (default true). */
  controllers?: boolean;
  /** Install missing CRDs and namespaces (default true). */
  installPrerequisites?: boolean;
  prepareJobTTLSeconds?: number;
  prepareDeadlineSeconds?: number;
  graphql?: GraphQLOptions;
}

export interface App {
  svc: ServiceContext;
  http: HttpServer;
  url: string;
  storageController?: StorageController;
  close(): Promise<void>;
}

/** Loads a KubeConfig from a file, or the in-cluster service account. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

/**
 * Starts the service and resolves once the informers have listed and the port listens.
 * @throws when the cluster cannot be reached within 60 s or the port is taken.
 */
export async function startApp(opts: AppOptions = {}): Promise<App> {
  const kc = loadKubeConfig(opts.kubeconfig);
  const kube = new Kube(kc);
  if (opts.installPrerequisites ?? true) await ensureClusterPrerequisites(kube);
  const cache = new ClusterCache(kc);
  cache.start();
  await cache.waitForSync();
  const recorder = new EventRecorder(kube);
  const svc: ServiceContext = { kube, cache, recorder, startedAt: new Date() };

  let storageController: StorageController | undefined;
  if (opts.controllers ?? true) {
    storageController = new StorageController(kube, cache, recorder, {
      ttlSecondsAfterFinished: opts.prepareJobTTLSeconds ?? Number(process.env.PREPARE_JOB_TTL_SECONDS ?? DEFAULT_PREPARE_JOB_TTL_SECONDS),
      activeDeadlineSeconds: opts.prepareDeadlineSeconds ?? Number(process.env.PREPARE_DEADLINE_SECONDS ?? DEFAULT_PREPARE_DEADLINE_SECONDS),
    });
    storageController.start();
  }
  const http = await startHttpServer(svc, { host: opts.host, port: opts.port, graphql: opts.graphql });
  logger.info({ url: http.url }, 'service started');
  return {
    svc,
    http,
    url: http.url,
    storageController,
    close: async () => {
      storageController?.stop();
      await http.close();
      cache.stop();
    },
  };
}
