/**
 * Inbound RTP reorder and loss buffer: `push(packet) -> ready items`, in sequence order, with each
 * run of missing packets turned into one `lost` item the decoder conceals (Opus PLC).
 *
 * Driven by arrivals, not by a playout clock: the gateway does not play audio, it feeds a call graph
 * that keeps its own sample clock, so in-order packets pass straight through with no added delay.
 * Only a gap holds packets back, and only until `waitPackets` newer ones have arrived (60 ms at the
 * default 3 x 20 ms): by then the missing packet is lost or too late to matter, and a packet that
 * still arrives after it was given up is dropped as late. Pure and synchronous; no timers.
 *
 * Sequence numbers are 16-bit and wrap; they are extended to a running count. RTP timestamps give
 * the size of a loss (timestamp of the packet after the gap minus where the last one ended), so
 * concealment keeps the caller's media clock right even when packet durations vary. A jump too large
 * to be loss or reordering (a sender restart) resynchronises instead of concealing seconds of audio,
 * but only once the packet after it confirms it, as RFC 3550 appendix A.1 does (`bad_seq`): a single
 * packet far behind is a very late one, dropped, not a restart that would replay old audio.
 */

export interface RtpIn {
  /** 16-bit RTP sequence number. */
  readonly seq: number;
  /** 32-bit RTP timestamp (48 kHz for Opus). */
  readonly timestamp: number;
  readonly payload: Uint8Array;
}

export type JitterItem =
  | { readonly kind: 'packet'; readonly payload: Uint8Array; readonly timestamp: number }
  /** `packets` consecutive packets never arrived; conceal `samples` of audio in their place. */
  | { readonly kind: 'lost'; readonly packets: number; readonly samples: number };

export interface JitterStats {
  received: number;
  released: number;
  /** Packets given up as lost (concealed). */
  lost: number;
  concealedSamples: number;
  /** Arrived after their slot was released or given up. */
  late: number;
  duplicates: number;
  /** Released in order although they arrived after a later packet. */
  reordered: number;
  /** Sequence or timestamp jumps too large to be loss. */
  resyncs: number;
  /** Packets held now, and the most ever held. */
  depth: number;
  maxDepth: number;
}

export interface JitterBufferOptions {
  /** Newer packets that must arrive before a missing one is given up. */
  readonly waitPackets?: number;
  /** Samples a payload decodes to (for Opus: opusPacketSamples). */
  readonly samplesOf: (payload: Uint8Array) => number;
  /** Longest loss concealed; a bigger gap resynchronises. Samples at the RTP clock. */
  readonly maxConcealSamples?: number;
}

/** Slots in the ring: packets held at most; a jump beyond it resynchronises. A power of two. */
const RING = 64;
const MASK = RING - 1;
/** Ahead of the highest sequence number seen, a jump up to this is loss (RFC 3550 A.1 MAX_DROPOUT). */
const MAX_DROPOUT = 3000;

interface Slot {
  ext: number;
  packet: RtpIn;
  /** Arrived while a later sequence number had already been seen. */
  reordered: boolean;
}

export class JitterBuffer {
  readonly #waitPackets: number;
  readonly #samplesOf: (payload: Uint8Array) => number;
  readonly #maxConceal: number;
  readonly #ring: (Slot | undefined)[] = new Array<Slot | undefined>(RING).fill(undefined);
  /** Extended sequence number of the next packet to release; -1 before the first packet. */
  #next = -1;
  /** Highest extended sequence number seen. */
  #highest = -1;
  /** RTP timestamp where the last released audio ends, if known. */
  #endTimestamp: number | undefined;
  #lastSamples = 960;
  /** After a far jump, the sequence number that would confirm it (RFC 3550 A.1 bad_seq); -1: none. */
  #badSeq = -1;
  readonly #stats: JitterStats = { received: 0, released: 0, lost: 0, concealedSamples: 0, late: 0, duplicates: 0, reordered: 0, resyncs: 0, depth: 0, maxDepth: 0 };

  constructor(opts: JitterBufferOptions) {
    this.#waitPackets = Math.min(opts.waitPackets ?? 3, RING - 1);
    this.#samplesOf = opts.samplesOf;
    this.#maxConceal = opts.maxConcealSamples ?? 48000 / 5; // 200 ms
  }

  /** Take one packet; returns what can be released now, in order. */
  push(packet: RtpIn): JitterItem[] {
    this.#stats.received++;
    const out: JitterItem[] = [];
    if (this.#next < 0) {
      this.#next = packet.seq;
      this.#highest = packet.seq;
    }
    const ext = this.#extend(packet.seq);
    if (ext < this.#next) {
      // Already released or given up: late, unless it is far back and the packet before it was too,
      // one after the other (a restarted sender).
      if (this.#highest - ext <= RING || !this.#confirmsJump(ext)) {
        this.#stats.late++;
        return out;
      }
      this.#resync(ext, out);
    } else if (ext - this.#highest > MAX_DROPOUT) {
      // Too far ahead to be loss: a restart once the next packet follows it; dropped until then.
      if (!this.#confirmsJump(ext)) {
        this.#stats.late++;
        return out;
      }
      this.#resync(ext, out);
    } else if (ext - this.#next >= RING) {
      // Loss longer than the ring holds: release what we have, then go on from this packet.
      this.#resync(ext, out);
    }
    const index = ext & MASK;
    const held = this.#ring[index];
    if (held !== undefined && held.ext === ext) {
      this.#stats.duplicates++;
      return out;
    }
    this.#ring[index] = { ext, packet, reordered: ext < this.#highest };
    if (ext > this.#highest) this.#highest = ext;
    this.#stats.depth++;
    if (this.#stats.depth > this.#stats.maxDepth) this.#stats.maxDepth = this.#stats.depth;
    this.#drain(out, false);
    return out;
  }

  /** Release everything held (the stream ended), concealing gaps between held packets. */
  flush(): JitterItem[] {
    const out: JitterItem[] = [];
    this.#drain(out, true);
    return out;
  }

  stats(): JitterStats {
    return { ...this.#stats };
  }

  /** Unwrap a 16-bit sequence number to the extended value nearest the highest seen. */
  #extend(seq: number): number {
    const base = this.#highest;
    let ext = (base & ~0xffff) | seq;
    if (ext - base > 0x8000) ext -= 0x10000;
    else if (base - ext > 0x8000) ext += 0x10000;
    return ext;
  }

  #drain(out: JitterItem[], all: boolean): void {
    for (;;) {
      const slot = this.#ring[this.#next & MASK];
      if (slot !== undefined && slot.ext === this.#next) {
        this.#release(slot, out);
        continue;
      }
      // A gap: give it up once enough newer packets wait behind it (or when flushing).
      if (this.#stats.depth === 0 || (!all && this.#highest - this.#next < this.#waitPackets)) return;
      let first = this.#next + 1;
      while (this.#ring[first & MASK]?.ext !== first) first++;
      this.#conceal(first - this.#next, this.#ring[first & MASK]!.packet.timestamp, out);
      this.#next = first;
    }
  }

  #release(slot: Slot, out: JitterItem[]): void {
    const { packet } = slot;
    this.#ring[slot.ext & MASK] = undefined;
    this.#stats.depth--;
    this.#stats.released++;
    if (slot.reordered) this.#stats.reordered++;
    this.#next = slot.ext + 1;
    const samples = this.#samplesOf(packet.payload);
    if (samples > 0) this.#lastSamples = samples;
    this.#endTimestamp = (packet.timestamp + (samples > 0 ? samples : this.#lastSamples)) >>> 0;
    out.push({ kind: 'packet', payload: packet.payload, timestamp: packet.timestamp });
  }

  /** `packets` are missing before a packet stamped `nextTimestamp`. */
  #conceal(packets: number, nextTimestamp: number, out: JitterItem[]): void {
    let samples = packets * this.#lastSamples;
    if (this.#endTimestamp !== undefined) {
      // Signed 32-bit difference: timestamps wrap too.
      const gap = (nextTimestamp - this.#endTimestamp) | 0;
      if (gap > 0) samples = gap;
    }
    this.#stats.lost += packets;
    if (samples > this.#maxConceal) {
      // Not worth synthesising: hand over the next real audio and let the media clock jump.
      this.#stats.resyncs++;
      this.#endTimestamp = undefined;
      return;
    }
    this.#stats.concealedSamples += samples;
    out.push({ kind: 'lost', packets, samples });
  }

  /** True when `ext` follows the last far jump's packet (RFC 3550 A.1): then it is a restart. */
  #confirmsJump(ext: number): boolean {
    if (ext === this.#badSeq) {
      this.#badSeq = -1;
      return true;
    }
    this.#badSeq = ext + 1;
    return false;
  }

  #resync(ext: number, out: JitterItem[]): void {
    this.#drain(out, true);
    this.#ring.fill(undefined);
    this.#stats.depth = 0;
    this.#stats.resyncs++;
    this.#next = ext;
    this.#highest = ext;
    this.#endTimestamp = undefined;
  }
}
