/**
 * A per-call latency histogram small enough to keep one per call (issue 16: memory per call).
 *
 * perf_hooks' `createHistogram({ lowest: 1, highest: 60e9, figures: 2 })` is an HDR histogram of
 * ~3,800 64-bit counters: ~33 KiB of native memory per call, resident from the start (measured:
 * 2,000 of them grow RSS by 33 KiB each), for three numbers in the call snapshot (p50, p99, max).
 * This one keeps log-spaced buckets 2 % wide (values within 1 % of their bucket's middle, as
 * `figures: 2` promises) from 1 us to 60 s in nanoseconds, 32-bit counts (a 20 ms frame stream fills
 * one in 2.7 years), allocated up to the highest bucket used: 2 KiB while latencies stay under 10 ms,
 * 3.6 KiB at most. The process-wide histograms (latency.ts) stay HDR with three figures.
 *
 * Same surface as the part of RecordableHistogram a call uses: record(ns), count, percentile(p), max.
 */

/** Bucket i covers [LOWEST_NS * GROWTH^i, LOWEST_NS * GROWTH^(i+1)). */
const GROWTH = 1.02;
const LOWEST_NS = 1_000;
const HIGHEST_NS = 60_000_000_000;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(HIGHEST_NS / LOWEST_NS) / LOG_GROWTH) + 1;
const MIN_ALLOC = 64;

export class CallLatencyHistogram {
  #counts = new Uint32Array(MIN_ALLOC);
  #count = 0;
  #max = 0;
  #min = Infinity;

  /** A latency in nanoseconds; values under 1 us share the first bucket, over 60 s the last. */
  record(ns: number): void {
    if (!(ns >= 0)) return; // NaN or negative: a clock oddity, not a latency
    const i = bucketOf(ns);
    if (i >= this.#counts.length) this.#grow(i);
    this.#counts[i]!++;
    this.#count++;
    if (ns > this.#max) this.#max = ns;
    if (ns < this.#min) this.#min = ns;
  }

  get count(): number {
    return this.#count;
  }

  /** The largest value recorded, exactly (0 before any). */
  get max(): number {
    return this.#max;
  }

  /** The smallest value recorded, exactly (0 before any). */
  get min(): number {
    return this.#count === 0 ? 0 : this.#min;
  }

  /** Bytes of counters this histogram holds. */
  get allocatedBytes(): number {
    return this.#counts.byteLength;
  }

  /**
   * The value at percentile `p` (0-100): the middle of the bucket holding the value of that rank,
   * clamped to the exact min and max, so within 1 % of the recorded value. 0 before any value.
   */
  percentile(p: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil((Math.min(100, Math.max(0, p)) / 100) * this.#count));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return Math.min(this.#max, Math.max(this.#min, middleOf(i)));
    }
    return this.#max;
  }

  reset(): void {
    this.#counts = new Uint32Array(MIN_ALLOC);
    this.#count = 0;
    this.#max = 0;
    this.#min = Infinity;
  }

  #grow(i: number): void {
    let n = this.#counts.length;
    while (n <= i) n *= 2;
    const next = new Uint32Array(Math.min(n, BUCKETS));
    next.set(this.#counts);
    this.#counts = next;
  }
}

function bucketOf(ns: number): number {
  if (ns <= LOWEST_NS) return 0;
  return Math.min(BUCKETS - 1, Math.floor(Math.log(ns / LOWEST_NS) / LOG_GROWTH));
}

/** The geometric middle of bucket i (the point within 1 % of both its ends). */
function middleOf(i: number): number {
  return LOWEST_NS * Math.exp((i + 0.5) * LOG_GROWTH);
}
