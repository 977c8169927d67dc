import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Worker-thread and socket tests are heavier than unit tests; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most suites wait on real time (sockets, paced audio), not the CPU: more files at once than cores
    // keeps `npm test` within its 4 minutes on a 2-core machine (one file at a time took 9.5 minutes).
    maxWorkers: 4,
  },
});
