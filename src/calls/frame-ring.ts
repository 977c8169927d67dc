/**
 * The caller audio a provider has not yet been seen to accept, in arrival order, with turn-end
 * markers in the same sequence (so a replay re-asks the turn exactly where it ended). A turn counts as
 * accepted when the provider has finished answering it; until then its frames stay here so a failover
 * can replay them to the next provider. Power-of-two ring: past capacity the oldest entry is
 * overwritten and counted, which bounds memory per call.
 *
 * Memory (issue 16): the ring copies each payload into one per-call byte arena and keeps a frame's
 * numbers in typed arrays, so it holds no object per frame. Holding the caller's own frames cost
 * three objects per frame (entry, frame, Buffer view) that lived long enough to be promoted to the
 * old generation, and each view was a slice of Node's shared 8 KiB Buffer pool (`Buffer.from(base64)`):
 * one retained 160-byte frame kept a whole slab alive, and slabs interleave every call's frames, so
 * the ring pinned ~8 KiB per frame it held. Arena and slot arrays grow by doubling as a turn gets
 * long and shrink again once its audio is accepted. A replay (a failover, rare) gets fresh objects
 * with exact-size copies of the bytes.
 */
import type { WireFrame } from '../pipeline/stages.js';
import type { TurnInfo } from '../providers/types.js';

export type RingEntry = { kind: 'frame'; frame: WireFrame } | { kind: 'turnEnd'; turn: TurnInfo; afterSeq: number };

type TurnEnd = Extract<RingEntry, { kind: 'turnEnd' }>;

/** Slots allocated up front (50 are kept while nobody speaks, see call.ts IDLE_KEEP_FRAMES). */
const MIN_SLOTS = 64;
/** Arena bytes allocated up front: 64 G.711 frames of 20 ms. */
const MIN_BYTES = 64 * 160;
const KIND_FRAME = 0;
const KIND_TURN_END = 1;

export class FrameRing {
  readonly #capacity: number;
  // One slot per entry, oldest at #head; a power-of-two count so an index wraps with a mask.
  #mask: number;
  #kind: Uint8Array;
  #seq: Float64Array;
  #timestampMs: Float64Array;
  #receivedAtMs: Float64Array;
  /** A frame's bytes: offset into #bytes and length (they may wrap past the arena's end). */
  #offset: Uint32Array;
  #length: Uint32Array;
  /** Turn-end markers in ring order (entries leave the ring oldest first, so this is a queue). */
  #turnEnds: TurnEnd[] = [];
  #bytes: Uint8Array;
  #byteHead = 0;
  #byteUsed = 0;
  #head = 0; // slot index of the oldest entry
  #size = 0;
  #dropped = 0;

  constructor(capacity: number) {
    let cap = 1;
    while (cap < capacity) cap <<= 1;
    this.#capacity = cap;
    const slots = Math.min(cap, MIN_SLOTS);
    this.#mask = slots - 1;
    this.#kind = new Uint8Array(slots);
    this.#seq = new Float64Array(slots);
    this.#timestampMs = new Float64Array(slots);
    this.#receivedAtMs = new Float64Array(slots);
    this.#offset = new Uint32Array(slots);
    this.#length = new Uint32Array(slots);
    this.#bytes = new Uint8Array(MIN_BYTES);
  }

  get size(): number {
    return this.#size;
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Entries overwritten because the ring was full (lost for replay, counted). */
  get dropped(): number {
    return this.#dropped;
  }

  get pendingTurns(): number {
    return this.#turnEnds.length;
  }

  /** Bytes the ring has allocated for payloads and per-entry numbers (for the memory bench and tests). */
  get allocatedBytes(): number {
    return this.#bytes.byteLength + (this.#mask + 1) * 33;
  }

  /** Keeps a copy of a frame's bytes and numbers, never the frame or its payload's buffer. */
  push(entry: RingEntry): void {
    if (this.#size === this.#capacity) {
      this.#shift();
      this.#dropped++;
    } else if (this.#size === this.#mask + 1) this.#resize(this.#size * 2, this.#bytes.length);
    if (entry.kind === 'turnEnd') {
      const slot = (this.#head + this.#size) & this.#mask;
      this.#kind[slot] = KIND_TURN_END;
      this.#seq[slot] = entry.afterSeq;
      this.#length[slot] = 0;
      this.#turnEnds.push(entry);
    } else {
      const { payload, seq, timestampMs, receivedAtMs } = entry.frame;
      const n = payload.length;
      if (this.#byteUsed + n > this.#bytes.length) this.#resize(this.#mask + 1, Math.max(this.#bytes.length * 2, this.#byteUsed + n));
      const slot = (this.#head + this.#size) & this.#mask; // after a resize, which moves the head
      const cap = this.#bytes.length;
      let at = this.#byteHead + this.#byteUsed;
      if (at >= cap) at -= cap;
      const first = Math.min(n, cap - at);
      this.#bytes.set(first === n ? payload : payload.subarray(0, first), at);
      if (first < n) this.#bytes.set(payload.subarray(first), 0);
      this.#byteUsed += n;
      this.#kind[slot] = KIND_FRAME;
      this.#seq[slot] = seq;
      this.#timestampMs[slot] = timestampMs;
      this.#receivedAtMs[slot] = receivedAtMs;
      this.#offset[slot] = at;
      this.#length[slot] = n;
    }
    this.#size++;
  }

  /** The provider finished answering the oldest pending turn: drop it and the audio before it. */
  acceptOldestTurn(): number {
    let n = 0;
    while (this.#size > 0) {
      n++;
      if (this.#shift() === KIND_TURN_END) break;
    }
    this.#shrinkIfSparse();
    return n;
  }

  /** Drop frames older than `keep` entries while no turn is pending (silence between turns). */
  trimIdle(keep: number): void {
    while (this.#size > keep && this.#kind[this.#head] !== KIND_TURN_END) this.#shift();
    this.#shrinkIfSparse();
  }

  /** Oldest first; entries from `fromSeq` on when given (turn ends after a frame of that seq or later). */
  entries(fromSeq = -Infinity): RingEntry[] {
    const out: RingEntry[] = [];
    let turn = 0;
    for (let i = 0; i < this.#size; i++) {
      const slot = (this.#head + i) & this.#mask;
      if (this.#kind[slot] === KIND_TURN_END) {
        const e = this.#turnEnds[turn++]!;
        if (e.afterSeq + 0.5 >= fromSeq) out.push(e);
      } else if (this.#seq[slot]! >= fromSeq) {
        out.push({
          kind: 'frame',
          frame: { payload: this.#copyOut(slot), seq: this.#seq[slot]!, timestampMs: this.#timestampMs[slot]!, receivedAtMs: this.#receivedAtMs[slot]! },
        });
      }
    }
    return out;
  }

  /** Removes the oldest entry; returns its kind. */
  #shift(): number {
    const slot = this.#head;
    const kind = this.#kind[slot]!;
    if (kind === KIND_TURN_END) this.#turnEnds.shift();
    else {
      const n = this.#length[slot]!;
      this.#byteUsed -= n;
      this.#byteHead = this.#byteUsed === 0 ? 0 : (this.#byteHead + n) % this.#bytes.length;
    }
    this.#head = (this.#head + 1) & this.#mask;
    this.#size--;
    return kind;
  }

  #copyOut(slot: number): Uint8Array {
    const at = this.#offset[slot]!;
    const n = this.#length[slot]!;
    const cap = this.#bytes.length;
    if (at + n <= cap) return this.#bytes.slice(at, at + n);
    const out = new Uint8Array(n);
    out.set(this.#bytes.subarray(at));
    out.set(this.#bytes.subarray(0, n - (cap - at)), cap - at);
    return out;
  }

  /** After a long turn is accepted the arena and slots give back what they grew to hold it. */
  #shrinkIfSparse(): void {
    const slots = this.#mask + 1;
    const bytes = this.#bytes.length;
    const fewerSlots = slots > MIN_SLOTS && this.#size * 4 <= slots;
    const fewerBytes = bytes > MIN_BYTES && this.#byteUsed * 4 <= bytes;
    if (!fewerSlots && !fewerBytes) return;
    let nextSlots = slots;
    while (fewerSlots && nextSlots > MIN_SLOTS && this.#size * 4 <= nextSlots) nextSlots >>= 1;
    this.#resize(nextSlots, fewerBytes ? Math.max(MIN_BYTES, this.#byteUsed * 2) : bytes);
  }

  /** Re-lays the live entries from index 0 into arrays of the given sizes (slots: a power of two). */
  #resize(slots: number, bytes: number): void {
    const kind = new Uint8Array(slots);
    const seq = new Float64Array(slots);
    const timestampMs = new Float64Array(slots);
    const receivedAtMs = new Float64Array(slots);
    const offset = new Uint32Array(slots);
    const length = new Uint32Array(slots);
    const arena = bytes === this.#bytes.length && this.#byteHead === 0 ? this.#bytes : new Uint8Array(bytes);
    let at = 0;
    for (let i = 0; i < this.#size; i++) {
      const slot = (this.#head + i) & this.#mask;
      kind[i] = this.#kind[slot]!;
      seq[i] = this.#seq[slot]!;
      timestampMs[i] = this.#timestampMs[slot]!;
      receivedAtMs[i] = this.#receivedAtMs[slot]!;
      const n = this.#length[slot]!;
      length[i] = n;
      offset[i] = at;
      if (n > 0 && arena !== this.#bytes) arena.set(this.#copyView(slot), at);
      at += n;
    }
    this.#kind = kind;
    this.#seq = seq;
    this.#timestampMs = timestampMs;
    this.#receivedAtMs = receivedAtMs;
    this.#offset = offset;
    this.#length = length;
    this.#bytes = arena;
    this.#mask = slots - 1;
    this.#head = 0;
    this.#byteHead = 0;
  }

  /** A frame's bytes without copying when they do not wrap (only for re-laying them). */
  #copyView(slot: number): Uint8Array {
    const at = this.#offset[slot]!;
    const n = this.#length[slot]!;
    return at + n <= this.#bytes.length ? this.#bytes.subarray(at, at + n) : this.#copyOut(slot);
  }
}
