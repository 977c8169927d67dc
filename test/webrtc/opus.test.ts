/**
 * Our Opus wrapper on the speech fixtures: round-trip fidelity at 48 kbit/s, loss concealment without
 * clicks, and the TOC arithmetic the jitter buffer relies on. Arrays only, no sockets.
 */
import { describe, expect, it } from 'vitest';
import { Resampler } from '../../src/pipeline/resample/resampler.js';
import { describeToc, OPUS_FRAME_SAMPLES, OpusDecoder, OpusEncoder, opusPacketSamples, tocFrameSamples, type OpusEncoderOptions } from '../../src/transports/webrtc/opus.js';
import { readFixtureWav, SPEECH_CLIPS } from '../support/fixtures.js';

/** libopus's algorithmic delay at 48 kHz: 2.5 ms look-ahead + 4 ms delay compensation. */
const OPUS_DELAY = 312;
const N = OPUS_FRAME_SAMPLES;

function to48k(name: string): Int16Array {
  const wav = readFixtureWav(`speech/${name}.wav`);
  const rs = new Resampler({ from: wav.sampleRate, to: 48000 });
  const head = rs.process(wav.samples);
  const tail = rs.flush();
  const all = new Int16Array(head.length + tail.length);
  all.set(head);
  all.set(tail, head.length);
  return all.subarray(rs.delaySamples);
}

/** Encode whole 20 ms frames (the tail padded with silence); returns packets. */
function encodeAll(pcm: Int16Array, options?: OpusEncoderOptions): Uint8Array[] {
  const enc = new OpusEncoder(options);
  const packets: Uint8Array[] = [];
  for (let i = 0; i < pcm.length; i += N) {
    const frame = new Int16Array(N);
    frame.set(pcm.subarray(i, Math.min(pcm.length, i + N)));
    packets.push(enc.encode(frame));
  }
  return packets;
}

/** Decode in order; packets whose index is in `lost` are concealed (or zero-filled, for the control). */
function decodeAll(packets: Uint8Array[], lost = new Set<number>(), fill: 'plc' | 'zeros' = 'plc'): Int16Array {
  const dec = new OpusDecoder();
  const out = new Int16Array(packets.length * N);
  packets.forEach((p, i) => {
    const pcm = !lost.has(i) ? dec.decode(p) : fill === 'plc' ? dec.conceal(N) : new Int16Array(N);
    expect(pcm.length).toBe(N);
    out.set(pcm, i * N);
  });
  return out;
}

/**
 * One-pole DC blocker (-3 dB at 20 Hz), applied identically to reference and decoded signal before
 * comparing: the Opus encoder removes DC by design (its dc_reject filter), and the LibriVox clips
 * carry a DC offset of ~220 LSB (-19 dB of their energy) that would otherwise cap the SNR near 19 dB
 * whatever the codec did. Nothing audible is removed.
 */
function dcBlock(x: Int16Array): Float64Array {
  const r = Math.exp((-2 * Math.PI * 20) / 48000);
  const out = new Float64Array(x.length);
  let px = 0;
  let py = 0;
  for (let i = 0; i < x.length; i++) {
    py = x[i] - px + r * py;
    px = x[i];
    out[i] = py;
  }
  return out;
}

/** Signal and error energy at the best lag near the codec delay. */
function aligned(ref: Float64Array, out: Float64Array): { lag: number; signal: number; error: number } {
  let best = { lag: 0, signal: 0, error: Infinity };
  for (let lag = OPUS_DELAY - 24; lag <= OPUS_DELAY + 24; lag++) {
    const n = Math.min(ref.length, out.length - lag);
    let signal = 0;
    let error = 0;
    for (let i = 0; i < n; i++) {
      const d = out[i + lag] - ref[i];
      signal += ref[i] * ref[i];
      error += d * d;
    }
    if (error / signal < best.error / Math.max(best.signal, 1)) best = { lag, signal, error };
  }
  return best;
}

const db = (ratio: number) => 10 * Math.log10(ratio);

describe('Opus round trip at 48 kbit/s on the speech fixtures', () => {
  it('gives the speech back: SNR >= 20 dB on every clip, at <= 48 kbit/s delivered', () => {
    let signal = 0;
    let error = 0;
    let bytes = 0;
    let seconds = 0;
    const perClip: Record<string, number> = {};
    for (const name of SPEECH_CLIPS) {
      const pcm = to48k(name);
      const packets = encodeAll(pcm);
      const decoded = decodeAll(packets);
      const a = aligned(dcBlock(pcm), dcBlock(decoded));
      expect(Math.abs(a.lag - OPUS_DELAY), `${name}: best alignment at lag ${String(a.lag)}`).toBeLessThanOrEqual(2);
      perClip[name] = db(a.signal / a.error);
      signal += a.signal;
      error += a.error;
      bytes += packets.reduce((s, p) => s + p.length, 0);
      seconds += (packets.length * N) / 48000;
    }
    const kbps = (bytes * 8) / seconds / 1000;
    expect(kbps).toBeLessThanOrEqual(48);
    expect(kbps).toBeGreaterThan(40);
    // Measured: 20.3 (cards-003, a loud fricative) to 25.3 dB per clip, 23.4 dB over all, at 47.4 kbit/s.
    expect(db(signal / error), JSON.stringify(perClip)).toBeGreaterThanOrEqual(20);
    for (const [name, snr] of Object.entries(perClip)) expect(snr, name).toBeGreaterThanOrEqual(20);
  });

  it('would not pass with libopus left to pick SILK/hybrid itself (the settings matter)', () => {
    const pcm = to48k('librivox-0880');
    const a = aligned(dcBlock(pcm), dcBlock(decodeAll(encodeAll(pcm, { mode: 'auto', maxBandwidth: 'fullband', complexity: 10, vbr: 'constrained' }))));
    expect(db(a.signal / a.error)).toBeLessThan(19.5);
  });
});

describe('Opus loss concealment', () => {
  const pcm = to48k('librivox-0930');
  const packets = encodeAll(pcm);
  // Losses in the loudest speech, where a click would be worst: single packets and a burst of three.
  const energy = packets.map((_, i) => {
    let s = 0;
    for (let k = i * N; k < Math.min(pcm.length, (i + 1) * N); k++) s += pcm[k] * pcm[k];
    return { i, s };
  });
  const loud = energy.filter((e) => e.i > 10 && e.i < packets.length - 10).sort((a, b) => b.s - a.s).map((e) => e.i);
  const lost = new Set<number>();
  for (const i of loud) {
    if (lost.size >= 6) break;
    if ([...lost].some((j) => Math.abs(j - i) < 8)) continue;
    lost.add(i);
    if (lost.size === 3) lost.add(i + 1).add(i + 2); // one burst of three
  }
  const starts = [...lost].filter((i) => !lost.has(i - 1));
  const clean = decodeAll(packets);

  /** Largest step between neighbouring samples within +-`frames` of frame i. */
  const maxStep = (x: Int16Array, i: number, frames: number) => {
    let m = 0;
    for (let k = Math.max(1, (i - frames) * N); k < Math.min(x.length, (i + frames + 1) * N); k++) m = Math.max(m, Math.abs(x[k] - x[k - 1]));
    return m;
  };
  /** The bound: 1.5 x the steepest step of the loss-free decode over the surrounding 200 ms. */
  const bound = (i: number) => 1.5 * maxStep(clean, i, 5) + 64;

  it('conceals with no step above the bound where audio is lost and where it resumes', () => {
    const concealed = decodeAll(packets, lost);
    for (const i of starts) {
      let end = i;
      while (lost.has(end + 1)) end++;
      // From the last good frame through the loss into the first frame after it.
      let step = 0;
      for (let k = (i - 1) * N + 1; k < (end + 2) * N; k++) step = Math.max(step, Math.abs(concealed[k] - concealed[k - 1]));
      expect(step, `loss at frame ${String(i)}..${String(end)}`).toBeLessThanOrEqual(bound(i));
    }
    // Concealment is not silence: the PLC extends the speech into the gap.
    let rms = 0;
    for (let k = starts[0] * N; k < (starts[0] + 1) * N; k++) rms += concealed[k] * concealed[k];
    expect(Math.sqrt(rms / N)).toBeGreaterThan(50);
  });

  it('the bound catches a click: zero-filling the same losses exceeds it', () => {
    const zeroed = decodeAll(packets, lost, 'zeros');
    const exceeded = starts.filter((i) => {
      let step = 0;
      for (let k = (i - 1) * N + 1; k < (i + 2) * N; k++) step = Math.max(step, Math.abs(zeroed[k] - zeroed[k - 1]));
      return step > bound(i);
    });
    expect(exceeded.length).toBeGreaterThan(0);
  });

  it('conceals before any packet arrived, and in whole frames of the last packet duration', () => {
    const dec = new OpusDecoder();
    expect(dec.conceal(N)).toHaveLength(N);
    dec.decode(packets[20]);
    expect(dec.conceal(2 * N)).toHaveLength(2 * N);
    expect(dec.conceal(100)).toHaveLength(N);
  });

  it('rejects a packet libopus cannot parse with GW_ERR_AUDIO_OPUS, and keeps working', () => {
    const dec = new OpusDecoder();
    expect(() => dec.decode(Uint8Array.of(0xff, 0xff))).toThrow(expect.objectContaining({ code: 'GW_ERR_AUDIO_OPUS' }));
    expect(() => dec.decode(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'GW_ERR_AUDIO_OPUS' }));
    expect(dec.decode(packets[5])).toHaveLength(N);
  });
});

describe('Opus packet arithmetic (RFC 6716 section 3.1)', () => {
  it.each([
    ['SILK NB 10 ms', 0 << 3, 480],
    ['SILK WB 60 ms', 11 << 3, 2880],
    ['hybrid SWB 10 ms', 12 << 3, 480],
    ['hybrid FB 20 ms', 15 << 3, 960],
    ['CELT NB 2.5 ms', 16 << 3, 120],
    ['CELT FB 20 ms', 31 << 3, 960],
  ])('%s', (_name, toc, samples) => {
    expect(tocFrameSamples(toc)).toBe(samples);
    expect(opusPacketSamples(Uint8Array.of(toc, 1, 2))).toBe(samples);
  });

  it('counts frames: code 1 and 2 carry two, code 3 says how many, and > 120 ms is invalid', () => {
    expect(opusPacketSamples(Uint8Array.of((31 << 3) | 1))).toBe(1920);
    expect(opusPacketSamples(Uint8Array.of((31 << 3) | 2, 0))).toBe(1920);
    expect(opusPacketSamples(Uint8Array.of((31 << 3) | 3, 3))).toBe(2880);
    expect(opusPacketSamples(Uint8Array.of((11 << 3) | 3, 3))).toBe(0); // 3 x 60 ms
    expect(opusPacketSamples(Uint8Array.of((31 << 3) | 3))).toBe(0);
    expect(opusPacketSamples(new Uint8Array(0))).toBe(0);
  });

  it('what our encoder sends is CELT wideband, 20 ms per packet', () => {
    const enc = new OpusEncoder();
    const packet = enc.encode(new Int16Array(N));
    expect(opusPacketSamples(packet)).toBe(N);
    expect(describeToc(packet[0])).toBe('CELT WB 20 ms');
  });

  it('describes a TOC in words', () => {
    expect(describeToc(9 << 3)).toBe('SILK WB 20 ms');
    expect(describeToc(13 << 3)).toBe('hybrid SWB 20 ms');
    expect(describeToc(28 << 3)).toBe('CELT FB 2.5 ms');
  });
});
