/**
 * Event-loop lag as a Prometheus histogram. perf_hooks.monitorEventLoopDelay samples the loop with a
 * native 10 ms timer into an HDR histogram; it has no per-sample callback, so at each scrape the
 * samples gathered since the last one are counted into the Prometheus buckets and the window is reset.
 * A sample's value is its delay past the timer's own 10 ms (an idle loop reads ~0, not 10 ms).
 *
 * Bucket counts are exact to the HDR histogram's precision (3 significant figures); `_sum` places each
 * sample at the middle of its bucket, so it is exact only to a bucket's width.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Histogram } from 'prom-client';

export const LOOP_SAMPLE_RESOLUTION_MS = 10;

/** The share (0..1) of a histogram's samples at or below `ns`: the largest percentile whose value is <= ns. */
export function shareAtOrBelow(h: Pick<IntervalHistogram, 'percentile' | 'count' | 'max' | 'min'>, ns: number): number {
  if (h.count === 0 || ns < h.min) return 0;
  if (ns >= h.max) return 1;
  let lo = 0;
  let hi = 100;
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (h.percentile(mid) <= ns) lo = mid;
    else hi = mid;
  }
  return lo / 100;
}

export class EventLoopDelayHistogram {
  readonly #window: IntervalHistogram;
  readonly #target: Histogram;
  readonly #bucketsS: readonly number[];

  constructor(target: Histogram, bucketsS: readonly number[] = LOOP_BUCKETS_S) {
    this.#target = target;
    this.#bucketsS = bucketsS;
    this.#window = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_RESOLUTION_MS });
    this.#window.enable();
  }

  /** Count the samples since the last fold into the Prometheus histogram, then start a new window. */
  fold(): void {
    const h = this.#window;
    const n = h.count;
    if (n === 0) return;
    const offsetNs = LOOP_SAMPLE_RESOLUTION_MS * 1e6;
    let below = 0;
    let lower = 0;
    for (const upper of this.#bucketsS) {
      const atOrBelow = Math.round(n * shareAtOrBelow(h, offsetNs + upper * 1e9));
      const inBucket = atOrBelow - below;
      const mid = (lower + upper) / 2;
      for (let i = 0; i < inBucket; i++) this.#target.observe(mid);
      below = atOrBelow;
      lower = upper;
    }
    const over = Math.max(0, (h.max - offsetNs) / 1e9);
    for (let i = below; i < n; i++) this.#target.observe(over);
    h.reset();
  }

  close(): void {
    this.#window.disable();
  }
}

/** 1 ms .. 2.5 s: a healthy loop sits in the first buckets; the alert looks at p99 > 50 ms. */
export const LOOP_BUCKETS_S = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
