/**
 * Entry point (npm start).
 *
 * - With KUBECONFIG set: runs against that cluster; installs only the CRDs and the two namespaces
 *   when they are missing and it is permitted to.
 * - Without: builds (once, cached) and starts the project's local cluster on loopback, then runs
 *   against it; the cluster stops with the service.
 *
 * Environment: PORT (default 8080), HOST (default 127.0.0.1; 0.0.0.0 in a pod), KUBECONFIG,
 * GPU_RUNTIME_CACHE, LOG_LEVEL, PREPARE_JOB_TTL_SECONDS, PREPARE_DEADLINE_SECONDS,
 * GRAPHQL_INTROSPECTION, POD_NAMESPACE, SHUTDOWN_TIMEOUT_SECONDS (README "Environment").
 */
import { loadKubeConfig, startApp } from './app';
import { logger } from './logger';
import { env, envSecondsAsMs } from './env';
import { grantDevelopmentAccess } from './auth/roles';
import { Kube } from './kube/resources';

/**
 * The local development cluster (hack/cluster/cluster.ts). The production bundle (npm run build)
 * leaves it out, so `node dist/main.js` without KUBECONFIG outside a cluster says what to set.
 */
async function importLocalCluster(): Promise<typeof import('../hack/cluster/cluster')> {
  try {
    return await import('../hack/cluster/cluster');
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'ERR_UNSUPPORTED_DIR_IMPORT') throw err;
    throw new Error('neither KUBECONFIG nor KUBERNETES_SERVICE_HOST is set, and this build has no local development cluster (that is `npm start` in a checkout): set KUBECONFIG, or run in a pod');
  }
}

async function main(): Promise<void> {
  const port = env('PORT').default('8080').asPortNumber();
  const inPod = !!process.env.KUBERNETES_SERVICE_HOST;
  // In a pod the kubelet's probes and the Service reach the pod IP, not loopback.
  const host = env('HOST').default(inPod ? '0.0.0.0' : '127.0.0.1').asString();
  // Below the pod's default terminationGracePeriodSeconds (30) so the kubelet never SIGKILLs us mid-release.
  const shutdownMs = envSecondsAsMs('SHUTDOWN_TIMEOUT_SECONDS', 20);
  let kubeconfig = process.env.KUBECONFIG || undefined;
  let stopCluster: (() => Promise<void>) | undefined;
  if (!kubeconfig && !process.env.KUBERNETES_SERVICE_HOST) {
    const { startLocalCluster } = await importLocalCluster();
    const cluster = await startLocalCluster({ name: 'dev', persistent: true });
    kubeconfig = cluster.operatorKubeconfig;
    stopCluster = cluster.stop;
    // A development convenience of the embedded cluster only: anonymous requests may use the
    // tenant role in runtime-instance and seed stock in runtime-stock (README "Authentication").
    const grants = await grantDevelopmentAccess(new Kube(loadKubeConfig(kubeconfig)));
    process.stderr.write(`\ndevelopment access on the embedded cluster (no token needed; never granted on a KUBECONFIG cluster):\n${grants.map((g) => `  ${g}`).join('\n')}\n`);
    process.stderr.write(
      `\nlocal cluster is up\n  kubeconfig: ${cluster.kubeconfig}\n  kubectl:    ${cluster.kubectl}\n` +
        `  try:        ${cluster.kubectl} --kubeconfig ${cluster.kubeconfig} get gpustorages -n runtime-instance\n`,
    );
  }
  const app = await startApp({ kubeconfig, port, host });
  process.stderr.write(`\nGraphQL (GraphiQL in a browser): ${app.url}/graphql\nREST:                            ${app.url}/api/v1/health\n\n`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, deadlineSeconds: shutdownMs / 1000 }, 'shutting down');
    // Past the deadline (plus the local cluster's own stop) the process ends regardless.
    setTimeout(() => {
      logger.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, shutdownMs + 5000).unref();
    await app.close(shutdownMs).catch((err: unknown) => logger.error({ err }, 'error while closing'));
    await stopCluster?.();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));

main().catch(async (err: unknown) => {
  logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'could not start');
  process.stderr.write(`\n${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
