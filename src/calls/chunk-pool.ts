/**
 * Fixed-size byte chunks for the calls' replay rings (frame-ring.ts) and egress queues
 * (byte-queue.ts), shared by every call of the process: one is made in `gateway.ts` and passed down
 * (call manager -> call -> failover session -> turn ledger -> ring; call -> egress). A ring or queue
 * copies audio into chunks it takes from here and gives them back when the audio in them is done
 * with, so neither a long turn nor a long reply reallocates or fragments the native heap, and a call
 * that ends leaves its chunks to the next one. One made without a pool (tests, tools) gets its own.
 */

/** 51 G.711 frames or 12 L16 16 kHz frames of 20 ms; the size of Node's Buffer pool slab. */
export const RING_CHUNK_BYTES = 8192;
/** Free chunks kept for reuse (2 MiB); beyond that a released chunk is left to the GC. */
const DEFAULT_MAX_FREE = 256;

export class ChunkPool {
  readonly #free: Uint8Array[] = [];
  readonly #maxFree: number;

  constructor(opts: { maxFree?: number } = {}) {
    this.#maxFree = opts.maxFree ?? DEFAULT_MAX_FREE;
  }

  /** Chunks waiting for reuse. */
  get free(): number {
    return this.#free.length;
  }

  /** A chunk of RING_CHUNK_BYTES, or an exact-size one of its own for a frame bigger than that. */
  take(bytes: number): Uint8Array {
    if (bytes > RING_CHUNK_BYTES) return new Uint8Array(bytes);
    return this.#free.pop() ?? new Uint8Array(RING_CHUNK_BYTES);
  }

  /** Give a chunk back; only standard chunks are kept, up to the bound. */
  release(chunk: Uint8Array): void {
    if (chunk.length === RING_CHUNK_BYTES && this.#free.length < this.#maxFree) this.#free.push(chunk);
  }
}
