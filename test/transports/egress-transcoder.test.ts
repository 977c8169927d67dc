import { describe, expect, it } from 'vitest';
import { EgressTranscoder } from '../../src/transports/egress-transcoder.js';
import { decodeAlaw, decodeMulaw, encodeAlaw } from '../../src/pipeline/codecs/g711.js';
import { decodeL16 } from '../../src/pipeline/codecs/l16.js';

const tone = Int16Array.from({ length: 160 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)));

function snrDb(ref: Int16Array, got: Int16Array): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < ref.length; i++) {
    s += ref[i] * ref[i];
    n += (ref[i] - got[i]) ** 2;
  }
  return 10 * Math.log10(s / Math.max(n, 1));
}

describe('egress transcoder', () => {
  it('is not needed when the carrier expects what the stream carries', () => {
    expect(EgressTranscoder.needed({ codec: 'mulaw', sampleRate: 8000 }, { codec: 'mulaw', sampleRate: 8000 })).toBe(false);
    expect(EgressTranscoder.needed({ codec: 'mulaw', sampleRate: 8000 }, undefined)).toBe(false);
    expect(EgressTranscoder.needed({ codec: 'alaw', sampleRate: 8000 }, { codec: 'mulaw', sampleRate: 8000 })).toBe(true);
  });

  it('an A-law call told PCMU for egress sends mu-law that decodes to the same audio (not A-law bytes as mu-law)', () => {
    const alaw = encodeAlaw(tone);
    const t = new EgressTranscoder({ codec: 'alaw', sampleRate: 8000 }, { codec: 'mulaw', sampleRate: 8000 });
    const out = t.process(alaw);
    expect(out.length).toBe(160);
    expect(snrDb(decodeAlaw(alaw), decodeMulaw(out))).toBeGreaterThan(30);
    // What the bug did: the A-law bytes read as mu-law are noise.
    expect(snrDb(decodeAlaw(alaw), decodeMulaw(alaw))).toBeLessThan(0);
  });

  it('re-rates to L16 at 16 kHz, big-endian, keeping the duration', () => {
    const t = new EgressTranscoder({ codec: 'mulaw', sampleRate: 8000 }, { codec: 'l16', sampleRate: 16000 });
    let bytes = 0;
    for (let i = 0; i < 10; i++) bytes += t.process(new Uint8Array(160).fill(0xff)).length;
    // 10 frames of 20 ms at 16 kHz, 2 bytes a sample, less the resampler's fill.
    expect(bytes).toBeGreaterThan(6000);
    expect(bytes).toBeLessThanOrEqual(6400);
    expect(bytes % 2).toBe(0);
    const one = t.process(encodeAlaw(tone));
    expect(decodeL16(one).length).toBe(one.length / 2);
  });
});
