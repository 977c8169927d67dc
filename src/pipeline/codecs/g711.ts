/**
 * G.711 mu-law and A-law by lookup tables.
 *
 * Decoding uses the 256-entry tables of ITU-T G.711 (bit-exact with every reference decoder).
 * Encoding uses a 65,536-entry table indexed by the 16-bit sample: each entry holds the code whose
 * reconstruction level is nearest to the sample, i.e. the encoder rounds like sox rather than
 * truncating like the Sun/CCITT reference code (both are valid G.711; rounding gives ~0.1 dB more
 * SQNR). A 64 KiB table per law trades memory for a single load per sample on the hot path.
 */
import { GatewayError } from '../../errors.js';
import { allocBytes, allocSamples } from '../alloc.js';

function buildMulawDecodeTable(): Int16Array {
  const table = new Int16Array(256);
  for (let code = 0; code < 256; code++) {
    const u = ~code & 0xff;
    const exponent = (u >> 4) & 0x07;
    const mantissa = u & 0x0f;
    const magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    table[code] = (u & 0x80) !== 0 ? -magnitude : magnitude;
  }
  return table;
}

function buildAlawDecodeTable(): Int16Array {
  const table = new Int16Array(256);
  for (let code = 0; code < 256; code++) {
    const a = code ^ 0x55;
    const segment = (a & 0x70) >> 4;
    let magnitude = (a & 0x0f) << 4;
    if (segment === 0) magnitude += 8;
    else magnitude = (magnitude + 0x108) << (segment - 1);
    table[code] = (a & 0x80) !== 0 ? magnitude : -magnitude;
  }
  return table;
}

/**
 * For every 16-bit value, the code with the nearest reconstruction level. `preferPositiveZero`
 * resolves mu-law's two zero codes (0xFF = +0, 0x7F = -0) to +0 for non-negative input.
 */
function buildEncodeTable(decode: Int16Array, zeroCodeFor: (x: number) => number | undefined): Uint8Array {
  const levels = Array.from(decode, (value, code) => ({ value, code })).sort((a, b) => a.value - b.value);
  const table = new Uint8Array(65536);
  let i = 0;
  for (let x = -32768; x <= 32767; x++) {
    while (i + 1 < levels.length && Math.abs(levels[i + 1].value - x) <= Math.abs(levels[i].value - x)) i++;
    const zero = levels[i].value === 0 ? zeroCodeFor(x) : undefined;
    table[x & 0xffff] = zero ?? levels[i].code;
  }
  return table;
}

const MULAW_DECODE = buildMulawDecodeTable();
const ALAW_DECODE = buildAlawDecodeTable();
const MULAW_ENCODE = buildEncodeTable(MULAW_DECODE, (x) => (x < 0 ? 0x7f : 0xff));
const ALAW_ENCODE = buildEncodeTable(ALAW_DECODE, () => undefined);

/** Silence codes, for padding and comfort frames. */
export const MULAW_SILENCE = 0xff;
export const ALAW_SILENCE = 0xd5;

function checkInput(input: ArrayLike<number>, what: string): void {
  if (input.length === 0) throw new GatewayError('GW_ERR_AUDIO_EMPTY_FRAME', what);
}

function decodeWith(table: Int16Array, bytes: Uint8Array, out?: Int16Array): Int16Array {
  const n = bytes.length;
  const pcm = out ?? allocSamples(n);
  for (let i = 0; i < n; i++) pcm[i] = table[bytes[i]];
  return pcm;
}

function encodeWith(table: Uint8Array, pcm: Int16Array, out?: Uint8Array): Uint8Array {
  const n = pcm.length;
  const bytes = out ?? allocBytes(n);
  for (let i = 0; i < n; i++) bytes[i] = table[pcm[i] & 0xffff];
  return bytes;
}

/** Decode mu-law bytes to PCM16. `out`, when given, must hold `bytes.length` samples. */
export function decodeMulaw(bytes: Uint8Array, out?: Int16Array): Int16Array {
  checkInput(bytes, 'mu-law payload');
  return decodeWith(MULAW_DECODE, bytes, out);
}

export function encodeMulaw(pcm: Int16Array, out?: Uint8Array): Uint8Array {
  checkInput(pcm, 'PCM16 input to the mu-law encoder');
  return encodeWith(MULAW_ENCODE, pcm, out);
}

export function decodeAlaw(bytes: Uint8Array, out?: Int16Array): Int16Array {
  checkInput(bytes, 'A-law payload');
  return decodeWith(ALAW_DECODE, bytes, out);
}

export function encodeAlaw(pcm: Int16Array, out?: Uint8Array): Uint8Array {
  checkInput(pcm, 'PCM16 input to the A-law encoder');
  return encodeWith(ALAW_ENCODE, pcm, out);
}

/** The reconstruction level of each code, for tests and tools that reason about quantisation. */
export function mulawLevel(code: number): number {
  return MULAW_DECODE[code & 0xff];
}

export function alawLevel(code: number): number {
  return ALAW_DECODE[code & 0xff];
}
