/**
 * VAD benchmarks: what a Silero window costs alone and in batches, what the worker hop adds, and
 * what the whole VAD path costs per second of call audio, at 8 kHz and 16 kHz.
 * Run: `node --import tsx bench/vad.bench.ts`.
 *
 * - "silero in-process": one ONNX session (1 thread) on this thread; per batch of B windows.
 * - "worker round trip": the piscina hop with nothing to compute, and a Silero batch through it.
 * - "vad path": a CallVad fed 20 ms frames for one second of speech (50 frames), through the
 *   service, for 1 call and for 64 concurrent calls (batched); results are per call-second.
 * - Event-loop share: the main thread's busy time per call-second with 64 Silero calls.
 */
import b from 'benny';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { decodeMulaw, encodeMulaw } from '../src/pipeline/codecs/g711.js';
import { EnergyVad } from '../src/pipeline/vad/energy-vad.js';
import { SILERO_GEOMETRY, SILERO_STATE_SIZE, type VadSampleRate } from '../src/pipeline/vad/silero-model.js';
import { SileroSession } from '../src/pipeline/vad/silero-session.js';
import { createVadService, type VadService } from '../src/pipeline/vad/vad-service.js';
import type { CallVad } from '../src/pipeline/vad/call-vad.js';
import { readWav } from '../src/pipeline/wav.js';
import { Resampler } from '../src/pipeline/resample/resampler.js';
import { createWorkerPool, type WorkerPool } from '../src/workers/pool.js';
import { readFileSync } from 'node:fs';
import { microTable, type MicroResult } from './report.js';

export interface VadBenchResult extends MicroResult {
  /** Microseconds per unit (stream-window or call-second) where an op covers several. */
  usPerUnit: number;
  unit: string;
}

const CASE_OPTIONS = { minTime: 0.5, maxTime: 2 };

function speech16k(): Int16Array {
  const file = new URL('../test/fixtures/audio/speech/librivox-0870.wav', import.meta.url);
  return readWav(new Uint8Array(readFileSync(file))).samples;
}

function toRate(samples16k: Int16Array, rate: VadSampleRate): Int16Array {
  if (rate === 16000) return samples16k;
  const r = new Resampler({ from: 16000, to: 8000 });
  return r.process(samples16k);
}

function rows(suite: string, summary: unknown, perOp: Record<string, { units: number; unit: string }>): VadBenchResult[] {
  return microTable(suite, summary).map((r) => {
    const per = perOp[r.case] ?? { units: 1, unit: 'op' };
    return { ...r, usPerUnit: Number((r.usPerOp / per.units).toFixed(2)), unit: per.unit };
  });
}

async function inProcess(speech: Int16Array): Promise<VadBenchResult[]> {
  const session = await SileroSession.create();
  const perOp: Record<string, { units: number; unit: string }> = {};
  const cases = [];
  for (const [rate, batch] of [
    [16000, 1],
    [16000, 8],
    [16000, 32],
    [16000, 128],
    [8000, 1],
    [8000, 128],
  ] as const) {
    const { rowSamples } = SILERO_GEOMETRY[rate];
    const input = new Float32Array(batch * rowSamples);
    for (let i = 0; i < input.length; i++) input[i] = speech[(i * 7) % speech.length] / 32768;
    const state = new Float32Array(batch * SILERO_STATE_SIZE);
    const name = `${String(rate / 1000)}k batch ${String(batch)}`;
    perOp[name] = { units: batch, unit: 'stream-window' };
    cases.push(
      b.add(name, async () => {
        await session.run(rate, batch, input, state);
      }),
    );
  }
  const summary = await b.suite('silero in-process', ...cases, b.configure({ cases: CASE_OPTIONS }), b.cycle());
  await session.release();
  return rows('silero in-process', summary, perOp);
}

async function workerHop(pool: WorkerPool): Promise<VadBenchResult[]> {
  const perOp: Record<string, { units: number; unit: string }> = {};
  const batchCase = (rate: VadSampleRate, batch: number) => {
    const { rowSamples } = SILERO_GEOMETRY[rate];
    const name = `vad task ${String(rate / 1000)}k batch ${String(batch)}`;
    perOp[name] = { units: batch, unit: 'stream-window' };
    return b.add(name, async () => {
      // Fresh buffers each time: they are transferred, as in the service.
      const input = new Float32Array(batch * rowSamples);
      const state = new Float32Array(batch * SILERO_STATE_SIZE);
      await pool.run('vad', { sampleRate: rate, batchSize: batch, input, state }, { transferList: [input.buffer, state.buffer] });
    });
  };
  const summary = await b.suite(
    'worker round trip',
    b.add('ping (empty)', async () => {
      await pool.run('ping', 0);
    }),
    b.add('ping 64 KiB transferred both ways', async () => {
      const bytes = new Uint8Array(65536);
      await pool.run('ping', bytes, { transferList: [bytes.buffer] });
    }),
    batchCase(16000, 1),
    batchCase(16000, 128),
    batchCase(8000, 128),
    b.configure({ cases: CASE_OPTIONS }),
    b.cycle(),
  );
  return rows('worker round trip', summary, perOp);
}

/** One call-second (50 frames of 20 ms) for each of `calls` calls, then wait for the scores. */
function feeder(service: VadService, rate: VadSampleRate, calls: number, speech: Int16Array) {
  const vads: CallVad[] = Array.from({ length: calls }, (_, i) =>
    service.createCallVad({ callId: `bench-${String(i)}`, sampleRate: rate, onEvent: () => undefined }),
  );
  const frame = rate / 50;
  let at = 0;
  let mediaMs = 0;
  return {
    vads,
    async second(): Promise<void> {
      for (let f = 0; f < 50; f++) {
        if (at + frame > speech.length) at = 0;
        const samples = speech.subarray(at, at + frame);
        for (const v of vads) v.push(samples, mediaMs);
        at += frame;
        mediaMs += 20;
      }
      await Promise.all(vads.map((v) => v.flush()));
    },
  };
}

async function vadPath(pool: WorkerPool, speech16: Int16Array): Promise<VadBenchResult[]> {
  const perOp: Record<string, { units: number; unit: string }> = {};
  const services: VadService[] = [];
  const cases = [];
  for (const rate of [8000, 16000] as const) {
    const speech = toRate(speech16, rate);
    for (const [engine, calls] of [
      ['energy', 1],
      ['silero', 1],
      ['silero', 64],
    ] as const) {
      const service = createVadService({ engine, pool, maxBacklogMs: 60_000 });
      services.push(service);
      const feed = feeder(service, rate, calls, speech);
      const name = `${engine} ${String(rate / 1000)}k, ${String(calls)} call${calls > 1 ? 's' : ''}`;
      perOp[name] = { units: calls, unit: 'call-second' };
      cases.push(b.add(name, () => feed.second()));
    }
  }
  const mulaw = encodeMulaw(speech16.subarray(0, 160));
  const pcm = new Int16Array(160);
  const energy = new EnergyVad(16000);
  const window = speech16.subarray(0, 512);
  let sink = 0;
  cases.push(
    b.add('on-loop: g711 decode of one 20 ms frame', () => {
      sink ^= decodeMulaw(mulaw, pcm)[3];
    }),
    b.add('on-loop: energy VAD of one 32 ms window', () => {
      sink += energy.process(window);
    }),
  );
  const summary = await b.suite('vad path', ...cases, b.configure({ cases: CASE_OPTIONS }), b.cycle());
  if (sink === Number.MAX_VALUE) console.log(sink);
  for (const s of services) await s.close();
  return rows('vad path', summary, perOp);
}

/** Main-thread busy time per call-second with many Silero calls (event-loop utilisation). */
async function eventLoopShare(pool: WorkerPool, speech16: Int16Array, calls: number, seconds: number) {
  const out = [];
  for (const rate of [8000, 16000] as const) {
    const service = createVadService({ engine: 'silero', pool, maxBacklogMs: 60_000 });
    const feed = feeder(service, rate, calls, toRate(speech16, rate));
    await feed.second(); // warm up
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    for (let s = 0; s < seconds; s++) await feed.second();
    const wallMs = performance.now() - t0;
    const elu = performance.eventLoopUtilization(elu0);
    out.push({
      rate,
      calls,
      wallUsPerCallSecond: Number(((wallMs * 1000) / (calls * seconds)).toFixed(1)),
      mainThreadUsPerCallSecond: Number(((elu.active * 1000) / (calls * seconds)).toFixed(1)),
      eventLoopUtilisation: Number(elu.utilization.toFixed(3)),
    });
    await service.close();
  }
  return out;
}

export async function run(): Promise<{ results: VadBenchResult[]; eventLoop: Awaited<ReturnType<typeof eventLoopShare>> }> {
  const speech = speech16k();
  const pool = createWorkerPool();
  try {
    await pool.run('ping', 0); // start the workers before timing
    const results = [...(await inProcess(speech)), ...(await workerHop(pool)), ...(await vadPath(pool, speech))];
    const eventLoop = await eventLoopShare(pool, speech, 64, 5);
    return { results, eventLoop };
  } finally {
    await pool.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { results, eventLoop } = await run();
  console.table(results.map(({ suite, case: name, usPerOp, usPerUnit, unit, marginPct }) => ({ suite, case: name, usPerOp, usPerUnit, unit, marginPct })));
  console.table(eventLoop);
}
