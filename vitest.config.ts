import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // lavapipe JIT-compiles each new kernel at its first dispatch; with the long end-to-end files
    // running alongside on 2 cores, a cold WebGPU test can take minutes without being stuck
    testTimeout: 300_000,
  },
});
