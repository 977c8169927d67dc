import { describe, expect, it } from 'vitest';
import { EnergyVad } from '../../src/pipeline/vad/energy-vad.js';
import { readFixtureWav, readS16 } from '../support/fixtures.js';

const RATE = 16000;
const WINDOW = 512;

/** Deterministic white noise at the given RMS (dBFS). */
function noise(n: number, dbfs: number, seed = 1): Int16Array {
  let s = seed;
  const amp = 32768 * 10 ** (dbfs / 20) * Math.sqrt(3);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    out[i] = Math.round((s / 0x7fffffff - 0.5) * 2 * amp);
  }
  return out;
}

function tone(n: number, hz: number, dbfs: number, rate = RATE): Int16Array {
  const amp = 32768 * 10 ** (dbfs / 20) * Math.SQRT2;
  return Int16Array.from({ length: n }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * hz * i) / rate)));
}

function add(a: Int16Array, b: Int16Array): Int16Array {
  return a.map((x, i) => Math.max(-32768, Math.min(32767, x + b[i])));
}

function scores(vad: EnergyVad, samples: Int16Array): number[] {
  const out: number[] = [];
  for (let at = 0; at + WINDOW <= samples.length; at += WINDOW) out.push(vad.process(samples.subarray(at, at + WINDOW)));
  return out;
}

describe('EnergyVad', () => {
  it('scores steady noise as non-speech once the floor is learned, at any level', () => {
    for (const level of [-60, -40, -20]) {
      const p = scores(new EnergyVad(RATE), noise(RATE * 3, level));
      expect(Math.max(...p.slice(5)), `noise at ${String(level)} dBFS`).toBeLessThan(0.2);
    }
  });

  it('scores a speech-band tone 20 dB over the noise as speech, and the noise after it as silence', () => {
    const n = RATE;
    const background = noise(3 * n, -50);
    const signal = new Int16Array(3 * n);
    signal.set(tone(n, 500, -30), n);
    const p = scores(new EnergyVad(RATE), add(background, signal));
    const perSecond = n / WINDOW;
    expect(Math.min(...p.slice(perSecond + 1, 2 * perSecond - 1))).toBeGreaterThan(0.9);
    expect(Math.max(...p.slice(2 * perSecond + 2))).toBeLessThan(0.2);
  });

  it('ignores energy outside the speech band (50 Hz hum)', () => {
    const hum = add(noise(3 * RATE, -55), tone(3 * RATE, 50, -25));
    const p = scores(new EnergyVad(RATE), hum);
    expect(Math.max(...p.slice(5))).toBeLessThan(0.2);
  });

  it.each([
    ['16 kHz', () => readFixtureWav('speech/librivox-0880.wav')],
    ['8 kHz', () => ({ samples: readS16('g711/cards-002.8k.s16'), sampleRate: 8000 })],
  ])('finds the speech in a real clip at %s', (_name, load) => {
    const clip = load();
    const window = clip.sampleRate === 8000 ? 256 : 512;
    const vad = new EnergyVad(clip.sampleRate);
    const p: number[] = [];
    for (let at = 0; at + window <= clip.samples.length; at += window) p.push(vad.process(clip.samples.subarray(at, at + window)));
    const speechShare = p.filter((x) => x > 0.5).length / p.length;
    expect(speechShare).toBeGreaterThan(0.3);
    expect(speechShare).toBeLessThan(0.95);
  });

  it('tracks the noise floor and resets', () => {
    const vad = new EnergyVad(RATE);
    scores(vad, noise(RATE, -40));
    expect(vad.noiseFloorDb).toBeGreaterThan(-50);
    expect(vad.noiseFloorDb).toBeLessThan(-40);
    vad.reset();
    expect(Number.isNaN(vad.noiseFloorDb)).toBe(true);
  });
});
