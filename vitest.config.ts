import { defineConfig } from 'vitest/config';

// Integration tests build namespaces and run daemons on one shared machine:
// one file at a time, generous timeouts (they wait on real tools, never on
// a timing they assert).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
