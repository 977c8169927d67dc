/** In-band DTMF: tone pairs correct in frequency, level, timing and through G.711; the detector hears them, only them. */
import { describe, expect, it } from 'vitest';
import { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { DtmfDetector, dtmfTones } from '../../src/pipeline/dtmf.js';
import { Resampler } from '../../src/pipeline/resample/resampler.js';
import { readFixtureWav } from '../support/fixtures.js';

const PAIRS: Record<string, [number, number]> = {
  '1': [697, 1209], '2': [697, 1336], '3': [697, 1477], A: [697, 1633],
  '4': [770, 1209], '5': [770, 1336], '6': [770, 1477], B: [770, 1633],
  '7': [852, 1209], '8': [852, 1336], '9': [852, 1477], C: [852, 1633],
  '*': [941, 1209], '0': [941, 1336], '#': [941, 1477], D: [941, 1633],
};

/** Amplitude of the sinusoid at `f` in `x`: a Hann-windowed correlation, independent of the detector. */
function amplitudeAt(x: Int16Array, f: number, rate: number): number {
  let re = 0;
  let im = 0;
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    re += w * x[i] * Math.cos((2 * Math.PI * f * i) / rate);
    im += w * x[i] * Math.sin((2 * Math.PI * f * i) / rate);
  }
  return (4 * Math.hypot(re, im)) / n; // 2 for one side of the spectrum, 2 for the window's gain of 1/2
}

/** Runs of silence and sound, in samples; silence is 1 ms or more with nothing above the floor. */
function runs(x: Int16Array): { sound: boolean; length: number }[] {
  const out: { sound: boolean; length: number }[] = [];
  for (let i = 0; i < x.length; i++) {
    let loud = false;
    for (let j = Math.max(0, i - 4); j <= Math.min(x.length - 1, i + 4); j++) if (Math.abs(x[j]) > 8) loud = true;
    const last = out.at(-1);
    if (last && last.sound === loud) last.length++;
    else out.push({ sound: loud, length: 1 });
  }
  return out;
}

const detect = (pcm: Int16Array, rate = 8000) => new DtmfDetector(rate).push(pcm).map((d) => d.digit).join('');

describe('dtmfTones', () => {
  it.each(Object.entries(PAIRS))('%s is %o Hz, high group 2 dB over the low, no clipping', (digit, [low, high]) => {
    const pcm = dtmfTones(digit, { sampleRate: 8000, toneMs: 100 });
    const steady = pcm.subarray(40, 760); // past the ramps
    const lowAmp = amplitudeAt(steady, low, 8000);
    const highAmp = amplitudeAt(steady, high, 8000);
    expect(20 * Math.log10(highAmp / lowAmp)).toBeCloseTo(2, 0);
    // -9 dBm0 and -7 dBm0 against a 0 dBm0 peak of 22,300.
    expect(lowAmp).toBeGreaterThan(7300);
    expect(lowAmp).toBeLessThan(8500);
    for (const other of Object.values(PAIRS).flat()) {
      if (other !== low && other !== high) expect(amplitudeAt(steady, other, 8000)).toBeLessThan(lowAmp / 20);
    }
    expect(Math.max(...pcm.map(Math.abs))).toBeLessThan(32767);
  });

  it('makes tones of the asked length with 80 ms gaps, and w/W pauses', () => {
    const pcm = dtmfTones('12w3', { sampleRate: 8000, toneMs: 90 });
    const r = runs(pcm);
    const tones = r.filter((x) => x.sound).map((x) => x.length);
    expect(tones).toHaveLength(3);
    for (const t of tones) expect(Math.abs(t - 720)).toBeLessThanOrEqual(16); // 90 ms, ramps at near-zero ends
    const gaps = r.filter((x) => !x.sound).map((x) => x.length);
    expect(gaps[0]).toBeGreaterThanOrEqual(640 - 16); // 80 ms
    expect(gaps[1]).toBeGreaterThanOrEqual(640 + 4000 - 16); // gap + 0.5 s pause
    expect(pcm.length).toBe(3 * (720 + 640) + 4000);
  });

  it('refuses what is not a digit', () => {
    expect(() => dtmfTones('1x', { sampleRate: 8000 })).toThrow(RangeError);
  });
});

describe('DtmfDetector', () => {
  const all = Object.keys(PAIRS).join('');

  it.each([
    ['mu-law', (p: Int16Array) => decodeMulaw(encodeMulaw(p))],
    ['A-law', (p: Int16Array) => decodeAlaw(encodeAlaw(p))],
  ])('hears all 16 digits once each through %s', (_name, codec) => {
    expect(detect(codec(dtmfTones(all, { sampleRate: 8000, toneMs: 100, gapMs: 80 })))).toBe(all);
  });

  it('counts a repeated digit twice when a gap separates the presses, and 80 ms tones are enough', () => {
    expect(detect(dtmfTones('1100', { sampleRate: 8000, toneMs: 80, gapMs: 60 }))).toBe('1100');
  });

  it('works at 16 kHz', () => {
    expect(detect(dtmfTones('9#', { sampleRate: 16000 }), 16000)).toBe('9#');
  });

  it('hears nothing in speech, in one tone alone, or in quiet tones', () => {
    const wav = readFixtureWav('speech/cards-001.wav');
    const speech = wav.sampleRate === 8000 ? wav.samples : new Resampler({ from: wav.sampleRate, to: 8000 }).process(wav.samples);
    expect(detect(speech)).toBe('');
    const single = new Int16Array(2000).map((_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 697 * i) / 8000)));
    expect(detect(single)).toBe('');
    const quiet = dtmfTones('5', { sampleRate: 8000, lowDbm0: -60, highDbm0: -58 });
    expect(detect(quiet)).toBe('');
  });

  it('keeps state across pushes of any size', () => {
    const pcm = dtmfTones('42', { sampleRate: 8000 });
    const d = new DtmfDetector();
    const heard: string[] = [];
    for (let i = 0; i < pcm.length; i += 37) heard.push(...d.push(pcm.subarray(i, i + 37)).map((x) => x.digit));
    expect(heard.join('')).toBe('42');
  });
});
