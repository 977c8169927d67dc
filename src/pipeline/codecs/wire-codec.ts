/** Decode/encode by wire codec name, so stages pick a codec once and call one function per frame. */
import type { AudioFormat, WireCodec, WireFormat } from '../frame.js';
import { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw } from './g711.js';
import { decodeL16, encodeL16 } from './l16.js';
import { GatewayError } from '../../errors.js';
import { allocBytes, allocSamples } from '../alloc.js';

function decodePcm16(bytes: Uint8Array): Int16Array {
  if (bytes.length === 0) throw new GatewayError('GW_ERR_AUDIO_EMPTY_FRAME', 'PCM16 payload');
  if (bytes.length % 2 !== 0) throw new GatewayError('GW_ERR_AUDIO_ODD_LENGTH', `PCM16 payload of ${String(bytes.length)} bytes`);
  const out = allocSamples(bytes.length >> 1);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}

function encodePcm16(pcm: Int16Array): Uint8Array {
  const out = allocBytes(pcm.byteLength);
  out.set(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength));
  return out;
}

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
  pcm16: { decode: decodePcm16, encode: encodePcm16, bytesPerSample: 2, silenceByte: 0 },
};

export function pcmCodec(codec: WireCodec): PcmCodec {
  return CODECS[codec];
}

/** The PCM format a wire format decodes to: same rate, L16 becomes pcm16, G.711 stays itself. */
export function pcmFormatOf(format: WireFormat): AudioFormat {
  return { codec: format.codec === 'l16' ? 'pcm16' : format.codec, sampleRate: format.sampleRate };
}
