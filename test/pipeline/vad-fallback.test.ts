/**
 * Worker faults during Silero inference: the calls in the failed batch fall back to the energy VAD,
 * say so in a log line and a metric, keep emitting turns in media order, and the process lives on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { CallVad } from '../../src/pipeline/vad/call-vad.js';
import { scoreTurns, type Segment } from '../../src/pipeline/vad/score.js';
import type { TurnEvent } from '../../src/pipeline/vad/turn-detector.js';
import { createVadService, type VadService } from '../../src/pipeline/vad/vad-service.js';
import { createWorkerPool, type WorkerPool } from '../../src/workers/pool.js';
import { readFixtureWav, readLabels } from '../support/fixtures.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../workers/fixtures/${name}`, import.meta.url));
const audio = readFixtureWav('calls/call-quiet.16k.wav');
const labels = readLabels('call-quiet').utterances;

let pool: WorkerPool | undefined;
let service: VadService | undefined;

afterEach(async () => {
  await service?.close();
  await pool?.close();
  service = undefined;
  pool = undefined;
});

interface Recorded {
  vad: CallVad;
  events: TurnEvent[];
  windowEnds: number[];
}

describe.each([
  ['dies', 'vad-dies-after-3.task.ts'],
  ['throws', 'vad-throws-after-3.task.ts'],
])('when the Silero worker %s mid-call', (_fault, taskFile) => {
  it('falls back to energy for the calls in the failed batch, logs it, counts it, keeps order', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'warn', destination: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) } });
    const metrics = createMetrics();
    pool = createWorkerPool({ size: 1, logger, metrics, taskFiles: { vad: fixture(taskFile) } });
    // No warm-up: the fault fixtures count this worker's tasks from the first window on.
    // A generous task deadline: this is about a worker dying, not a slow one (a cold ONNX load on a busy machine takes seconds).
    service = createVadService({ engine: 'silero', warmUp: false, pool, logger, metrics, maxBacklogMs: 60_000, taskTimeoutMs: 30_000 });

    const calls: Recorded[] = ['one', 'two'].map((callId) => {
      const events: TurnEvent[] = [];
      const windowEnds: number[] = [];
      const vad = service!.createCallVad({
        callId,
        sampleRate: 16000,
        onEvent: (e) => events.push(e),
        onProbability: (_p, endMs) => windowEnds.push(endMs),
      });
      return { vad, events, windowEnds };
    });
    // Both calls push 20 ms frames in lockstep, so they share every batch.
    for (let at = 0; at < audio.samples.length; at += 320) {
      for (const c of calls) c.vad.push(audio.samples.subarray(at, at + 320), at / 16);
      if (at % 3200 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(calls.map((c) => c.vad.flush()));

    for (const c of calls) {
      expect(c.vad.engine).toBe('energy');
      expect(c.vad.fallbackReason).toBe('worker_error');
      // Every window scored exactly once, in media order, across the switch.
      const windows = Math.floor(audio.samples.length / 512);
      expect(c.windowEnds).toEqual(Array.from({ length: windows }, (_, k) => (k + 1) * 32));
      // Events alternate start/end with increasing timestamps, and still find the utterances.
      const segments: Segment[] = [];
      let last = -1;
      for (const [i, e] of c.events.entries()) {
        expect(e.type).toBe(i % 2 === 0 ? 'speechStart' : 'speechEnd');
        expect(e.timestampMs).toBeGreaterThanOrEqual(last);
        last = e.timestampMs;
        if (e.type === 'speechEnd') segments.push({ startMs: e.startMs, endMs: e.timestampMs });
      }
      expect(scoreTurns(segments, labels)).toMatchObject({ precision: 1, recall: 1 });
    }

    const { values } = await metrics.vadFallbacksTotal.get();
    expect(values).toEqual([expect.objectContaining({ labels: { reason: 'worker_error' }, value: 2 })]);
    const fallbacks = lines.filter((l) => l.event === 'vad_fallback');
    expect(fallbacks.map((l) => l.callId).sort()).toEqual(['one', 'two']);
    expect(fallbacks[0]).toMatchObject({ level: 40, reason: 'worker_error' });

    // A call that starts after the fault still gets Silero (the pool replaced or kept its worker).
    const fresh = service.createCallVad({ callId: 'fresh', sampleRate: 16000, onEvent: () => undefined });
    expect(fresh.engine).toBe('silero');
    expect(pool.ready).toBe(true);
  });
});
