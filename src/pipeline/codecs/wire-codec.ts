/** Decode/encode by wire codec name, so stages pick a codec once and call one function per frame. */
import type { WireCodec } from '../frame.js';
import { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw } from './g711.js';
import { decodeL16, encodeL16 } from './l16.js';

export interface PcmCodec {
  decode(bytes: Uint8Array): Int16Array;
  encode(pcm: Int16Array): Uint8Array;
  /** Bytes one sample takes on the wire. */
  readonly bytesPerSample: number;
  /** The byte value of silence, for padding (undefined where silence is not one repeated byte). */
  readonly silenceByte: number;
}

const CODECS: Record<WireCodec, PcmCodec> = {
  mulaw: { decode: (b) => decodeMulaw(b), encode: (p) => encodeMulaw(p), bytesPerSample: 1, silenceByte: 0xff },
  alaw: { decode: (b) => decodeAlaw(b), encode: (p) => encodeAlaw(p), bytesPerSample: 1, silenceByte: 0xd5 },
  l16: { decode: decodeL16, encode: encodeL16, bytesPerSample: 2, silenceByte: 0 },
};

export function pcmCodec(codec: WireCodec): PcmCodec {
  return CODECS[codec];
}
