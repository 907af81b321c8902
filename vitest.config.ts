import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Unit tests sit beside the code; tests that need root, namespaces and the kernel live in test/.
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/ci-preflight.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Kernel tests build namespaces and start daemons; two cores do not run many at once well.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
