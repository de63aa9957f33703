/**
 * The service under test of bench/subscriptions.ts, in a process of its own (so its RSS and CPU
 * are its own): no controllers (status changes come from the benchmark), budgets opened for
 * 1,000 subscribers of one identity. Prints `URL <url>` once serving; stops on SIGTERM.
 * Argument: the operator kubeconfig.
 */
import { startApp } from '../../src/app';

process.env.LOG_LEVEL ??= 'warn';
const app = await startApp({
  kubeconfig: process.argv[2],
  port: 0,
  controllers: false,
  installPrerequisites: false,
  auth: { requestsPerSecond: 0, subscriptionsPerIdentity: 100_000, subscriptionsPerConnection: 100 },
});
process.stdout.write(`URL ${app.url}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
