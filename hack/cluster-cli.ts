/**
 * npm run cluster: starts the local cluster alone (no service) and keeps it running until Ctrl-C.
 * Useful to run the service from an editor with KUBECONFIG pointing at it, or to poke at it with
 * kubectl. Options: --fresh (discard the state of an earlier run), --name NAME, --real-node (a real
 * kubelet node beside the simulated ones, hack/node/; also GPU_RUNTIME_REAL_NODE=1).
 */
import { startLocalCluster } from './cluster/cluster';

const args = process.argv.slice(2);
const name = args.includes('--name') ? args[args.indexOf('--name') + 1] : 'dev';
const cluster = await startLocalCluster({ name, persistent: !args.includes('--fresh'), ...(args.includes('--real-node') ? { realNode: true } : {}) });
process.stdout.write(`export KUBECONFIG=${cluster.kubeconfig}\nalias kubectl=${cluster.kubectl}\n`);
const stop = async () => {
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
setInterval(() => {}, 1 << 30);
