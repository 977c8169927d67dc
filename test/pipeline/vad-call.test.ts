import { afterEach, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../src/errors.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { TurnEvent } from '../../src/pipeline/vad/turn-detector.js';
import { createVadService, type VadService } from '../../src/pipeline/vad/vad-service.js';
import { SILERO_GEOMETRY, SILERO_STATE_SIZE } from '../../src/pipeline/vad/silero-model.js';
import type { VadTaskPayload } from '../../src/pipeline/vad/vad.task.js';
import type { WorkerPool, WorkerRunOptions } from '../../src/workers/pool.js';
import { readFixtureWav } from '../support/fixtures.js';

/**
 * A pool whose 'vad' task is a stand-in model: each row's probability is its state counter / 100,
 * and the next state is the counter + 1. Window k of a call scores k/100 only if that call's own
 * state went out and came back through every batch, whatever else shared the batch.
 */
function counterPool(options: { delayMs?: number; hang?: boolean } = {}): WorkerPool & { batches: number[] } {
  const batches: number[] = [];
  return {
    size: 2,
    ready: true,
    batches,
    run<T>(_task: string, payload: unknown, runOptions: WorkerRunOptions = {}): Promise<T> {
      const { batchSize, state, rowSteps, out } = payload as VadTaskPayload;
      batches.push(batchSize);
      const steps = rowSteps ?? new Uint16Array(batchSize).fill(1);
      // Windows are laid out step after step; row b's window of step s sits among that step's rows.
      const windows = steps.reduce((n, k) => n + k, 0);
      // The batcher's shared slot: the result goes there, as the real task writes it.
      const result = out!.subarray(0, windows + batchSize * SILERO_STATE_SIZE);
      let at = 0;
      for (let s = 0; s < steps[0]; s++) {
        for (let b = 0; b < batchSize && steps[b] > s; b++) result[at++] = (state[b * 128] + s) / 100;
      }
      for (let b = 0; b < batchSize; b++) {
        const next = state[b * 128] + steps[b];
        for (let layer = 0; layer < 2; layer++) {
          result.fill(next, windows + (layer * batchSize + b) * 128, windows + (layer * batchSize + b + 1) * 128);
        }
      }
      return new Promise<T>((resolve, reject) => {
        runOptions.signal?.addEventListener('abort', () => reject(new Error('aborted')));
        if (!options.hang) setTimeout(() => resolve(result.length as T), options.delayMs ?? 1);
      });
    },
    close: () => Promise.resolve(),
  };
}

/**
 * A pool whose 'vad' task scores a window 0.9 when it holds sound (RMS over -40 dBFS) and 0.1 when
 * not, and counts the windows it was given: what a silence gate keeps from the model shows here.
 */
function levelPool(delayMs = 1): WorkerPool & { windows: number } {
  const pool = {
    size: 2,
    ready: true,
    windows: 0,
    run<T>(_task: string, payload: unknown): Promise<T> {
      const { sampleRate, batchSize, rowSteps, input, out } = payload as VadTaskPayload;
      const { rowSamples, contextSamples } = SILERO_GEOMETRY[sampleRate];
      const windows = rowSteps ? rowSteps.reduce((n, k) => n + k, 0) : batchSize;
      pool.windows += windows;
      const result = out!.subarray(0, windows + batchSize * SILERO_STATE_SIZE);
      result.fill(0, windows); // the state: a slot holds an earlier batch's floats
      for (let w = 0; w < windows; w++) {
        let sum = 0;
        for (let j = contextSamples; j < rowSamples; j++) sum += input[w * rowSamples + j] ** 2;
        result[w] = sum / (rowSamples - contextSamples) > 1e-4 ? 0.9 : 0.1;
      }
      return new Promise<T>((resolve) => setTimeout(() => resolve(result.length as T), delayMs));
    },
    close: () => Promise.resolve(),
  };
  return pool;
}

const clip = readFixtureWav('speech/cards-002.wav'); // 16 kHz

function silenceThen(speech: Int16Array, leadMs: number, tailMs: number, rate = 16000): Int16Array {
  const out = new Int16Array(((leadMs + tailMs) * rate) / 1000 + speech.length);
  out.set(speech, (leadMs * rate) / 1000);
  return out;
}

let service: VadService | undefined;

afterEach(async () => {
  await service?.close();
  service = undefined;
});

describe('CallVad', () => {
  it('windows frames of any size the same way', async () => {
    service = createVadService({ engine: 'energy' });
    const audio = silenceThen(clip.samples, 500, 800);
    const runs: string[] = [];
    for (const frame of [7, 160, 320, 1000, audio.length]) {
      const probabilities: string[] = [];
      const call = service.createCallVad({
        callId: `frame-${String(frame)}`,
        sampleRate: 16000,
        onEvent: () => undefined,
        onProbability: (p, endMs) => probabilities.push(`${endMs.toFixed(3)}:${p.toFixed(6)}`),
      });
      for (let at = 0; at < audio.length; at += frame) call.push(audio.subarray(at, at + frame), (at * 1000) / 16000);
      await call.flush();
      call.close();
      runs.push(probabilities.join(' '));
    }
    expect(runs[0].split(' ').length).toBe(Math.floor(audio.length / 512));
    for (const r of runs) expect(r).toBe(runs[0]);
  });

  it('reports turns in call media time', async () => {
    service = createVadService({ engine: 'energy' });
    const audio = silenceThen(clip.samples, 600, 1000);
    const at = async (offsetMs: number): Promise<TurnEvent[]> => {
      const events: TurnEvent[] = [];
      const call = service!.createCallVad({ callId: 'c', sampleRate: 16000, onEvent: (e) => events.push(e) });
      for (let i = 0; i < audio.length; i += 320) call.push(audio.subarray(i, i + 320), offsetMs + (i * 1000) / 16000);
      await call.flush();
      call.close();
      return events;
    };
    const base = await at(0);
    const shifted = await at(60_000);
    expect(base.map((e) => e.type)).toEqual(['speechStart', 'speechEnd']);
    expect(shifted.map((e) => e.timestampMs - 60_000)).toEqual(base.map((e) => e.timestampMs));
  });

  it("says when and how a turn start was decided: onset, the confirming window's end, and the wait for that window's score", async () => {
    const starts = async (engine: 'energy' | 'silero'): Promise<Extract<TurnEvent, { type: 'speechStart' }>[]> => {
      service = createVadService({ engine, warmUp: false, pool: levelPool(40), maxBacklogMs: 60_000 });
      const events: TurnEvent[] = [];
      const call = service.createCallVad({ callId: 'c', sampleRate: 16000, onEvent: (e) => events.push(e) });
      const audio = silenceThen(clip.samples, 600, 1000);
      for (let i = 0; i < audio.length; i += 320) call.push(audio.subarray(i, i + 320), (i * 1000) / 16000);
      await call.flush();
      await service.close();
      service = undefined;
      return events.filter((e) => e.type === 'speechStart');
    };
    for (const engine of ['energy', 'silero'] as const) {
      const [start] = await starts(engine);
      expect(start, engine).toBeDefined();
      // Confirmed once minSpeechMs (250 by default) of speech windows were in, and no window later.
      expect(start.confirmedAtMs - start.onsetMs, engine).toBeGreaterThanOrEqual(250);
      expect(start.confirmedAtMs - start.onsetMs, engine).toBeLessThan(250 + 32);
      expect(start.timestampMs, engine).toBe(start.onsetMs - 30);
      expect(start.onsetMs, engine).toBeGreaterThanOrEqual(560);
      if (engine === 'energy') expect(start.scoringLagMs).toBeLessThan(40); // scored as the window completes
      else expect(start.scoringLagMs).toBeGreaterThanOrEqual(39); // at least one 40 ms model round trip
    }
  });

  it('tracks speaking and the last probability', () => {
    service = createVadService({ engine: 'energy' });
    const call = service.createCallVad({ callId: 'c', sampleRate: 16000, onEvent: () => undefined });
    expect(call.speaking).toBe(false);
    const audio = silenceThen(clip.samples, 500, 0);
    call.push(audio.subarray(0, 16000 * 1), 0); // 500 ms silence + 500 ms of speech: synchronous engine
    expect(call.speaking).toBe(true);
    expect(call.lastProbability).toBeGreaterThan(0.5);
    expect(call.engine).toBe('energy');
  });

  it("does nothing with engine 'off'", async () => {
    service = createVadService({ engine: 'off' });
    const events: TurnEvent[] = [];
    const call = service.createCallVad({ callId: 'c', sampleRate: 16000, onEvent: (e) => events.push(e) });
    call.push(clip.samples, 0);
    await call.flush();
    expect(events).toEqual([]);
    expect(call.engine).toBe('off');
  });

  it('keeps each call its own state inside shared batches, and scores windows in media order', async () => {
    const pool = counterPool({ delayMs: 2 });
    service = createVadService({ engine: 'silero', warmUp: false, pool, maxBatch: 4 });
    const seen = new Map<string, number[]>();
    const calls = ['a', 'b', 'c', 'd', 'e'].map((callId, i) => {
      seen.set(callId, []);
      return service!.createCallVad({
        callId,
        sampleRate: i % 2 === 0 ? 16000 : 8000,
        onEvent: () => undefined,
        onProbability: (p) => seen.get(callId)!.push(Math.round(p * 100)),
      });
    });
    // Interleave 20 ms frames from every call, as live calls would arrive.
    for (let f = 0; f < 50; f++) {
      for (const call of calls) call.push(new Int16Array(call.sampleRate / 50), f * 20);
    }
    await Promise.all(calls.map((c) => c.flush()));
    for (const [i, call] of calls.entries()) {
      const windows = Math.floor((50 * call.sampleRate) / 50 / (call.sampleRate === 16000 ? 512 : 256));
      expect(seen.get(call.callId)).toEqual(Array.from({ length: windows }, (_, k) => k));
      expect(call.engine, `call ${String(i)}`).toBe('silero');
    }
    expect(Math.max(...pool.batches)).toBeGreaterThan(1); // windows of different calls shared a run
    expect(Math.max(...pool.batches)).toBeLessThanOrEqual(4);
  });

  it('gathers windows that finish in different event-loop turns into one batch for batchWaitMs', async () => {
    for (const [batchWaitMs, expected] of [[0, [1, 1, 1]], [50, [3]]] as const) {
      const pool = counterPool();
      service = createVadService({ engine: 'silero', warmUp: false, pool, batchWaitMs });
      const calls = ['a', 'b', 'c'].map((callId) => service!.createCallVad({ callId, sampleRate: 16000, onEvent: () => undefined }));
      for (const call of calls) {
        call.push(new Int16Array(512), 0); // one whole window, in its own event-loop turn
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(calls.map((c) => c.flush()));
      expect(pool.batches, `batchWaitMs ${String(batchWaitMs)}`).toEqual(expected);
      await service.close();
    }
  });

  it('lets a call that fell behind catch up several windows in one task, in order', async () => {
    const pool = counterPool({ delayMs: 40 }); // a busy worker: each task takes longer than a window
    service = createVadService({ engine: 'silero', warmUp: false, pool, maxWindowsPerCall: 8 });
    const scores: number[] = [];
    const call = service.createCallVad({ callId: 'behind', sampleRate: 16000, onEvent: () => undefined, onProbability: (p) => scores.push(Math.round(p * 100)) });
    for (let f = 0; f < 100; f++) {
      call.push(new Int16Array(320), f * 20);
      if (f % 5 === 4) await new Promise((r) => setTimeout(r, 20));
    }
    await call.flush();
    expect(scores).toEqual(Array.from({ length: 62 }, (_, k) => k));
    expect(call.engine).toBe('silero');
    expect(pool.batches.length).toBeLessThan(62 / 2); // far fewer tasks than windows
  });

  it('falls back to energy when a call falls too far behind, keeping media order', async () => {
    const metrics = createMetrics();
    const pool = counterPool({ hang: true });
    service = createVadService({ engine: 'silero', warmUp: false, pool, metrics, maxBacklogMs: 200, taskTimeoutMs: 100 });
    const ends: number[] = [];
    const errors: unknown[] = [];
    const call = service.createCallVad({
      callId: 'slow',
      sampleRate: 16000,
      onEvent: () => undefined,
      onProbability: (_p, endMs) => ends.push(endMs),
      onError: (err) => errors.push(err),
    });
    for (let f = 0; f < 5; f++) call.push(new Int16Array(320), f * 20);
    await new Promise((r) => setImmediate(r)); // the first window is now in flight, and hangs
    expect(pool.batches).toEqual([1]);
    for (let f = 5; f < 25; f++) call.push(new Int16Array(320), f * 20);
    expect(call.engine).toBe('energy');
    expect(call.fallbackReason).toBe('backlog');
    expect(isGatewayError(errors[0], 'GW_ERR_VAD_INFERENCE')).toBe(true);
    const { values } = await metrics.vadFallbacksTotal.get();
    expect(values).toEqual([expect.objectContaining({ labels: { reason: 'backlog' }, value: 1 })]);
    expect(ends).toEqual([]); // nothing overtakes the window in flight
    await call.flush(); // the hung batch times out; its window and the rest are scored by energy
    expect(ends).toEqual(Array.from({ length: 15 }, (_, k) => (k + 1) * 32));
    expect(errors).toHaveLength(1);
  });

  it('fails a batch over to energy when it times out', async () => {
    service = createVadService({ engine: 'silero', warmUp: false, pool: counterPool({ hang: true }), taskTimeoutMs: 50 });
    const ends: number[] = [];
    const call = service.createCallVad({ callId: 'c', sampleRate: 8000, onEvent: () => undefined, onProbability: (_p, e) => ends.push(e) });
    for (let f = 0; f < 10; f++) call.push(new Int16Array(160), f * 20);
    await call.flush();
    expect(call.engine).toBe('energy');
    expect(call.fallbackReason).toBe('timeout');
    expect(ends).toEqual([32, 64, 96, 128, 160, 192]); // every window scored once, in order
  });

  it('resolves flush() on close and ignores late results', async () => {
    service = createVadService({ engine: 'silero', warmUp: false, pool: counterPool({ delayMs: 20 }) });
    const ends: number[] = [];
    const call = service.createCallVad({ callId: 'c', sampleRate: 16000, onEvent: () => undefined, onProbability: (_p, e) => ends.push(e) });
    call.push(new Int16Array(4096), 0);
    const flushed = call.flush();
    call.close();
    await flushed;
    await new Promise((r) => setTimeout(r, 40));
    expect(ends).toEqual([]);
  });

  it('scores silent windows between turns 0 without Silero under the silence gate, never during a turn', async () => {
    const run = async (silenceGateDb: number | undefined) => {
      const pool = levelPool();
      const metrics = createMetrics();
      service = createVadService({ engine: 'silero', warmUp: false, pool, metrics, silenceGateDb, maxBacklogMs: 60_000 });
      const scores: { p: number; endMs: number; speaking: boolean }[] = [];
      let speaking = false;
      const call = service.createCallVad({
        callId: 'c',
        sampleRate: 16000,
        onEvent: (e) => (speaking = e.type === 'speechStart'),
        onProbability: (p, endMs) => scores.push({ p, endMs, speaking }),
      });
      // Digital silence, an utterance, 1.5 s of silence (the turn ends inside it), the utterance again.
      const audio = silenceThen(clip.samples, 1000, 1500);
      for (let i = 0; i < audio.length; i += 320) call.push(audio.subarray(i, i + 320), (i * 1000) / 16000);
      call.push(clip.samples, (audio.length * 1000) / 16000);
      await call.flush();
      expect(call.engine).toBe('silero');
      const counted = Object.fromEntries((await metrics.vadWindowsTotal.get()).values.map((v) => [v.labels.engine, v.value]));
      await service.close();
      service = undefined;
      return { scores, model: pool.windows, counted };
    };
    const ungated = await run(undefined);
    const gated = await run(-60);
    expect(gated.scores.length).toBe(ungated.scores.length); // every window still scored, in order
    expect(gated.scores.map((s) => s.endMs)).toEqual(ungated.scores.map((s) => s.endMs));
    expect(ungated.scores.some((s) => s.p === 0)).toBe(false);
    const zeros = gated.scores.filter((s) => s.p === 0);
    // The leading second (31 windows) and the silence after the first turn's end are gated...
    expect(zeros.length).toBeGreaterThanOrEqual(31 + 15);
    expect(gated.scores.slice(0, 31).every((s) => s.p === 0)).toBe(true);
    // ...but never a window while a turn is on: the turn's end still comes from the model's scores.
    expect(zeros.every((s) => !s.speaking)).toBe(true);
    expect(gated.model).toBe(ungated.model - zeros.length);
    expect(gated.counted).toEqual({ silero: gated.model, silence_gate: zeros.length });
    // The same turns either way.
    const turns = (r: typeof gated) => r.scores.filter((s, i, all) => i > 0 && s.speaking !== all[i - 1].speaking).map((s) => s.endMs);
    expect(turns(gated)).toEqual(turns(ungated));
    expect(turns(gated)).toHaveLength(3); // start, end, start of the second utterance
  });

  it('refuses a silence gate above 0 dBFS', () => {
    let error: unknown;
    try {
      createVadService({ engine: 'energy', silenceGateDb: 6 });
    } catch (err) {
      error = err;
    }
    expect(isGatewayError(error, 'GW_ERR_CONFIG_INVALID')).toBe(true);
  });

  it('needs a pool for Silero', () => {
    let error: unknown;
    try {
      createVadService({ engine: 'silero' });
    } catch (err) {
      error = err;
    }
    expect(isGatewayError(error, 'GW_ERR_CONFIG_INVALID')).toBe(true);
  });

  it('rejects a rate the model does not take', () => {
    service = createVadService({ engine: 'energy' });
    let error: unknown;
    try {
      service.createCallVad({ callId: 'c', sampleRate: 48000 as 16000, onEvent: () => undefined });
    } catch (err) {
      error = err;
    }
    expect(isGatewayError(error, 'GW_ERR_AUDIO_UNSUPPORTED_RATE')).toBe(true);
  });
});
