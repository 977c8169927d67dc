/**
 * After a worker crash the calls of the failed batch fall back to the energy VAD; once the pool
 * answers a probe inference again they return to Silero (issue 19, item 11), and a pool that keeps
 * failing keeps them on energy. Windows are scored once each, in order, across both switches.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { WindowedCallVad } from '../../src/pipeline/vad/call-vad.js';
import { createVadService, type VadService } from '../../src/pipeline/vad/vad-service.js';
import { createWorkerPool, type WorkerPool } from '../../src/workers/pool.js';
import { readFixtureWav } from '../support/fixtures.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const audio = readFixtureWav('calls/call-quiet.16k.wav');
const marker = join(tmpdir(), `vad-dies-once-${String(process.pid)}`);

let pool: WorkerPool | undefined;
let service: VadService | undefined;
afterEach(async () => {
  await service?.close();
  await pool?.close();
  service = undefined;
  pool = undefined;
  rmSync(marker, { force: true });
  delete process.env.VAD_DIES_ONCE_MARKER;
});

async function run(taskFile: string, waitForHealthy = false) {
  rmSync(marker, { force: true });
  process.env.VAD_DIES_ONCE_MARKER = marker;
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) } });
  const metrics = createMetrics();
  pool = createWorkerPool({ size: 1, logger, metrics, taskFiles: { vad: fixture(taskFile) } });
  // A generous task deadline: a slow task on a busy machine would be a second fallback, not the crash this is about.
  service = createVadService({ engine: 'silero', warmUp: false, pool, logger, metrics, maxBacklogMs: 60_000, recoveryProbeMs: 100, taskTimeoutMs: 30_000 });
  const calls = ['one', 'two'].map((callId) => {
    const windowEnds: number[] = [];
    const engines = new Set<string>();
    const vad = service!.createCallVad({ callId, sampleRate: 16000, onEvent: () => undefined, onProbability: (_p, endMs) => windowEnds.push(endMs) });
    return { vad: vad as WindowedCallVad, windowEnds, engines };
  });
  // 20 ms frames in lockstep, about ten times faster than real time, so the probe lands mid-call.
  let waited = false;
  for (let at = 0; at + 320 <= audio.samples.length; at += 320) {
    for (const c of calls) {
      c.vad.push(audio.samples.subarray(at, at + 320), at / 16);
      c.engines.add(c.vad.engine);
    }
    // On a loaded machine the probe could come after the last frame: once the calls have fallen back,
    // hold the audio until the pool has answered the probe, so the return happens mid-call.
    if (waitForHealthy && !waited && calls.every((c) => c.vad.engine === 'energy')) {
      waited = true;
      for (let t = 0; t < 500 && !lines.some((l) => l.event === 'vad_pool_healthy'); t++) await new Promise((r) => setTimeout(r, 20));
    }
    if (at % 3200 === 0) {
      await new Promise((r) => setTimeout(r, 20));
      // Let the scoring keep up with the pushing (a loaded machine would otherwise score the whole
      // call, crash and recovery included, only in flush(), after the last engine was sampled).
      const due = Math.floor((at + 320) / 512) - 16;
      for (let t = 0; t < 250 && calls.some((c) => c.windowEnds.length < due); t++) await new Promise((r) => setTimeout(r, 20));
    }
  }
  await Promise.all(calls.map((c) => c.vad.flush()));
  return { calls, metrics, lines };
}

describe('VAD after a worker crash', () => {
  it('returns the calls to Silero once the pool answers again', async () => {
    const { calls, metrics, lines } = await run('vad-dies-once.task.ts', true);
    for (const c of calls) {
      expect(c.engines).toEqual(new Set(['silero', 'energy']));
      expect(c.vad.engine).toBe('silero');
      expect(c.vad.recoveries).toBe(1);
      const windows = Math.floor(audio.samples.length / 512);
      expect(c.windowEnds).toEqual(Array.from({ length: windows }, (_, k) => (k + 1) * 32));
    }
    expect((await metrics.vadFallbacksTotal.get()).values).toEqual([expect.objectContaining({ labels: { reason: 'worker_error' }, value: 2 })]);
    expect((await metrics.vadRecoveriesTotal.get()).values[0]?.value).toBe(2);
    expect(lines.filter((l) => l.event === 'vad_recovered').map((l) => l.callId).sort()).toEqual(['one', 'two']);
    expect(lines.some((l) => l.event === 'vad_pool_healthy')).toBe(true);
    // Silero really scored windows after the recovery.
    const silero = (await metrics.vadWindowsTotal.get()).values.find((v) => v.labels.engine === 'silero');
    expect(silero?.value).toBeGreaterThan(2 * 3);
  });

  it('keeps the calls on energy while the pool keeps failing', async () => {
    const { calls, metrics } = await run('vad-throws-after-3.task.ts');
    for (const c of calls) {
      expect(c.vad.engine).toBe('energy');
      expect(c.vad.recoveries).toBe(0);
    }
    expect((await metrics.vadRecoveriesTotal.get()).values[0]?.value ?? 0).toBe(0);
  });
});
