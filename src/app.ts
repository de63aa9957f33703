/**
 * The whole service in one process: informers, reconcilers, GraphQL and REST. main.ts starts it
 * from the environment; integration tests start it in-process against the local cluster.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterCache } from './kube/cache';
import { EventRecorder } from './kube/events';
import { Kube } from './kube/resources';
import { ensureClusterPrerequisites } from './kube/setup';
import { StorageController, type StorageControllerOptions } from './controllers/storage/controller';
import { OperationController, UnitController } from './controllers/unit/controller';
import { LeaderElector } from './kube/leader';
import { startHttpServer, type HttpServer } from './server';
import type { ServiceContext } from './service/context';
import type { GraphQLOptions } from './graphql/yoga';
import { DEFAULT_PREPARE_DEADLINE_SECONDS, DEFAULT_PREPARE_JOB_TTL_SECONDS, FIELD_MANAGER, INSTANCE_NAMESPACE } from './api/constants';
import { logger } from './logger';
import { Auth, authOptionsFromEnv, type AuthOptions } from './auth/index';
import { ensureUserRoles } from './auth/roles';

export interface AppOptions {
  /** Path of the kubeconfig to use; in-cluster config when omitted and KUBERNETES_SERVICE_HOST is set. */
  kubeconfig?: string;
  host?: string;
  /** HTTP port (0: a free one). */
  port?: number;
  /** Run the reconcilers (default true), while this replica holds the leader lease. */
  controllers?: boolean;
  /**
   * Lease of the leader election (default: namespace runtime-instance, name gpu-runtime-operator;
   * env LEADER_ELECTION_NAMESPACE). Every replica serves reads; only the leader reconciles.
   */
  leaderElection?: { namespace?: string; name?: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** Install missing CRDs and namespaces (default true). */
  installPrerequisites?: boolean;
  prepareJobTTLSeconds?: number;
  prepareDeadlineSeconds?: number;
  graphql?: GraphQLOptions;
  /** Authentication, authorization and limits (defaults from the environment: README). */
  auth?: AuthOptions;
}

export interface App {
  svc: ServiceContext;
  auth: Auth;
  http: HttpServer;
  url: string;
  /** The controllers while this replica leads, else undefined. */
  controllers(): RunningControllers | undefined;
  /** Undefined when controllers are off. */
  elector?: LeaderElector;
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

export type ControllerOptions = StorageControllerOptions;

/** The reconcilers of one leadership term. */
export interface RunningControllers {
  storage: StorageController;
  units: UnitController;
  operations: OperationController;
  stop(): void;
}

/**
 * Starts every reconciler (fresh work queues: a term's queues end with it). Add a controller here.
 */
export function startControllers(svc: ServiceContext, opts: ControllerOptions): RunningControllers {
  const storage = new StorageController(svc.kube, svc.cache, svc.recorder, opts);
  storage.start();
  const units = new UnitController(svc.kube, svc.cache, svc.recorder);
  units.start();
  const operations = new OperationController(svc.kube, svc.cache, svc.recorder);
  operations.start();
  return {
    storage,
    units,
    operations,
    stop: () => {
      storage.stop();
      units.stop();
      operations.stop();
    },
  };
}

/**
 * Starts the service and resolves once the informers have listed and the port listens.
 * @throws when the cluster cannot be reached within 60 s or the port is taken.
 */
export async function startApp(opts: AppOptions = {}): Promise<App> {
  const kc = loadKubeConfig(opts.kubeconfig);
  const kube = new Kube(kc);
  if (opts.installPrerequisites ?? true) {
    await ensureClusterPrerequisites(kube);
    await ensureUserRoles(kube);
  }
  const cache = new ClusterCache(kc);
  cache.start();
  await cache.waitForSync();
  const recorder = new EventRecorder(kube);
  const svc: ServiceContext = { kube, cache, recorder, startedAt: new Date() };

  let running: RunningControllers | undefined;
  let elector: LeaderElector | undefined;
  if (opts.controllers ?? true) {
    const controllerOptions: ControllerOptions = {
      ttlSecondsAfterFinished: opts.prepareJobTTLSeconds ?? Number(process.env.PREPARE_JOB_TTL_SECONDS ?? DEFAULT_PREPARE_JOB_TTL_SECONDS),
      activeDeadlineSeconds: opts.prepareDeadlineSeconds ?? Number(process.env.PREPARE_DEADLINE_SECONDS ?? DEFAULT_PREPARE_DEADLINE_SECONDS),
    };
    const le = opts.leaderElection ?? {};
    elector = new LeaderElector(kube, {
      namespace: le.namespace ?? process.env.LEADER_ELECTION_NAMESPACE ?? INSTANCE_NAMESPACE,
      name: le.name ?? FIELD_MANAGER,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      onStartedLeading: () => {
        running = startControllers(svc, controllerOptions);
      },
      onStoppedLeading: () => {
        running?.stop();
        running = undefined;
      },
    });
    elector.start();
  }
  const auth = new Auth(kube, authOptionsFromEnv(opts.auth));
  const http = await startHttpServer(svc, auth, { host: opts.host, port: opts.port, graphql: opts.graphql });
  logger.info({ url: http.url }, 'service started');
  return {
    svc,
    auth,
    http,
    url: http.url,
    controllers: () => running,
    elector,
    close: async () => {
      await elector?.stop();
      running?.stop();
      await http.close();
      cache.stop();
    },
  };
}
