import { describe, expect, it } from 'vitest';
import {
  decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw, alawLevel, mulawLevel,
} from '../../src/pipeline/codecs/g711.js';
import { isGatewayError } from '../../src/errors.js';
import { readBytes, readS16, SPEECH_CLIPS } from '../support/fixtures.js';

const ALL_CODES = readBytes('g711/all-codes.u8');

const laws = [
  { name: 'mu-law', ext: 'ulaw', decode: decodeMulaw, encode: encodeMulaw, level: mulawLevel },
  { name: 'A-law', ext: 'alaw', decode: decodeAlaw, encode: encodeAlaw, level: alawLevel },
] as const;

/** Codes ordered by reconstruction level: neighbours in this order are one quantisation step apart. */
function levelRank(level: (code: number) => number): Map<number, number> {
  const values = [...new Set(Array.from({ length: 256 }, (_, c) => level(c)))].sort((a, b) => a - b);
  return new Map(values.map((v, i) => [v, i]));
}

function sqnrDb(reference: Int16Array, decoded: Int16Array): number {
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < reference.length; i++) {
    signal += reference[i] * reference[i];
    const e = reference[i] - decoded[i];
    noise += e * e;
  }
  return 10 * Math.log10(signal / noise);
}

describe.each(laws)('$name', ({ ext, decode, encode, level }) => {
  it('decodes all 256 code points bit-exactly like sox', () => {
    const reference = readS16(`g711/all-codes.${ext}.s16`);
    expect(Array.from(decode(ALL_CODES))).toEqual(Array.from(reference));
  });

  it.each(SPEECH_CLIPS)('decodes %s bit-exactly like sox', (clip) => {
    const bytes = readBytes(`g711/${clip}.${ext}`);
    const reference = readS16(`g711/${clip}.${ext}.s16`);
    expect(Array.from(decode(bytes))).toEqual(Array.from(reference));
  });

  it.each(SPEECH_CLIPS)('encodes %s within one step of sox, SQNR within 0.5 dB', (clip) => {
    const pcm = readS16(`g711/${clip}.8k.s16`);
    const soxCodes = readBytes(`g711/${clip}.${ext}`);
    const ours = encode(pcm);
    const rank = levelRank(level);
    let worst = 0;
    for (let i = 0; i < pcm.length; i++) {
      const d = Math.abs(rank.get(level(ours[i]))! - rank.get(level(soxCodes[i]))!);
      if (d > worst) worst = d;
    }
    expect(worst).toBeLessThanOrEqual(1);
    const oursDb = sqnrDb(pcm, decode(ours));
    const soxDb = sqnrDb(pcm, decode(soxCodes));
    expect(Math.abs(oursDb - soxDb)).toBeLessThanOrEqual(0.5);
    expect(oursDb).toBeGreaterThan(30);
  });

  it('round-trips every code point (decode then encode gives the same level)', () => {
    const roundTrip = encode(decode(ALL_CODES));
    for (let c = 0; c < 256; c++) expect(level(roundTrip[c])).toBe(level(c));
  });

  it('clamps full-scale input to the outermost levels without wrapping', () => {
    const out = decode(encode(Int16Array.from([32767, -32768, 32000, -32000])));
    expect(out[0]).toBeGreaterThan(30000);
    expect(out[1]).toBeLessThan(-30000);
    expect(out[2]).toBeGreaterThan(30000);
    expect(out[3]).toBeLessThan(-30000);
  });

  it('rejects empty frames with a typed error', () => {
    expect(() => decode(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'GW_ERR_AUDIO_EMPTY_FRAME' }));
    try {
      encode(new Int16Array(0));
      expect.unreachable();
    } catch (err) {
      expect(isGatewayError(err, 'GW_ERR_AUDIO_EMPTY_FRAME')).toBe(true);
    }
  });

  it('writes into a caller-provided buffer when given one', () => {
    const out = new Int16Array(ALL_CODES.length);
    expect(decode(ALL_CODES, out)).toBe(out);
  });
});

describe('G.711 wire facts', () => {
  it('matches the documented anchor codes', () => {
    expect(mulawLevel(0xff)).toBe(0);
    expect(mulawLevel(0x80)).toBe(32124);
    expect(mulawLevel(0x00)).toBe(-32124);
    expect(alawLevel(0xd5)).toBe(8);
    expect(alawLevel(0x55)).toBe(-8);
    expect(encodeMulaw(Int16Array.of(0))[0]).toBe(0xff);
    expect(encodeAlaw(Int16Array.of(0))[0]).toBe(0xd5);
  });
});
