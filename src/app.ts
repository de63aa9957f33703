/**
 * The whole service in one process: informers, reconcilers, GraphQL and REST. main.ts starts it
 * from the environment; integration tests start it in-process against the local cluster.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { ClusterCache } from './kube/cache';
import { EventRecorder } from './kube/events';
import { Kube, type WriteGuard } from './kube/resources';
import { ensureClusterPrerequisites } from './kube/setup';
import { StorageController, type StorageControllerOptions } from './controllers/storage/controller';
import { OperationController, UnitController } from './controllers/unit/controller';
import { LeaderElector } from './kube/leader';
import { startHttpServer, type HttpServer } from './server';
import type { ServiceContext } from './service/context';
import type { GraphQLOptions } from './graphql/yoga';
import { DEFAULT_PREPARE_DEADLINE_SECONDS, DEFAULT_PREPARE_JOB_TTL_SECONDS, FIELD_MANAGER, SYSTEM_NAMESPACE } from './api/constants';
import { envInt } from './env';
import { ClusterAvailability, type AvailabilityOptions } from './kube/availability';
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
   * Lease of the leader election (default: the service's own namespace — env
   * LEADER_ELECTION_NAMESPACE, else POD_NAMESPACE from the downward API, else gpu-runtime-system —
   * name gpu-runtime-operator, env LEADER_ELECTION_NAME). Every replica serves reads; only the leader reconciles.
   */
  leaderElection?: { namespace?: string; name?: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** Install missing CRDs and namespaces (default true). */
  installPrerequisites?: boolean;
  prepareJobTTLSeconds?: number;
  prepareDeadlineSeconds?: number;
  graphql?: GraphQLOptions;
  /** Authentication, authorization and limits (defaults from the environment: README). */
  auth?: AuthOptions;
  /** Parallel reconciles per controller (default: env STORAGE_WORKERS, UNIT_WORKERS, OPERATION_WORKERS, else {@link DEFAULT_WORKERS}). */
  workers?: { storage?: number; unit?: number; operation?: number };
  /** The API-server probe behind /readyz and the 503 gate (src/kube/availability.ts). */
  availability?: AvailabilityOptions;
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
  /**
   * Graceful stop within `deadlineMs` (default 20000): stops taking requests and ends
   * subscriptions with a reason (src/server.ts), stops the controllers and lets reconciles in
   * flight finish, releases the leader Lease so another replica leads at once, stops the informers.
   */
  close(deadlineMs?: number): Promise<void>;
}

/** The service's own namespace: POD_NAMESPACE (downward API) or gpu-runtime-system. */
export function systemNamespace(): string {
  return process.env.POD_NAMESPACE || SYSTEM_NAMESPACE;
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
 * Options of the reconcilers: the prepare Job's TTL and deadline, and the workers (parallel
 * reconciles, never two of one key) of each controller, defaults from the environment:
 * STORAGE_WORKERS, UNIT_WORKERS, OPERATION_WORKERS (README "Environment").
 */
export interface ControllerOptions extends StorageControllerOptions {
  unitWorkers?: number;
  operationWorkers?: number;
}

/** Parallel reconciles per controller when the environment does not say (bench/converge.ts). */
export const DEFAULT_WORKERS = { storage: 16, unit: 4, operation: 2 } as const;


/** The reconcilers of one leadership term. */
export interface RunningControllers {
  storage: StorageController;
  units: UnitController;
  operations: OperationController;
  stop(): void;
  /** Resolves when reconciles in flight at stop() have finished or `timeoutMs` passed; true when all finished. */
  drained(timeoutMs: number): Promise<boolean>;
}

/**
 * Starts every reconciler (fresh work queues: a term's queues end with it). Add a controller here.
 */
export function startControllers(svc: ServiceContext, opts: ControllerOptions, guard?: WriteGuard): RunningControllers {
  // The term's writes (Events included) go through its guard: a reconcile still running when the
  // term ends is refused at its next write (LeaderElector.termGuard).
  const kube = guard ? svc.kube.guarded(guard) : svc.kube;
  const recorder = guard ? new EventRecorder(kube) : svc.recorder;
  const storage = new StorageController(kube, svc.cache, recorder, opts);
  storage.start();
  const units = new UnitController(kube, svc.cache, recorder, { workers: opts.unitWorkers });
  units.start();
  const operations = new OperationController(kube, svc.cache, recorder, { workers: opts.operationWorkers });
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
    drained: async (timeoutMs) => {
      const started = Date.now();
      const finished = (await Promise.all([storage, units, operations].map((c) => c.drained(timeoutMs)))).every(Boolean);
      return (await recorder.flush(Math.max(0, timeoutMs - (Date.now() - started)))) && finished;
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
  const le = opts.leaderElection ?? {};
  const leaseNamespace = le.namespace ?? (process.env.LEADER_ELECTION_NAMESPACE || systemNamespace());
  if (opts.installPrerequisites ?? true) {
    await ensureClusterPrerequisites(kube, [leaseNamespace]);
    await ensureUserRoles(kube);
  }
  const cache = new ClusterCache(kc);
  cache.start();
  await cache.waitForSync();
  const recorder = new EventRecorder(kube);
  const availability = new ClusterAvailability(kube, cache, opts.availability);
  availability.start();
  const svc: ServiceContext = { kube, cache, recorder, startedAt: new Date(), availability };

  let running: RunningControllers | undefined;
  let elector: LeaderElector | undefined;
  if (opts.controllers ?? true) {
    const controllerOptions: ControllerOptions = {
      ttlSecondsAfterFinished: opts.prepareJobTTLSeconds ?? envInt('PREPARE_JOB_TTL_SECONDS', DEFAULT_PREPARE_JOB_TTL_SECONDS, 0),
      activeDeadlineSeconds: opts.prepareDeadlineSeconds ?? envInt('PREPARE_DEADLINE_SECONDS', DEFAULT_PREPARE_DEADLINE_SECONDS, 1),
      workers: opts.workers?.storage ?? envInt('STORAGE_WORKERS', DEFAULT_WORKERS.storage, 1, 256),
      unitWorkers: opts.workers?.unit ?? envInt('UNIT_WORKERS', DEFAULT_WORKERS.unit, 1, 256),
      operationWorkers: opts.workers?.operation ?? envInt('OPERATION_WORKERS', DEFAULT_WORKERS.operation, 1, 256),
    };
    // Lease requests skip the client-side rate limit: a burst of reconciles must not delay a renewal.
    elector = new LeaderElector(kube.unthrottled(), {
      namespace: leaseNamespace,
      name: le.name ?? (process.env.LEADER_ELECTION_NAME || FIELD_MANAGER),
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      onStartedLeading: () => {
        running = startControllers(svc, controllerOptions, elector!.termGuard());
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
    close: async (deadlineMs = 20_000) => {
      const deadline = Date.now() + deadlineMs;
      const left = () => Math.max(0, deadline - Date.now());
      // Requests first (they may still need the cache), at most half the budget.
      await http.close(Math.min(10_000, left() / 2));
      const term = running;
      running = undefined;
      term?.stop();
      const finished = term ? await term.drained(Math.max(0, left() - 1000)) : true;
      if (!finished) logger.warn('reconciles still running at the shutdown deadline; they are abandoned (level-triggered: the next leader redoes them)');
      if (!(await recorder.flush(Math.min(2000, left())))) logger.warn('events still queued at the shutdown deadline were not sent');
      // Release the Lease only once our reconciles are done, so the next leader never overlaps them.
      await elector?.stop();
      availability.stop();
      cache.stop();
    },
  };
}
