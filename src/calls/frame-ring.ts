/**
 * The caller audio a provider has not yet been seen to accept, in arrival order, with turn-end
 * markers in the same sequence (so a replay re-asks the turn exactly where it ended). A turn counts as
 * accepted when the provider has finished answering it; until then its frames stay here so a failover
 * can replay them to the next provider. Power-of-two ring: past capacity the oldest entry is
 * overwritten and counted, which bounds memory per call.
 *
 * Memory (issue 16): the ring copies each payload into 8 KiB chunks the call owns and keeps a
 * frame's numbers in one Float64Array, so it holds no object per frame. Holding the caller's own
 * frames cost three objects per frame (entry, frame, Buffer view) that lived long enough to be
 * promoted to the old generation, and each view was a slice of Node's shared 8 KiB Buffer pool
 * (`Buffer.from(base64)`): one retained 160-byte frame kept a whole slab alive, and slabs interleave
 * every call's frames. Chunks are all one size and go back to the process's ChunkPool (chunk-pool.ts,
 * passed in) when the audio in them is accepted, so a call's long turn neither reallocates nor
 * fragments the native heap (an earlier version grew one contiguous arena by doubling: it saved
 * old-generation pages but malloc's heap grew by as much). A replay (a failover, rare) gets
 * exact-size copies.
 */
import type { WireFrame } from '../pipeline/stages.js';
import type { TurnInfo } from '../providers/types.js';
import { ChunkPool } from './chunk-pool.js';

export { RING_CHUNK_BYTES } from './chunk-pool.js';

export type RingEntry = { kind: 'frame'; frame: WireFrame } | { kind: 'turnEnd'; turn: TurnInfo; afterSeq: number };

type TurnEnd = Extract<RingEntry, { kind: 'turnEnd' }>;

/** Slots allocated up front (50 are kept while nobody speaks, see call.ts IDLE_KEEP_FRAMES). */
const MIN_SLOTS = 64;
/** Numbers per slot: seq (turn end: afterSeq), timestampMs, receivedAtMs, chunk number (-1: a turn end), offset, length. */
const FIELDS = 6;
const SEQ = 0;
const TIMESTAMP = 1;
const RECEIVED = 2;
const CHUNK = 3;
const OFFSET = 4;
const LENGTH = 5;

export class FrameRing {
  readonly #capacity: number;
  /** One slot per entry, oldest at #head; a power-of-two count so an index wraps with a mask. */
  #slots: Float64Array;
  #mask: number;
  #head = 0;
  #size = 0;
  #dropped = 0;
  /** Turn-end markers in ring order (entries leave the ring oldest first, so this is a queue). */
  readonly #turnEnds: TurnEnd[] = [];
  /** Chunks holding frame bytes, oldest first; #chunks[i] is chunk number #firstChunk + i. */
  readonly #chunks: Uint8Array[] = [];
  #firstChunk = 0;
  /** Where the next frame's bytes go in the newest chunk. */
  #tailOffset = 0;
  readonly #pool: ChunkPool;

  /** @param pool where chunks come from and go back to: the process's, else one of the ring's own. */
  constructor(capacity: number, pool: ChunkPool = new ChunkPool()) {
    this.#pool = pool;
    let cap = 1;
    while (cap < capacity) cap <<= 1;
    this.#capacity = cap;
    const slots = Math.min(cap, MIN_SLOTS);
    this.#slots = new Float64Array(slots * FIELDS);
    this.#mask = slots - 1;
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

  /** Bytes the ring holds for payloads and per-entry numbers (for the memory bench and tests). */
  get allocatedBytes(): number {
    return this.#slots.byteLength + this.#chunks.reduce((n, c) => n + c.byteLength, 0);
  }

  /** Keeps a copy of a frame's bytes and numbers, never the frame or its payload's buffer. */
  push(entry: RingEntry): void {
    if (this.#size === this.#capacity) {
      this.#shift();
      this.#dropped++;
      this.#releaseChunks();
    } else if (this.#size === this.#mask + 1) this.#resize((this.#mask + 1) * 2);
    const s = ((this.#head + this.#size) & this.#mask) * FIELDS;
    const slots = this.#slots;
    if (entry.kind === 'turnEnd') {
      slots[s + SEQ] = entry.afterSeq;
      slots[s + CHUNK] = -1;
      this.#turnEnds.push(entry);
    } else {
      const { payload, seq, timestampMs, receivedAtMs } = entry.frame;
      const n = payload.length;
      let last = this.#chunks.length - 1;
      if (last < 0 || this.#tailOffset + n > this.#chunks[last]!.length) {
        this.#chunks.push(this.#pool.take(n));
        this.#tailOffset = 0;
        last++;
      }
      this.#chunks[last]!.set(payload, this.#tailOffset);
      slots[s + SEQ] = seq;
      slots[s + TIMESTAMP] = timestampMs;
      slots[s + RECEIVED] = receivedAtMs;
      slots[s + CHUNK] = this.#firstChunk + last;
      slots[s + OFFSET] = this.#tailOffset;
      slots[s + LENGTH] = n;
      this.#tailOffset += n;
    }
    this.#size++;
  }

  /** The provider finished answering the oldest pending turn: drop it and the audio before it. */
  acceptOldestTurn(): number {
    let n = 0;
    while (this.#size > 0) {
      n++;
      if (this.#shift()) break;
    }
    this.#releaseChunks();
    this.#shrinkIfSparse();
    return n;
  }

  /** Drop frames older than `keep` entries while no turn is pending (silence between turns). */
  trimIdle(keep: number): void {
    while (this.#size > keep && this.#slots[this.#head * FIELDS + CHUNK]! >= 0) this.#shift();
    this.#releaseChunks();
    this.#shrinkIfSparse();
  }

  /** Oldest first; entries from `fromSeq` on when given (turn ends after a frame of that seq or later). */
  entries(fromSeq = -Infinity): RingEntry[] {
    const out: RingEntry[] = [];
    const slots = this.#slots;
    let turn = 0;
    for (let i = 0; i < this.#size; i++) {
      const s = ((this.#head + i) & this.#mask) * FIELDS;
      if (slots[s + CHUNK]! < 0) {
        const e = this.#turnEnds[turn++]!;
        if (e.afterSeq + 0.5 >= fromSeq) out.push(e);
      } else if (slots[s + SEQ]! >= fromSeq) {
        const chunk = this.#chunks[slots[s + CHUNK]! - this.#firstChunk]!;
        const at = slots[s + OFFSET]!;
        out.push({
          kind: 'frame',
          frame: { payload: chunk.slice(at, at + slots[s + LENGTH]!), seq: slots[s + SEQ]!, timestampMs: slots[s + TIMESTAMP]!, receivedAtMs: slots[s + RECEIVED]! },
        });
      }
    }
    return out;
  }

  /** Removes the oldest entry; true when it was a turn end. Its chunk is released by #releaseChunks. */
  #shift(): boolean {
    const turnEnd = this.#slots[this.#head * FIELDS + CHUNK]! < 0;
    if (turnEnd) this.#turnEnds.shift();
    this.#head = (this.#head + 1) & this.#mask;
    this.#size--;
    return turnEnd;
  }

  /** Gives back every chunk older than the oldest frame still held (all of them when none is). */
  #releaseChunks(): void {
    let keepFrom = this.#firstChunk + this.#chunks.length; // no frame left: release all
    for (let i = 0; i < this.#size; i++) {
      const chunk = this.#slots[((this.#head + i) & this.#mask) * FIELDS + CHUNK]!;
      if (chunk >= 0) {
        keepFrom = chunk;
        break;
      }
    }
    while (this.#firstChunk < keepFrom) {
      this.#pool.release(this.#chunks.shift()!);
      this.#firstChunk++;
    }
    if (this.#chunks.length === 0) this.#tailOffset = 0;
  }

  /** After a long turn is accepted the slot table gives back what it grew to hold it. */
  #shrinkIfSparse(): void {
    let slots = this.#mask + 1;
    if (slots <= MIN_SLOTS || this.#size * 4 > slots) return;
    while (slots > MIN_SLOTS && this.#size * 4 <= slots) slots >>= 1;
    this.#resize(slots);
  }

  /** Re-lays the live slots from index 0 into a table of `slots` entries (a power of two). */
  #resize(slots: number): void {
    const next = new Float64Array(slots * FIELDS);
    for (let i = 0; i < this.#size; i++) {
      const from = ((this.#head + i) & this.#mask) * FIELDS;
      next.set(this.#slots.subarray(from, from + FIELDS), i * FIELDS);
    }
    this.#slots = next;
    this.#mask = slots - 1;
    this.#head = 0;
  }
}
