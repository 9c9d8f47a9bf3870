import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The multi-process failover tests (issue 10) are not yet reliable on a shared 2-core machine:
    // `npm run test:e2e` runs them on their own.
    exclude: process.env.E2E === '1' ? [] : ['test/e2e/cluster-failover.test.ts', '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start their own nats-server processes; two cores are shared.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results.json' },
  },
});
