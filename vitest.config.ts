import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // One copy of graphql-js: Node loads its CommonJS build for the packages (Pothos, Yoga),
    // so our sources must get the same one, or schemas made by one fail `instanceof` in the other.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: [
      'test/**/*.test.ts',
      'gateway/**/*.test.ts',
      'fleet/**/*.test.ts',
      'schema/**/*.test.ts',
      'core/**/*.test.ts',
      'handlers/**/*.test.ts',
    ],
    globalSetup: ['test/setup/global-setup.ts'],
    setupFiles: ['test/setup/leftover-processes.ts'],
    // A gateway with API keys does not start without SECRETS_KEY: every process the tests start
    // inherits this one, as a deployment's gateways and fleet share theirs. A test of keyless mode blanks it.
    env: { SECRETS_KEY: 'yf9yxNTzLgha0b68Cssjne8I++6Cp9kI9Xj9sB1Rkmw=' },
    pool: 'forks',
    // Each fork imports the project's modules once for all the files it runs, not once per file:
    // the whole suite took 521 s instead of 639 s (2026-12-04, load 2-3; the imports alone were 156 s
    // of a run). The modules keep no state between files that a test reads (no mocks, no env writes).
    isolate: false,
    // Two cores: end-to-end files spawn Bun processes of their own, so two files at a time is the most.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
  },
});
