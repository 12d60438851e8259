import path from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * The container image test, kept out of `vitest run` (it needs the images that
 * `make image-test` builds first): `npm run test:image`.
 */
export default defineConfig({
  test: {
    name: 'image',
    root: path.resolve(import.meta.dirname, '../..'),
    include: ['tests/image/**/*.test.ts'],
    environment: 'node',
    setupFiles: ['tests/harness/cleanup.ts'],
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
