import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The longest real-time files (over ~25 s in a full run), longest first. Vitest orders files by the
 * durations it cached on the last run; a clean clone (CI) has none and falls back to file size, which
 * can start a long file last and leave it running alone at the end.
 */
const SLOW_FIRST = [
  'test/bench/harness.test.ts',
  'test/e2e/failover-fakes.test.ts',
  'test/e2e/serve-processes.test.ts',
  'test/e2e/provider-deepgram.test.ts',
  'test/calls/failover.test.ts',
  'test/e2e/gateway-echo.test.ts',
  'test/e2e/browser-call.test.ts',
  'test/calls/false-failover.test.ts',
  'test/e2e/records-restart.test.ts',
  'test/e2e/scaleout-local-cluster.test.ts',
];

class SlowFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification): number => {
      const i = SLOW_FIRST.findIndex((path) => f.moduleId.endsWith(path));
      return i < 0 ? SLOW_FIRST.length : i;
    };
    // Array.prototype.sort is stable: the rest keep the order the base sequencer gave them.
    return [...sorted].sort((a, b) => rank(a) - rank(b));
  }
}

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
    sequence: { sequencer: SlowFilesFirst },
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
