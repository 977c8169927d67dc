/**
 * Frame tags: which call and which frame a 20 ms mu-law frame is, written into the frame itself so a
 * bridge that forwards G.711 untouched (the gateway passes mu-law straight to an OpenAI-style
 * provider; the baseline bridge forwards the base64 as is) carries it to the provider fake and, in
 * the echoed reply, back to the caller. Matching by tag instead of by order is what lets the load
 * generator name exactly which frame was lost, with no assumption that the rest arrived in order.
 *
 * The tag is 45 bits in the least significant bit of the first 45 bytes: one mu-law quantisation
 * step (at most a few percent of a sample's amplitude, inaudible and invisible to a VAD). 45 bytes
 * are exactly 60 base64 characters, so a tagged frame's base64 is 60 fresh characters followed by
 * the untagged frame's own base64 from character 60 on: no per-frame encode of the whole frame.
 *
 * Layout, high bit first: magic (6) | call (14) | seq (20) | check (5). Untagged audio passes the
 * magic and check by chance once in 2^11 frames, and then must also name a frame that was sent.
 */
export const TAG_BYTES = 45;
export const TAG_BASE64_CHARS = 60;
export const MAX_TAG_CALLS = 1 << 14;
export const MAX_TAG_SEQ = 1 << 20;

const MAGIC = 0b101101;

function check(call: number, seq: number): number {
  return (MAGIC + call * 7 + seq * 13 + (seq >>> 5) * 3 + (call >>> 5)) & 31;
}

export interface FrameTag {
  call: number;
  seq: number;
}

/** Write the tag into the LSBs of `out[0..45)`, which must already hold the frame's audio bytes. */
export function writeTag(out: Uint8Array, call: number, seq: number): void {
  if (call < 0 || call >= MAX_TAG_CALLS || seq < 0 || seq >= MAX_TAG_SEQ) throw new RangeError(`tag out of range: call ${String(call)} seq ${String(seq)}`);
  let i = 0;
  const put = (value: number, bits: number) => {
    for (let b = bits - 1; b >= 0; b--, i++) out[i] = (out[i] & 0xfe) | ((value >>> b) & 1);
  };
  // 45 bits do not fit one 32-bit integer: written field by field.
  put(MAGIC, 6);
  put(call, 14);
  put(seq, 20);
  put(check(call, seq), 5);
}

/** Read the tag of the frame starting at `offset`; undefined when the bytes carry none. */
export function readTag(bytes: Uint8Array, offset = 0): FrameTag | undefined {
  if (bytes.length - offset < TAG_BYTES) return undefined;
  let i = offset;
  const take = (bits: number) => {
    let v = 0;
    for (let b = 0; b < bits; b++, i++) v = (v << 1) | (bytes[i] & 1);
    return v;
  };
  if (take(6) !== MAGIC) return undefined;
  const call = take(14);
  const seq = take(20);
  const c = take(5);
  return c === check(call, seq) ? { call, seq } : undefined;
}

/** The tag of a base64 payload's first frame, decoding only its first 60 characters. */
export function readTagBase64(payload: string): FrameTag | undefined {
  if (payload.length < TAG_BASE64_CHARS) return undefined;
  return readTag(Buffer.from(payload.slice(0, TAG_BASE64_CHARS), 'base64'));
}

/**
 * Per-frame tagged base64 for one audio frame, reusing a scratch buffer: 45 bytes tagged and encoded,
 * then the frame's precomputed base64 tail.
 */
export class TagWriter {
  readonly #scratch = Buffer.alloc(TAG_BYTES);

  payload(frame: Uint8Array, base64Tail: string, call: number, seq: number): string {
    this.#scratch.set(frame.subarray(0, TAG_BYTES));
    writeTag(this.#scratch, call, seq);
    return this.#scratch.toString('base64') + base64Tail;
  }
}
