import { describe, expect, it } from 'vitest';
import { DEFAULT_TURN_OPTIONS, TurnDetector, type TurnEvent, type TurnOptions } from '../../src/pipeline/vad/turn-detector.js';
import { isGatewayError } from '../../src/errors.js';

const WINDOW_MS = 32;

/** Feed probabilities for consecutive 32 ms windows starting at media time `offsetMs`. */
function run(probabilities: number[], options: Partial<TurnOptions> = {}, offsetMs = 0): TurnEvent[] {
  const detector = new TurnDetector({ ...options, windowMs: WINDOW_MS });
  const events: TurnEvent[] = [];
  probabilities.forEach((p, i) => events.push(...detector.process(p, offsetMs + (i + 1) * WINDOW_MS)));
  return events;
}

/** n windows of probability p. */
const w = (n: number, p: number): number[] => Array<number>(n).fill(p);

describe('TurnDetector', () => {
  it('uses Silero-like defaults', () => {
    expect(DEFAULT_TURN_OPTIONS).toEqual({
      startThreshold: 0.5,
      stopThreshold: 0.35,
      minSpeechMs: 250,
      minSilenceMs: 500,
      speechPadMs: 30,
    });
  });

  it('emits one turn with padded start and end in media time', () => {
    // silence 0..320, speech 320..1280, silence after
    const events = run([...w(10, 0.05), ...w(30, 0.9), ...w(20, 0.05)], {}, 5000);
    expect(events).toEqual([
      // Confirmed by the window that brought the speech to minSpeechMs: 8 windows of 32 ms >= 250.
      { type: 'speechStart', timestampMs: 5000 + 320 - 30, probability: 0.9, onsetMs: 5320, confirmedAtMs: 5320 + 8 * 32 },
      { type: 'speechEnd', timestampMs: 5000 + 1280 + 30, startMs: 5290, durationMs: 1310 - 290 },
    ]);
  });

  it('emits speechStart only once minimum speech has passed', () => {
    const detector = new TurnDetector({ windowMs: WINDOW_MS });
    const at: number[] = [];
    for (let i = 0; i < 20; i++) if (detector.process(0.9, (i + 1) * WINDOW_MS).length > 0) at.push((i + 1) * WINDOW_MS);
    expect(at).toEqual([256]); // first window end >= 250 ms after the speech began at 0
    expect(detector.speaking).toBe(true);
  });

  it.each([
    ['a click shorter than minimum speech', [...w(5, 0), ...w(4, 0.99), ...w(30, 0)]],
    ['probabilities between the thresholds only', w(40, 0.45)],
    ['a candidate cut by a dip below stop', [...w(5, 0.9), 0.2, ...w(5, 0.9), ...w(30, 0)]],
  ])('ignores %s', (_name, probabilities) => {
    expect(run(probabilities)).toEqual([]);
  });

  it('keeps a turn through pauses shorter than minimum silence', () => {
    const events = run([...w(20, 0.9), ...w(12, 0.1), ...w(20, 0.9), ...w(30, 0.1)]); // 384 ms pause
    expect(events.map((e) => e.type)).toEqual(['speechStart', 'speechEnd']);
  });

  it('splits turns at a silence of minimum silence', () => {
    const events = run([...w(20, 0.9), ...w(16, 0.1), ...w(20, 0.9), ...w(30, 0.1)]); // 512 ms pause
    expect(events.map((e) => e.type)).toEqual(['speechStart', 'speechEnd', 'speechStart', 'speechEnd']);
    const [, end1, start2] = events;
    if (end1.type !== 'speechEnd' || start2.type !== 'speechStart') throw new Error('unexpected order');
    expect(end1.timestampMs).toBe(640 + 30);
    expect(start2.timestampMs).toBe(1152 - 30);
  });

  it('applies hysteresis: values between stop and start neither end speech nor cancel a silence', () => {
    // Speaking; 0.4 (between thresholds) for a long time does not end the turn.
    expect(run([...w(20, 0.9), ...w(40, 0.4)]).map((e) => e.type)).toEqual(['speechStart']);
    // A silence that started is not cancelled by 0.4, only by >= start.
    expect(run([...w(20, 0.9), ...w(4, 0.1), ...w(20, 0.4)]).map((e) => e.type)).toEqual(['speechStart', 'speechEnd']);
  });

  it('never starts a turn before the previous one ended', () => {
    const events = run([...w(20, 0.9), ...w(16, 0.1), ...w(20, 0.9), ...w(20, 0.1)], { speechPadMs: 300, minSilenceMs: 500 });
    const [, end1, start2] = events;
    if (end1.type !== 'speechEnd' || start2.type !== 'speechStart') throw new Error('unexpected order');
    expect(start2.timestampMs).toBeGreaterThanOrEqual(end1.timestampMs);
  });

  it('never puts a start before media time 0', () => {
    expect(run(w(20, 0.9))[0]).toMatchObject({ type: 'speechStart', timestampMs: 0 });
  });

  it('closes an open turn on finish()', () => {
    const detector = new TurnDetector({ windowMs: WINDOW_MS });
    for (let i = 0; i < 20; i++) detector.process(0.9, (i + 1) * WINDOW_MS);
    expect(detector.finish(700)).toEqual([{ type: 'speechEnd', timestampMs: 700, startMs: 0, durationMs: 700 }]);
    expect(detector.speaking).toBe(false);
    expect(detector.finish(800)).toEqual([]);
  });

  it('exposes the last probability', () => {
    const detector = new TurnDetector({ windowMs: WINDOW_MS });
    detector.process(0.42, 32);
    expect(detector.lastProbability).toBe(0.42);
  });

  it.each<Partial<TurnOptions>>([
    { startThreshold: 0.3, stopThreshold: 0.5 },
    { stopThreshold: 0 },
    { startThreshold: 1.5 },
    { minSilenceMs: -1 },
    { speechPadMs: 600, minSilenceMs: 500 },
  ])('rejects invalid options %j', (options) => {
    let error: unknown;
    try {
      new TurnDetector({ ...options, windowMs: WINDOW_MS });
    } catch (err) {
      error = err;
    }
    expect(isGatewayError(error, 'GW_ERR_CONFIG_INVALID')).toBe(true);
  });
});
