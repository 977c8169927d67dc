import { describe, expect, it } from 'vitest';
import { Resampler, useJsKernelForTests, type ResamplerQuality } from '../../src/pipeline/resample/resampler.js';
import { filterDesign } from '../../src/pipeline/resample/filter-design.js';
import { isGatewayError } from '../../src/errors.js';
import { readFixtureWav, readS16 } from '../support/fixtures.js';

const RATES = [8000, 16000, 24000, 44100, 48000] as const;
const PAIRS = RATES.flatMap((from) => RATES.filter((to) => to !== from).map((to) => [from, to] as const));
const DOWN = PAIRS.filter(([from, to]) => to < from);
const UP = PAIRS.filter(([from, to]) => to > from);
const lowerNyquist = (from: number, to: number): number => Math.min(from, to) / 2;

// ---------------------------------------------------------------------------------------------
// Helpers

function tone(rate: number, hz: number, amplitude: number, n: number, phase = 0.3): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate + phase));
  return out;
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** process() everything at once, then flush(). */
function resampleAll(from: number, to: number, x: Int16Array, quality: ResamplerQuality = 'high'): Int16Array {
  const r = new Resampler({ from, to, quality });
  return concat([r.process(x), r.flush()]);
}

function resampleChunked(r: Resampler, x: Int16Array, sizes: () => number): Int16Array {
  const parts: Int16Array[] = [];
  for (let at = 0; at < x.length;) {
    const n = Math.min(sizes(), x.length - at);
    parts.push(r.process(x.subarray(at, at + n)));
    at += n;
  }
  parts.push(r.flush());
  return concat(parts);
}

interface SineFit {
  amplitude: number;
  /** theta in amplitude * sin(w n + theta). */
  phase: number;
  /** RMS of what is left after removing the fitted sine and DC. */
  residualRms: number;
}

/** Least-squares fit of a*cos(wn) + b*sin(wn) + c to y[start, end) at a known frequency. */
function fitSine(y: Int16Array, start: number, end: number, hz: number, rate: number): SineFit {
  const w = (2 * Math.PI * hz) / rate;
  const m = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  const v = [0, 0, 0];
  for (let n = start; n < end; n++) {
    const basis = [Math.cos(w * n), Math.sin(w * n), 1];
    for (let i = 0; i < 3; i++) {
      v[i] += basis[i] * y[n];
      for (let j = 0; j < 3; j++) m[i][j] += basis[i] * basis[j];
    }
  }
  // Gaussian elimination on the 3x3 normal equations (well conditioned: many samples, w not ~0).
  for (let i = 0; i < 3; i++) {
    for (let k = i + 1; k < 3; k++) {
      const f = m[k][i] / m[i][i];
      for (let j = i; j < 3; j++) m[k][j] -= f * m[i][j];
      v[k] -= f * v[i];
    }
  }
  const s = [0, 0, 0];
  for (let i = 2; i >= 0; i--) {
    let acc = v[i];
    for (let j = i + 1; j < 3; j++) acc -= m[i][j] * s[j];
    s[i] = acc / m[i][i];
  }
  const [a, b, c] = s;
  let residual = 0;
  for (let n = start; n < end; n++) {
    const e = y[n] - (a * Math.cos(w * n) + b * Math.sin(w * n) + c);
    residual += e * e;
  }
  return { amplitude: Math.hypot(a, b), phase: Math.atan2(a, b), residualRms: Math.sqrt(residual / (end - start)) };
}

function rms(y: Int16Array, start = 0, end = y.length): number {
  let s = 0;
  for (let i = start; i < end; i++) s += y[i] * y[i];
  return Math.sqrt(s / (end - start));
}

const db = (ratio: number): number => 20 * Math.log10(ratio);
const fmt = (x: number): string => x.toFixed(2);

/**
 * Runs a tone through a fresh Resampler and returns the steady-state part of the output: from
 * 2 x delay (the filter has filled) to the end of what process() returned (no flush tail).
 */
function steadyOutput(from: number, to: number, x: Int16Array, quality: ResamplerQuality = 'high'): { y: Int16Array; start: number } {
  const r = new Resampler({ from, to, quality });
  return { y: r.process(x), start: 2 * r.delaySamples + 4 };
}

/** Tones from 50 Hz to the passband edge (0.85 x lower Nyquist). */
function passbandTones(from: number, to: number): number[] {
  const edge = 0.85 * lowerNyquist(from, to);
  return [50, 120, 300, 700, 1000, 2000, 3000, 5000, 8000, 12000, 16000]
    .filter((hz) => hz < 0.9 * edge)
    .concat([0.95 * edge, edge]);
}

// ---------------------------------------------------------------------------------------------

describe('Resampler, quality high', () => {
  it.each(PAIRS)('%i -> %i: passband ripple <= 0.1 dB from 50 Hz to 0.85 x lower Nyquist', (from, to) => {
    const gains: number[] = [];
    for (const hz of passbandTones(from, to)) {
      const amplitude = 16384;
      const x = tone(from, hz, amplitude, Math.round(0.25 * from) + 1000);
      const { y, start } = steadyOutput(from, to, x);
      gains.push(db(fitSine(y, start, y.length, hz, to).amplitude / amplitude));
    }
    const worst = Math.max(...gains.map(Math.abs));
    const spread = Math.max(...gains) - Math.min(...gains);
    expect(worst, `max |gain| ${worst.toFixed(4)} dB`).toBeLessThanOrEqual(0.1);
    expect(spread, `ripple p-p ${spread.toFixed(4)} dB`).toBeLessThanOrEqual(0.1);
  });

  it.each(DOWN)('%i -> %i: tones above the output Nyquist come out >= 80 dB down', (from, to) => {
    const outNyquist = to / 2;
    const inNyquist = from / 2;
    // Just above the output Nyquist, further up, and up to the input Nyquist (48k -> 44.1k has only a thin band).
    const tones = [1.02, 1.1, 1.5].map((k) => k * outNyquist)
      .concat([0.9, 0.98, 1].map((k) => k * inNyquist))
      .filter((hz) => hz >= 1.02 * outNyquist && hz <= inNyquist);
    const levels = tones.map((hz) => {
      // At exactly the input Nyquist a sine samples to a constant times (-1)^n; use phase pi/2 so it is full scale.
      const x = tone(from, hz, 30000, Math.round(0.1 * from) + 2000, hz === inNyquist ? Math.PI / 2 : 0.3);
      const { y, start } = steadyOutput(from, to, x);
      return db(rms(y, start) / rms(x));
    });
    const worst = Math.max(...levels);
    expect(worst, `worst stopband level ${fmt(worst)} dB (${levels.map(fmt).join(', ')})`).toBeLessThanOrEqual(-80);
  });

  it.each(UP)('%i -> %i: images of passband tones are >= 80 dB below the tone', (from, to) => {
    const nyquist = lowerNyquist(from, to);
    const levels = [1000, 0.3 * nyquist, 0.6 * nyquist, 0.85 * nyquist].map((hz) => {
      const x = tone(from, hz, 30000, Math.round(0.1 * from) + 2000);
      const { y, start } = steadyOutput(from, to, x);
      const fit = fitSine(y, start, y.length, hz, to);
      return db(fit.residualRms / (fit.amplitude / Math.SQRT2));
    });
    const worst = Math.max(...levels);
    expect(worst, `worst image+noise level ${fmt(worst)} dB (${levels.map(fmt).join(', ')})`).toBeLessThanOrEqual(-80);
  });

  it.each([[8000, 16000], [8000, 24000], [48000, 16000], [24000, 8000]] as const)(
    '%i -> %i: THD+N of a -6 dBFS 1 kHz tone <= -75 dB',
    (from, to) => {
      const x = tone(from, 1000, 16384, Math.round(0.2 * from));
      const { y, start } = steadyOutput(from, to, x);
      const fit = fitSine(y, start, y.length, 1000, to);
      const thdn = db(fit.residualRms / (fit.amplitude / Math.SQRT2));
      expect(thdn, `THD+N ${fmt(thdn)} dB`).toBeLessThanOrEqual(-75);
    },
  );

  it.each([
    ['8k', 16000],
    ['24k', 8000],
    ['48k', 16000],
    ['8k', 24000],
  ] as const)('librivox-0870 %s -> %i Hz: SNR >= 40 dB against sox rate -v', (name, to) => {
    const from = Number.parseInt(name, 10) * 1000;
    const x = readS16(`resample/librivox-0870.${name}.s16`);
    const reference = readS16(`resample/librivox-0870.${name}-to-${String(to / 1000)}k.s16`);
    const r = new Resampler({ from, to });
    const ours = concat([r.process(x), r.flush()]).subarray(r.delaySamples);
    expect(ours.length).toBe(reference.length);
    let signal = 0;
    let noise = 0;
    for (let i = 0; i < reference.length; i++) {
      signal += reference[i] * reference[i];
      noise += (reference[i] - ours[i]) ** 2;
    }
    const snr = 10 * Math.log10(signal / noise);
    expect(snr, `SNR vs sox ${fmt(snr)} dB`).toBeGreaterThanOrEqual(40);
  });
});

describe('Resampler streaming', () => {
  const speech8k = readS16('resample/librivox-0870.8k.s16').subarray(0, 16000);
  const speech16k = readFixtureWav('speech/librivox-0870.wav').samples.subarray(0, 32000);
  const speech48k = readS16('resample/librivox-0870.48k.s16').subarray(0, 96000);
  const inputFor = (from: number): Int16Array =>
    from === 8000 ? speech8k : from === 16000 ? speech16k : speech48k; // 24k/44.1k reuse 48k audio: chunking is rate-blind

  function mixedSizes(seed: number): () => number {
    let s = seed;
    return () => {
      s = (s * 1103515245 + 12345) >>> 0;
      return 1 + (s % 700);
    };
  }

  const chunkings: [string, (from: number) => () => number][] = [
    ['20 ms frames', (from) => () => Math.round(from / 50)],
    ['10 ms frames', (from) => () => Math.round(from / 100)],
    ['7 samples', () => () => 7],
    ['161 samples', () => () => 161],
    ['333 samples', () => () => 333],
    ['a random mix of 1..700', () => mixedSizes(42)],
  ];

  it.each([[8000, 16000], [16000, 24000], [16000, 8000], [48000, 16000], [8000, 44100], [44100, 48000], [24000, 16000]] as const)(
    '%i -> %i: any chunking gives bit-identical output',
    (from, to) => {
      const x = inputFor(from);
      const whole = resampleAll(from, to, x);
      for (const [name, sizes] of chunkings) {
        const chunked = resampleChunked(new Resampler({ from, to }), x, sizes(from));
        expect(chunked.length, name).toBe(whole.length);
        let diff = 0;
        for (let i = 0; i < whole.length; i++) diff = Math.max(diff, Math.abs(chunked[i] - whole[i]));
        expect(diff, `${name}: max difference ${String(diff)} LSB`).toBe(0);
      }
    },
  );

  it('16000 -> 24000 in 10 ms frames keeps the speech level (not near-silence)', () => {
    const out = resampleChunked(new Resampler({ from: 16000, to: 24000 }), speech16k, () => 160);
    const level = db(rms(out) / rms(speech16k));
    expect(Math.abs(level), `level change ${fmt(level)} dB`).toBeLessThan(0.5);
  });

  it('interleaved instances sharing the kernel do not disturb each other', () => {
    const alone = [resampleAll(8000, 16000, speech8k), resampleAll(48000, 44100, speech48k)];
    const a = new Resampler({ from: 8000, to: 16000 });
    const b = new Resampler({ from: 48000, to: 44100 });
    const outA: Int16Array[] = [];
    const outB: Int16Array[] = [];
    for (let i = 0; i * 160 < speech8k.length; i++) {
      outA.push(a.process(speech8k.subarray(i * 160, (i + 1) * 160)));
      outB.push(b.process(speech48k.subarray(i * 960, (i + 1) * 960)));
    }
    outA.push(a.flush());
    outB.push(b.flush());
    expect(concat(outA)).toEqual(alone[0]);
    expect(concat(outB)).toEqual(alone[1]);
  });

  it.each(PAIRS)('%i -> %i: flush emits delaySamples, total length ceil(n*to/from) + delay, then resets', (from, to) => {
    const x = inputFor(from).subarray(0, 1234);
    const r = new Resampler({ from, to });
    const first = r.process(x);
    const tail = r.flush();
    expect(tail.length).toBe(r.delaySamples);
    expect(first.length + tail.length).toBe(Math.ceil((x.length * to) / from) + r.delaySamples);
    expect(concat([r.process(x), r.flush()])).toEqual(concat([first, tail]));
    expect(r.flush().length).toBe(0);
  });

  it.each(PAIRS)('%i -> %i: flush() gives exactly what feeding zeros would', (from, to) => {
    // A tone on a DC offset, cut off: the last tail samples are large, so a short tail shows up.
    const x = tone(from, 997, 6000, 1001).map((v) => v + 12000);
    const flushed = resampleAll(from, to, x);
    const fed = new Resampler({ from, to }).process(concat([x, new Int16Array(4000)]));
    expect(flushed).toEqual(fed.subarray(0, flushed.length));
    expect(Math.max(...Array.from(flushed.subarray(-4), Math.abs))).toBeGreaterThan(1000);
  });

  it('reset() mid-stream starts over like a fresh instance', () => {
    const r = new Resampler({ from: 48000, to: 16000 });
    r.process(speech48k.subarray(0, 1234));
    r.reset();
    expect(concat([r.process(speech48k.subarray(0, 4800)), r.flush()])).toEqual(resampleAll(48000, 16000, speech48k.subarray(0, 4800)));
  });

  it('the JS fallback kernel gives the same samples as the WebAssembly kernel', () => {
    const clipped = new Int16Array(4000).map((_, i) => ((i >> 7) & 1 ? 32767 : -32768));
    for (const [from, to, x] of [
      [8000, 16000, speech8k], [48000, 16000, speech48k], [44100, 48000, speech48k.subarray(0, 20000)],
      [16000, 24000, speech16k], [8000, 24000, clipped],
    ] as const) {
      const fast = resampleAll(from, to, x);
      useJsKernelForTests(true);
      let js: Int16Array;
      try {
        js = resampleAll(from, to, x);
      } finally {
        useJsKernelForTests(false);
      }
      expect(js, `${String(from)} -> ${String(to)}`).toEqual(fast);
    }
  });

  it.each([[8000, 16000], [48000, 16000], [16000, 24000], [44100, 48000]] as const)(
    '%i -> %i: matches a direct-form f64 convolution with the designed taps',
    (from, to) => {
      const x = inputFor(from).subarray(0, 6000);
      const ours = resampleAll(from, to, x);
      const { up, down, taps } = filterDesign(from, to, 'high');
      let exact = 0;
      let worst = 0;
      for (let n = 0; n < ours.length; n++) {
        let s = 0;
        const t = n * down;
        for (let i = Math.min(Math.floor(t / up), x.length - 1); i >= 0 && t - i * up < taps.length; i--) s += taps[t - i * up] * x[i];
        const d = Math.abs(Math.max(-32768, Math.min(32767, Math.round(s))) - ours[n]);
        worst = Math.max(worst, d);
        if (d === 0) exact++;
      }
      expect(worst).toBeLessThanOrEqual(1);
      expect(exact / ours.length).toBeGreaterThan(0.999);
    },
  );
});

describe('Resampler delay', () => {
  it.each(PAIRS)('%i -> %i: an impulse peaks at delaySamples; a tone is delayed by exactly delayMs', (from, to) => {
    for (const quality of ['high', 'fast'] as const) {
      const r = new Resampler({ from, to, quality });
      expect(Number.isInteger(r.delaySamples)).toBe(true);
      expect(r.delayMs).toBeCloseTo((r.delaySamples * 1000) / to, 9);
      const impulse = new Int16Array(500);
      impulse[0] = 30000;
      const y = concat([r.process(impulse), r.flush()]);
      let peak = 0;
      for (let i = 1; i < y.length; i++) if (Math.abs(y[i]) > Math.abs(y[peak])) peak = i;
      expect(peak, quality).toBe(r.delaySamples);
      // A 440 Hz tone with phase phi comes out as sin(w (n - delay) + phi): check the fitted phase.
      const hz = 440;
      const { y: out, start } = steadyOutput(from, to, tone(from, hz, 16384, Math.round(0.1 * from), 0.3), quality);
      const fit = fitSine(out, start, out.length, hz, to);
      const expected = 0.3 - (2 * Math.PI * hz * r.delaySamples) / to;
      const err = Math.abs(Math.atan2(Math.sin(fit.phase - expected), Math.cos(fit.phase - expected)));
      expect(err, `${quality}: phase error ${err.toExponential(2)} rad`).toBeLessThan(1e-3);
    }
  });

  it('fast quality has about half the delay (taps) of high, the same passband, stopband from 1.09 x', () => {
    for (const [from, to] of [[48000, 16000], [8000, 16000]] as const) {
      const high = new Resampler({ from, to });
      const fast = new Resampler({ from, to, quality: 'fast' });
      expect(fast.delaySamples / high.delaySamples).toBeGreaterThan(0.4);
      expect(fast.delaySamples / high.delaySamples).toBeLessThan(0.6);
      for (const hz of passbandTones(from, to)) {
        const x = tone(from, hz, 16384, Math.round(0.25 * from));
        const { y, start } = steadyOutput(from, to, x, 'fast');
        const gain = db(fitSine(y, start, y.length, hz, to).amplitude / 16384);
        expect(Math.abs(gain), `${String(hz)} Hz gain ${gain.toFixed(4)} dB`).toBeLessThanOrEqual(0.1);
      }
    }
    // Its stopband starts at 1.09 x lower Nyquist.
    for (const hz of [1.2 * 8000, 0.98 * 24000]) {
      const x = tone(48000, hz, 30000, 6000);
      const { y, start } = steadyOutput(48000, 16000, x, 'fast');
      const level = db(rms(y, start) / rms(x));
      expect(level, `${String(hz)} Hz at ${fmt(level)} dB`).toBeLessThanOrEqual(-80);
    }
  });
});

describe('Resampler edge cases', () => {
  it.each([0, 11025, 22050, 32000, 96000, -8000, 8000.5, Number.NaN])('rejects %d Hz with GW_ERR_AUDIO_UNSUPPORTED_RATE', (rate) => {
    for (const opts of [{ from: rate, to: 16000 }, { from: 16000, to: rate }]) {
      let caught: unknown;
      try {
        new Resampler(opts);
      } catch (err) {
        caught = err;
      }
      expect(isGatewayError(caught, 'GW_ERR_AUDIO_UNSUPPORTED_RATE')).toBe(true);
    }
  });

  it('rejects an unknown quality', () => {
    expect(() => new Resampler({ from: 8000, to: 16000, quality: 'best' as ResamplerQuality })).toThrow(/quality/);
  });

  it('returns empty output for empty input without disturbing the stream', () => {
    const x = tone(8000, 440, 10000, 800);
    const r = new Resampler({ from: 8000, to: 16000 });
    const parts = [r.process(x.subarray(0, 400)), r.process(new Int16Array(0)), r.process(x.subarray(400)), r.flush()];
    expect(parts[1].length).toBe(0);
    expect(concat(parts)).toEqual(resampleAll(8000, 16000, x));
    expect(new Resampler({ from: 8000, to: 16000 }).flush().length).toBe(0);
  });

  it('passes through a copy when from === to', () => {
    const x = tone(16000, 440, 10000, 320);
    const r = new Resampler({ from: 16000, to: 16000 });
    const y = r.process(x);
    expect(r.delaySamples).toBe(0);
    expect(r.delayMs).toBe(0);
    expect(y).toEqual(x);
    expect(y.buffer).not.toBe(x.buffer);
    expect(r.flush().length).toBe(0);
  });

  it('returns a new array every call', () => {
    const r = new Resampler({ from: 8000, to: 16000 });
    const x = tone(8000, 440, 10000, 160);
    const a = r.process(x);
    const b = r.process(x);
    expect(a.buffer).not.toBe(b.buffer);
    expect(a.buffer).not.toBe(x.buffer);
  });

  it.each([[8000, 16000], [48000, 16000], [44100, 48000]] as const)(
    '%i -> %i: a full-scale step clamps at int16 instead of wrapping (both kernels)',
    (from, to) => {
      const step = 2000;
      const x = new Int16Array(4000).map((_, i) => (i < step ? -32768 : 32767));
      for (const js of [false, true]) {
        useJsKernelForTests(js);
        let y: Int16Array;
        let delay: number;
        try {
          const r = new Resampler({ from, to });
          y = r.process(x);
          delay = r.delaySamples;
        } finally {
          useJsKernelForTests(false);
        }
        let wrong = 0;
        for (let n = 0; n < y.length; n++) {
          // Input time of output n; the band-limited step crosses zero at step - 0.5. Skip the start,
          // where the filter rises from its zero history to -32768.
          const t = ((n - delay) * from) / to;
          if (t < 200) continue;
          if ((t <= step - 0.75 && y[n] >= 0) || (t >= step - 0.25 && y[n] <= 0)) wrong++;
        }
        expect(wrong, `samples on the wrong side (js=${String(js)})`).toBe(0);
        expect(y).toContain(32767);
        expect(y).toContain(-32768);
      }
      // The check above can fail: a half-scale step rings > 3% past its plateaus, so at full scale the
      // unclamped sums leave int16 and would wrap to the other sign.
      const half = new Resampler({ from, to }).process(x.map((v) => v >> 1));
      expect(Math.max(...half)).toBeGreaterThan(16383 * 1.03);
      expect(Math.min(...half)).toBeLessThan(-16384 * 1.03);
    },
  );
});
