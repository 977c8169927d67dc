/**
 * A FIFO of bytes kept in the process's fixed-size chunks (chunk-pool.ts): what a call's egress holds
 * of a reply until each frame's time comes (issue 16).
 *
 * Why not keep the provider's buffers: a reply arrives faster than real time and is played out over
 * seconds, so whatever holds it lives through two scavenges and is promoted to the old generation.
 * Views into the provider's decoded deltas (plus an object per frame) made every reply old-space
 * garbage whose native backing stores only a mark-compact frees, and V8 waits for tens of MB of such
 * external memory before it runs one: at 100 calls that was most of the resident memory per call.
 * Copied here, a delta dies young, and the chunks go back to the pool for the next reply.
 *
 * `shift` hands out the bytes without copying when they lie in one chunk (a view, which dies young),
 * else copies them into a scratch buffer of the queue's own. Either way the result is only valid until
 * the queue is next changed: a fully read chunk goes back to the pool at the next change, not before,
 * so nothing can reuse it while the caller still reads the view.
 */
import { ChunkPool, RING_CHUNK_BYTES } from './chunk-pool.js';

export class ByteQueue {
  readonly #pool: ChunkPool;
  /** Chunks in order; the first is read from #readAt, the last written at #writeAt. */
  readonly #chunks: Uint8Array[] = [];
  #readAt = 0;
  #writeAt = RING_CHUNK_BYTES;
  #length = 0;
  /** A chunk read to its end whose bytes the last `shift` may still be viewing. */
  #spent: Uint8Array | undefined;
  #scratch = new Uint8Array(0);

  /** @param pool the process's chunks; a queue made without one (tests, tools) keeps its own. */
  constructor(pool: ChunkPool = new ChunkPool({ maxFree: 4 })) {
    this.#pool = pool;
  }

  /** Bytes queued. */
  get length(): number {
    return this.#length;
  }

  /** Chunks held (for tests: a drained queue holds none once changed again). */
  get chunks(): number {
    return this.#chunks.length + (this.#spent ? 1 : 0);
  }

  /** Copy `bytes` in at the tail. */
  push(bytes: Uint8Array): void {
    this.#releaseSpent();
    let from = 0;
    while (from < bytes.length) {
      if (this.#writeAt === RING_CHUNK_BYTES) {
        this.#chunks.push(this.#pool.take(RING_CHUNK_BYTES));
        this.#writeAt = 0;
      }
      const tail = this.#chunks[this.#chunks.length - 1];
      const n = Math.min(bytes.length - from, RING_CHUNK_BYTES - this.#writeAt);
      tail.set(n === bytes.length ? bytes : bytes.subarray(from, from + n), this.#writeAt);
      this.#writeAt += n;
      from += n;
    }
    this.#length += bytes.length;
  }

  /**
   * Take the first `n` bytes (n <= length): a view into a chunk or a copy in the queue's scratch,
   * valid until the queue is next changed.
   */
  shift(n: number): Uint8Array {
    this.#releaseSpent();
    if (n > this.#length) throw new RangeError(`shift(${String(n)}) of ${String(this.#length)} bytes`);
    if (n === 0) return this.#scratch.subarray(0, 0);
    if (this.#readAt + n <= this.#headEnd()) {
      const view = this.#chunks[0].subarray(this.#readAt, this.#readAt + n);
      this.#advance(n, true);
      return view;
    }
    if (this.#scratch.length < n) this.#scratch = new Uint8Array(Math.max(n, this.#scratch.length * 2));
    const out = this.#scratch.subarray(0, n);
    let at = 0;
    while (at < n) {
      const take = Math.min(n - at, this.#headEnd() - this.#readAt);
      out.set(this.#chunks[0].subarray(this.#readAt, this.#readAt + take), at);
      at += take;
      this.#advance(take, false);
    }
    return out;
  }

  /** Discard the first `n` bytes (n <= length). */
  drop(n: number): void {
    this.#releaseSpent();
    let left = Math.min(n, this.#length);
    while (left > 0) {
      const take = Math.min(left, this.#headEnd() - this.#readAt);
      this.#advance(take, false);
      left -= take;
    }
  }

  /** Empty the queue; its chunks go back to the pool. */
  clear(): void {
    this.#releaseSpent();
    for (const c of this.#chunks) this.#pool.release(c);
    this.#chunks.length = 0;
    this.#readAt = 0;
    this.#writeAt = RING_CHUNK_BYTES;
    this.#length = 0;
  }

  /** Where the head chunk's bytes end: where it is written to, if it is also the tail. */
  #headEnd(): number {
    return this.#chunks.length === 1 ? this.#writeAt : RING_CHUNK_BYTES;
  }

  /**
   * `n` bytes of the head chunk read. A chunk read to its end leaves, and so does the last one when the
   * queue runs dry (an idle call holds no chunk); one the caller may still be viewing waits as spent.
   */
  #advance(n: number, viewed: boolean): void {
    this.#readAt += n;
    this.#length -= n;
    if (this.#length > 0 && this.#readAt < RING_CHUNK_BYTES) return;
    const chunk = this.#chunks.shift()!;
    this.#readAt = 0;
    if (this.#chunks.length === 0) this.#writeAt = RING_CHUNK_BYTES;
    if (viewed) this.#spent = chunk;
    else this.#pool.release(chunk);
  }

  #releaseSpent(): void {
    if (this.#spent === undefined) return;
    this.#pool.release(this.#spent);
    this.#spent = undefined;
  }
}
