import fc from 'fast-check';
import { createHistogram } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { CallLatencyHistogram } from '../../src/observability/call-latency-histogram.js';

/** The value of rank ceil(p% of n) in sorted order: what an exact percentile is. */
const exact = (sorted: number[], p: number) => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;

describe('CallLatencyHistogram', () => {
  it('is empty before any value, like the HDR histogram it replaces', () => {
    const h = new CallLatencyHistogram();
    expect([h.count, h.max, h.min, h.percentile(50), h.percentile(99)]).toEqual([0, 0, 0, 0, 0]);
  });

  it('gives every percentile within 1 % of the exact one, and the exact max and min', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 1_000, max: 60e9, noNaN: true }), { minLength: 1, maxLength: 400 }), fc.integer({ min: 0, max: 100 }), (values, p) => {
        const h = new CallLatencyHistogram();
        for (const v of values) h.record(v);
        const sorted = [...values].sort((a, b) => a - b);
        expect(h.count).toBe(values.length);
        expect(h.max).toBe(sorted.at(-1));
        expect(h.min).toBe(sorted[0]);
        const want = exact(sorted, p);
        expect(Math.abs(h.percentile(p) - want) / want).toBeLessThanOrEqual(0.01);
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with perf_hooks figures: 2 on a realistic latency spread to within 2 %', () => {
    const h = new CallLatencyHistogram();
    const hdr = createHistogram({ lowest: 1, highest: 60_000_000_000, figures: 2 });
    let x = 12345;
    for (let i = 0; i < 5000; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const ns = 200_000 + (x % 9_800_000) + (i % 97 === 0 ? 40_000_000 : 0); // 0.2-10 ms, some 40 ms stalls
      h.record(ns);
      hdr.record(ns);
    }
    for (const p of [50, 90, 99, 99.9]) expect(Math.abs(h.percentile(p) - hdr.percentile(p)) / hdr.percentile(p)).toBeLessThan(0.02);
    expect(h.count).toBe(hdr.count);
    expect(Math.abs(h.max - hdr.max) / hdr.max).toBeLessThan(0.01);
  });

  it('stays small: 2 KiB of counters for sub-10 ms latencies, never more than 4 KiB', () => {
    const h = new CallLatencyHistogram();
    for (let ns = 1_000; ns < 10_000_000; ns *= 1.01) h.record(ns);
    expect(h.allocatedBytes).toBeLessThanOrEqual(2048);
    h.record(59e9);
    h.record(1e12);
    expect(h.allocatedBytes).toBeLessThanOrEqual(4096);
    expect(h.max).toBe(1e12);
  });

  it('ignores NaN and negative values, puts sub-microsecond ones in the first bucket', () => {
    const h = new CallLatencyHistogram();
    h.record(Number.NaN);
    h.record(-5);
    expect(h.count).toBe(0);
    h.record(1);
    h.record(400);
    expect(h.count).toBe(2);
    expect(h.percentile(100)).toBe(400);
    expect(h.percentile(50)).toBeLessThanOrEqual(400);
  });
});
