import { defineConfig } from 'vitest/config';

// Workspace packages expose src/*.ts under this export condition, so tests need no build.
const conditions = ['@sip003/source', 'node', 'import', 'module', 'default'];
const packages = ['sdk', 'obfs-http-plugin', 'noop-plugin', 'pt-plugin'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    projects: packages.map((name) => ({
      extends: true,
      test: {
        name,
        include: [`packages/${name}/test/**/*.test.ts`],
      },
    })),
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
