import { defineConfig } from 'vitest/config';

/**
 * Three projects: `unit` (pure functions, no cluster), `integration` (a real kube-apiserver and
 * friends from hack/cluster, started once per run by test/support/global-setup.ts) and `node`
 * (test/node/: a cluster of its own with a real kubelet node, hack/node/; root; `npm run test:node`).
 */
export default defineConfig({
  // One graphql instance: Node loads graphql's CommonJS build for Pothos and yoga, so the tests'
  // own imports must not pick the ESM build (graphql 16 has no "exports" map).
  resolve: { alias: { graphql: 'graphql/index.js' } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
