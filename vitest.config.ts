import { defineConfig } from 'vitest/config';

// Two projects: fast unit/contract tests, and end-to-end tests that start real servers and
// backends. Each e2e file owns its hub on a free port and its own data folder.
export default defineConfig({
  test: {
    // e2e files start servers and backends: one file at a time keeps 2-core machines honest.
    fileParallelism: false,
    // --expose-gc for test/helpers/collect-native.ts, which finalizes native objects before exit.
    poolOptions: { forks: { execArgv: ['--expose-gc'] } },
    setupFiles: ['test/helpers/collect-native.ts'],
    projects: [
      {
        // Each project takes the settings above (one file at a time, the setup file, --expose-gc).
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/contract/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
