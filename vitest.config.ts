import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Gives every worker one run directory where proxies' output and issued secrets are recorded, and scans it
    // at teardown: a secret in any log line of the whole suite fails the run (test/log-secrets.test.ts).
    globalSetup: ['test/global-setup.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    // Integration tests start real processes and servers; two cores, so keep parallelism modest.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
