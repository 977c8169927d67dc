/**
 * The VAD on the simulated calls (test/fixtures/audio/calls, see its README): one turn per labelled
 * utterance, start within 250 ms and end within 500 ms of the label, nothing in the gaps; at 16 kHz
 * (WAV) and 8 kHz (G.711 as the phone network carries it). Silero must beat the energy VAD on the
 * 10 dB SNR call by frame-level F1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeAlaw, decodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { detectSegments } from '../../src/pipeline/vad/detect-file.js';
import { scoreFrames, scoreTurns, type FrameScore, type Segment, type TurnScore } from '../../src/pipeline/vad/score.js';
import type { VadSampleRate } from '../../src/pipeline/vad/silero-model.js';
import { createVadService } from '../../src/pipeline/vad/vad-service.js';
import { createWorkerPool, type WorkerPool } from '../../src/workers/pool.js';
import { readBytes, readFixtureWav, readLabels } from '../support/fixtures.js';

const CALLS = ['call-quiet', 'call-noisy'] as const;
const FORMATS = ['16k.wav', '8k.ulaw', '8k.alaw'] as const;
/** 'silero-gated': Silero behind the gateway's default silence gate (VAD_SILENCE_GATE_DBFS=-60). */
type Engine = 'silero' | 'silero-gated' | 'energy';

function load(call: string, format: (typeof FORMATS)[number]): { samples: Int16Array; sampleRate: VadSampleRate } {
  const file = `calls/${call}.${format}`;
  if (format === '16k.wav') return { samples: readFixtureWav(file).samples, sampleRate: 16000 };
  const bytes = readBytes(file);
  return { samples: format === '8k.ulaw' ? decodeMulaw(bytes) : decodeAlaw(bytes), sampleRate: 8000 };
}

interface Outcome {
  segments: Segment[];
  labels: Segment[];
  turns: TurnScore;
  /** Frame F1 of the turns. */
  turnFrames: FrameScore;
  /** Frame F1 of the raw per-window decisions (probability >= 0.5): the VAD without the turn logic. */
  windowFrames: FrameScore;
  windows: number;
  /** Windows the silence gate scored (probability exactly 0: Silero never gives that). */
  gated: number;
}

let pool: WorkerPool;
const outcomes = new Map<string, Outcome>();

async function evaluate(engine: Engine, call: string, format: (typeof FORMATS)[number]): Promise<Outcome> {
  const key = `${engine} ${call} ${format}`;
  const cached = outcomes.get(key);
  if (cached) return cached;
  // Accuracy is under test, not speed: deadlines a loaded CI box cannot trip (a task that times out
  // falls back to energy, which the engine check below would report as a failure of accuracy).
  const silenceGateDb = engine === 'silero-gated' ? -60 : undefined;
  const service = createVadService({ engine: engine === 'energy' ? 'energy' : 'silero', silenceGateDb, pool, taskTimeoutMs: 30_000, maxBacklogMs: 60_000 });
  try {
    const { samples, sampleRate } = load(call, format);
    const speechWindows: Segment[] = [];
    let windows = 0;
    let gated = 0;
    const result = await detectSegments({
      service,
      samples,
      sampleRate,
      callId: key,
      onProbability: (p, endMs) => {
        windows++;
        if (p === 0) gated++;
        if (p >= 0.5) speechWindows.push({ startMs: endMs - 32, endMs });
      },
    });
    expect(result.engine).toBe(engine === 'energy' ? 'energy' : 'silero'); // no silent fallback
    const labels = readLabels(call).utterances;
    const outcome: Outcome = {
      segments: result.segments,
      labels,
      turns: scoreTurns(result.segments, labels),
      turnFrames: scoreFrames(result.segments, labels, result.durationMs),
      windowFrames: scoreFrames(speechWindows, labels, result.durationMs),
      windows,
      gated,
    };
    outcomes.set(key, outcome);
    return outcome;
  } finally {
    await service.close();
  }
}

beforeAll(() => {
  pool = createWorkerPool({ size: 2 });
});

afterAll(async () => {
  await pool.close();
  const rows = [...outcomes].map(([key, o]) => ({
    run: key,
    precision: o.turns.precision,
    recall: o.turns.recall,
    startErrMs: o.turns.startErrorsMs.map(Math.round).join(' '),
    endErrMs: o.turns.endErrorsMs.map(Math.round).join(' '),
    turnF1: Number(o.turnFrames.f1.toFixed(3)),
    windowF1: Number(o.windowFrames.f1.toFixed(3)),
  }));
  console.table(rows);
});

function expectOneTurnPerUtterance(o: Outcome): void {
  expect(o.segments).toHaveLength(o.labels.length);
  for (const [i, label] of o.labels.entries()) {
    const turn = o.segments[i];
    expect(Math.abs(turn.startMs - label.startMs), `utterance ${String(i)} start`).toBeLessThanOrEqual(250);
    expect(Math.abs(turn.endMs - label.endMs), `utterance ${String(i)} end`).toBeLessThanOrEqual(500);
  }
  expect(o.turns.precision).toBe(1);
  expect(o.turns.recall).toBe(1);
}

describe.each(CALLS)('Silero VAD on %s', (call) => {
  it.each(FORMATS)('finds one turn per utterance in the %s version', async (format) => {
    expectOneTurnPerUtterance(await evaluate('silero', call, format));
  });
});

describe.each(CALLS)('Silero behind the default silence gate (-60 dBFS) on %s', (call) => {
  it.each(FORMATS)('finds the same turns in the %s version, within a window', async (format) => {
    const gated = await evaluate('silero-gated', call, format);
    const plain = await evaluate('silero', call, format);
    expectOneTurnPerUtterance(gated);
    expect(plain.gated).toBe(0);
    for (const [i, turn] of gated.segments.entries()) {
      expect(Math.abs(turn.startMs - plain.segments[i].startMs), `turn ${String(i)} start`).toBeLessThanOrEqual(32);
      expect(Math.abs(turn.endMs - plain.segments[i].endMs), `turn ${String(i)} end`).toBeLessThanOrEqual(32);
    }
    expect(gated.windowFrames.f1).toBeGreaterThan(plain.windowFrames.f1 - 0.02);
    // What the gate is for: the pauses of a quiet line skip the model; a 10 dB SNR line never goes under it.
    if (call === 'call-quiet') expect(gated.gated / gated.windows).toBeGreaterThan(0.25);
    else expect(gated.gated).toBe(0);
  });
});

describe('energy VAD on call-quiet', () => {
  it.each(FORMATS)('finds one turn per utterance in the %s version', async (format) => {
    expectOneTurnPerUtterance(await evaluate('energy', 'call-quiet', format));
  });
});

describe('Silero against the energy VAD on call-noisy (10 dB SNR)', () => {
  it.each(['16k.wav', '8k.ulaw'] as const)('scores a higher frame F1 on the %s version', async (format) => {
    const silero = await evaluate('silero', 'call-noisy', format);
    const energy = await evaluate('energy', 'call-noisy', format);
    expect(silero.windowFrames.f1).toBeGreaterThan(energy.windowFrames.f1 + 0.1);
    expect(silero.turnFrames.f1).toBeGreaterThan(energy.turnFrames.f1 + 0.05);
    expect(silero.turns.recall).toBeGreaterThan(energy.turns.recall);
  });
});
