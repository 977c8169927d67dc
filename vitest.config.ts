import { defineConfig } from 'vitest/config';

/**
 * Suites that wait on real time (sockets, paced audio, worker crashes, breaker timeouts) or take
 * over ~5 s in a run: `npm run test:e2e`. Everything else is `npm run test:unit`, which stays under
 * a minute on the 2-core machine. `npm test` runs both projects once. A new suite lands in `unit`
 * unless it is listed here (per-file durations: the vitest summary of a full run).
 */
const REALTIME = [
  'test/e2e/**/*.test.ts',
  'test/bench/**/*.test.ts',
  'test/calls/failover.test.ts',
  'test/calls/false-failover.test.ts',
  'test/hostile/dtmf-flood.test.ts',
  'test/providers/openai.test.ts',
  'test/webrtc/session-media.test.ts',
  'test/webrtc/signalling.test.ts',
  'test/workers/pool-faults.test.ts',
  // Waits on a real worker crash and the pool's recovery probe: timing-bound, flaky on a loaded machine.
  'test/workers/vad-recovery.test.ts',
];

/** Unit suites that vi.mock a module: each needs a module cache of its own. */
const NEEDS_ISOLATION = ['test/pipeline/vad-model-missing.test.ts'];

export default defineConfig({
  test: {
    environment: 'node',
    // Worker-thread and socket tests are heavier than unit tests; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most suites wait on real time (sockets, paced audio), not the CPU: more files at once than cores
    // keeps `npm test` within its 4 minutes on a 2-core machine (one file at a time took 9.5 minutes;
    // 4 at once 4.6 minutes with 130 files, the cores 70 % busy).
    maxWorkers: 5,
    projects: [
      // Unit suites share each worker's module cache (isolate: false): loading the gateway's modules
      // once per worker instead of once per file halves `npm run test:unit`. A suite that replaces a
      // module (vi.mock) needs a fresh cache: it runs isolated, in the same `test:unit`.
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...REALTIME, ...NEEDS_ISOLATION], isolate: false } },
      { extends: true, test: { name: 'unit-isolated', include: NEEDS_ISOLATION } },
      // The real-time suites too: each starts and stops its own servers and fakes, and keeps no module state.
      { extends: true, test: { name: 'e2e', include: REALTIME, isolate: false } },
    ],
  },
});
