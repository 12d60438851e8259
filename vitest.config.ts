import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Each integration file starts its own nats-server; two cores, so two files at a time.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
          // Property tests run hundreds of cases: 5 s is too little on a loaded 2-core CI.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/harness/global-setup.ts'],
          setupFiles: ['tests/harness/cleanup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          // Fuzzing and hostile clients (issue 14). `npm test` runs it after the others, not
          // beside them: 1,000 sockets and a measured event loop want the cores to itself.
          name: 'hostile',
          include: ['tests/hostile/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/harness/global-setup.ts'],
          setupFiles: ['tests/harness/cleanup.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['tests/browser/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/harness/global-setup.ts'],
          setupFiles: ['tests/harness/cleanup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // The repository's dashboards, alert rules and scrape config: structure and types,
          // Debian's promtool, and a short pipeline run scraped by Debian's prometheus
          // (private servers, no shared cluster). After the other projects: the live run's
          // six processes would otherwise starve their timing-sensitive tests of the cores.
          name: 'observability',
          include: ['tests/observability/**/*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 1 },
          setupFiles: ['tests/harness/cleanup.ts'],
          testTimeout: 240_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // The Kubernetes manifests, skaffold.yaml and the Makefile's cluster targets, proven
          // offline (issue 12): rendered by kubectl's kustomize, validated against the
          // Kubernetes models, cross-checked, their NATS configs run by the real nats-server
          // and each service started with exactly the environment a pod would get.
          name: 'k8s',
          include: ['tests/k8s/**/*.test.ts'],
          environment: 'node',
          // No shared PostgreSQL: the smoke run initialises a private cluster as the
          // postgres image would (its owner asked for a password, as are the logins the
          // migrate Job creates cluster-wide).
          setupFiles: ['tests/harness/cleanup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // A 3-node JetStream cluster losing nodes under the whole pipeline (issue 13). Not
          // part of `npm test`: its own CI stage (`make test-failover`), with the cores to itself.
          name: 'failover',
          include: ['tests/chaos/**/*.test.ts'],
          environment: 'node',
          // One cluster at a time: each file runs ten processes or more.
          fileParallelism: false,
          setupFiles: ['tests/harness/cleanup.ts'],
          testTimeout: 240_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // Least privilege (issue 15): the pipeline with one NATS user and database login
          // per service, then each credential tried on what is not its job.
          name: 'security',
          include: ['tests/security/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/harness/global-setup.ts'],
          setupFiles: ['tests/harness/cleanup.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/harness/global-setup.ts'],
          setupFiles: ['tests/harness/cleanup.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
