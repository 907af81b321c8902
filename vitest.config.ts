import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/ci-preflight.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Kernel tests build namespaces and start daemons; two cores do not run many at once well.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        // Pure functions: no root, no namespaces, no child processes. `npm run test:unit`.
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        // Root, network namespaces, the real kernel, the lab's daemons.
        test: { name: 'kernel', include: ['test/**/*.test.ts'], exclude: ['test/unit/**', '**/node_modules/**'] },
      },
    ],
  },
});
