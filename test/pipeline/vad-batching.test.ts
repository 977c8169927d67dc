/**
 * Batching must not change a single probability: several calls at both rates, interleaved frame by
 * frame and joining at different times, scored (a) in shared batches, several windows per call in a
 * task when a call is behind, (a') in shared batches one window per call per task, (b) one window per model run
 * through the same service, and (c) by a reference written here from silero-vad's OnnxWrapper
 * (batch 1, context = last 64/32 samples of the previous window, state carried) run in-process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { sileroModelPath, type VadSampleRate } from '../../src/pipeline/vad/silero-model.js';
import { createVadService } from '../../src/pipeline/vad/vad-service.js';
import { createWorkerPool, type WorkerPool } from '../../src/workers/pool.js';
import type { VadTaskPayload } from '../../src/pipeline/vad/vad.task.js';
import { readFixtureWav, readS16 } from '../support/fixtures.js';

interface TestCall {
  callId: string;
  sampleRate: VadSampleRate;
  samples: Int16Array;
  /** Frame at which the call starts pushing (calls join at different times). */
  joinFrame: number;
  frameSamples: number;
}

const CALLS: TestCall[] = [
  { callId: 'a16', sampleRate: 16000, samples: readFixtureWav('speech/cards-001.wav').samples, joinFrame: 0, frameSamples: 320 },
  { callId: 'b16', sampleRate: 16000, samples: readFixtureWav('speech/librivox-0880.wav').samples, joinFrame: 7, frameSamples: 320 },
  { callId: 'c16', sampleRate: 16000, samples: readFixtureWav('speech/cards-003.wav').samples, joinFrame: 13, frameSamples: 480 },
  { callId: 'd8', sampleRate: 8000, samples: readS16('g711/cards-002.8k.s16'), joinFrame: 0, frameSamples: 160 },
  { callId: 'e8', sampleRate: 8000, samples: readS16('g711/librivox-0930.8k.s16'), joinFrame: 3, frameSamples: 160 },
  { callId: 'f8', sampleRate: 8000, samples: readS16('g711/cards-004.8k.s16'), joinFrame: 21, frameSamples: 240 },
];

async function reference(session: InferenceSession, call: TestCall): Promise<number[]> {
  const window = call.sampleRate === 16000 ? 512 : 256;
  const contextSize = call.sampleRate === 16000 ? 64 : 32;
  let state = new Float32Array(2 * 128);
  let context = new Float32Array(contextSize);
  const sr = new Tensor('int64', BigInt64Array.of(BigInt(call.sampleRate)), []);
  const out: number[] = [];
  for (let at = 0; at + window <= call.samples.length; at += window) {
    const x = new Float32Array(contextSize + window);
    x.set(context, 0);
    for (let i = 0; i < window; i++) x[contextSize + i] = call.samples[at + i] / 32768;
    const result = await session.run({
      input: new Tensor('float32', x, [1, x.length]),
      state: new Tensor('float32', state, [2, 1, 128]),
      sr,
    });
    out.push((result.output.data as Float32Array)[0]);
    state = new Float32Array(result.stateN.data as Float32Array);
    context = x.slice(x.length - contextSize);
  }
  return out;
}

async function throughService(
  pool: WorkerPool,
  maxBatch: number,
  maxWindowsPerCall: number,
): Promise<{ probabilities: Map<string, number[]>; maxBatchSeen: number; maxStepsSeen: number; mixedSteps: boolean }> {
  // Watch the batches go by on their way to the real pool.
  const sizes: number[] = [];
  const steps: number[] = [];
  let mixedSteps = false;
  const watched: WorkerPool = {
    size: pool.size,
    ready: true,
    run: (task, payload, options) => {
      const p = payload as VadTaskPayload;
      sizes.push(p.batchSize);
      steps.push(p.rowSteps?.[0] ?? 1);
      // A batch whose rows run different numbers of steps: the batch shrinks and its state is repacked.
      if (p.rowSteps && p.rowSteps[0] !== p.rowSteps[p.rowSteps.length - 1]) mixedSteps = true;
      return pool.run(task, payload, options);
    },
    close: () => Promise.resolve(),
  };
  const service = createVadService({ engine: 'silero', warmUp: false, pool: watched, maxBatch, maxWindowsPerCall, maxBacklogMs: 60_000 });
  const probabilities = new Map<string, number[]>();
  const vads = CALLS.map((c) => {
    probabilities.set(c.callId, []);
    return service.createCallVad({
      callId: c.callId,
      sampleRate: c.sampleRate,
      onEvent: () => undefined,
      onProbability: (p) => probabilities.get(c.callId)!.push(p),
    });
  });
  const frames = Math.max(...CALLS.map((c) => c.joinFrame + Math.ceil(c.samples.length / c.frameSamples)));
  for (let f = 0; f < frames; f++) {
    for (const [i, c] of CALLS.entries()) {
      const at = (f - c.joinFrame) * c.frameSamples;
      if (at < 0 || at >= c.samples.length) continue;
      vads[i].push(c.samples.subarray(at, at + c.frameSamples), (at * 1000) / c.sampleRate);
    }
    // Let batches go out every few frames, as live traffic would, so calls share batches mid-stream.
    if (f % 8 === 7) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(vads.map((v) => v.flush()));
  for (const v of vads) expect(v.engine).toBe('silero');
  await service.close();
  return { probabilities, maxBatchSeen: Math.max(...sizes), maxStepsSeen: Math.max(...steps), mixedSteps };
}

let pool: WorkerPool;
let session: InferenceSession;

beforeAll(async () => {
  pool = createWorkerPool({ size: 2 });
  session = await InferenceSession.create(sileroModelPath(), { intraOpNumThreads: 1 });
});

afterAll(async () => {
  await session.release();
  await pool.close();
});

describe('Silero batching', () => {
  it('gives the same probabilities batched, several windows per task, one at a time, and by the reference (to 1e-4)', async () => {
    const expected = new Map<string, number[]>();
    for (const c of CALLS) expected.set(c.callId, await reference(session, c));

    const batched = await throughService(pool, 64, 8);
    const batchedOneStep = await throughService(pool, 64, 1);
    const single = await throughService(pool, 1, 1);
    expect(batched.maxBatchSeen).toBe(3); // all three calls of a rate shared model runs (one batch per rate)
    expect(batched.maxStepsSeen).toBeGreaterThan(1); // calls that fell behind caught up in bulk
    expect(batched.mixedSteps).toBe(true); // ... in batches shared with calls that were not behind
    expect(batchedOneStep.maxBatchSeen).toBe(3);
    expect(batchedOneStep.maxStepsSeen).toBe(1);
    expect(single.maxBatchSeen).toBe(1);

    for (const c of CALLS) {
      const want = expected.get(c.callId)!;
      expect(want.length).toBeGreaterThan(20);
      expect(Math.max(...want)).toBeGreaterThan(0.5); // speech is in there, so the check has teeth
      for (const run of [batched, batchedOneStep, single]) {
        const got = run.probabilities.get(c.callId)!;
        expect(got).toHaveLength(want.length);
        let worst = 0;
        for (let k = 0; k < want.length; k++) worst = Math.max(worst, Math.abs(got[k] - want[k]));
        expect(worst, c.callId).toBeLessThan(1e-4);
      }
    }
  });
});
