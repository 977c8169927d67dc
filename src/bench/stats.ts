/** Small measurement helpers for the load harness: HDR histograms in ms, a seeded PRNG. */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

export interface Summary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export const EMPTY_SUMMARY: Summary = { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };

const round = (ms: number) => Number(ms.toFixed(3));

/** Milliseconds recorded at microsecond resolution (3 significant figures) in a native histogram. */
export class MsHistogram {
  readonly #h: RecordableHistogram = createHistogram({ lowest: 1, highest: 3_600_000_000, figures: 3 });

  record(ms: number): void {
    const us = Math.round(ms * 1000);
    this.#h.record(us > 0 ? us : 1);
  }

  get count(): number {
    return this.#h.count;
  }

  summary(): Summary {
    const h = this.#h;
    if (h.count === 0) return { ...EMPTY_SUMMARY };
    const ms = (us: number) => round(us / 1000);
    return { count: h.count, p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), p999: ms(h.percentile(99.9)), max: ms(h.max), mean: ms(h.mean) };
  }
}

/** mulberry32: a tiny deterministic PRNG, so a run's start offsets can be repeated with --seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
