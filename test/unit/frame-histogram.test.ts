/**
 * FrameHistogram is a drop-in for prom-client's Histogram on the per-frame path: for the same
 * observations a scrape reads the same text and the cluster aggregator the same JSON.
 */
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FrameHistogram } from '../../src/observability/frame-histogram.js';

const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1];

function values(n: number, seed: number): number[] {
  // A fixed pseudo-random spread over and beyond the buckets, bounds themselves included.
  let x = seed;
  const out = [...BUCKETS, 0, 0.2];
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out.push(((x / 2 ** 31) ** 3) * 0.15);
  }
  return out;
}

function pair(labelNames: string[] = []) {
  const ours = new Registry();
  const theirs = new Registry();
  const name = 'vg_test_latency_seconds';
  const fast = new FrameHistogram({ name, help: 'h', buckets: BUCKETS, labelNames, registers: [ours] });
  const prom = new Histogram({ name, help: 'h', buckets: BUCKETS, labelNames, registers: [theirs] });
  return { ours, theirs, fast, prom };
}

describe('FrameHistogram', () => {
  it('unlabelled: the exposition text equals prom-client Histogram fed the same values, zeros before any', async () => {
    const { ours, theirs, fast, prom } = pair();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    const s = fast.series({});
    for (const v of values(500, 7)) {
      s.observe(v);
      prom.observe(v);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('labelled: each series as prom-client prints it, in first-use order; the same series object for the same labels', async () => {
    const { ours, theirs, fast, prom } = pair(['direction']);
    const ingress = fast.series({ direction: 'ingress' });
    const egress = fast.series({ direction: 'egress' });
    expect(fast.series({ direction: 'ingress' })).toBe(ingress);
    const vs = values(300, 3);
    vs.forEach((v, i) => {
      const direction = i % 3 === 0 ? 'egress' : 'ingress';
      (direction === 'egress' ? egress : ingress).observe(v);
      prom.observe({ direction }, v);
    });
    // prom-client lists series in first-observation order: make both start with ingress.
    expect(vs.length).toBeGreaterThan(2);
    const text = await ours.metrics();
    expect(text).toContain('vg_test_latency_seconds_bucket{le="0.001",direction="ingress"}');
    expect(text.split('\n').sort()).toEqual((await theirs.metrics()).split('\n').sort());
    expect(() => fast.series({ direction: 'x', nope: 'y' } as never)).toThrow(/unknown label nope/);
  });

  it('sums across processes like a prom-client histogram (AggregatorRegistry, aggregator sum)', async () => {
    const a = pair(['direction']);
    const b = pair(['direction']);
    a.fast.series({ direction: 'ingress' }).observe(0.003);
    b.fast.series({ direction: 'ingress' }).observe(0.0004);
    a.prom.observe({ direction: 'ingress' }, 0.003);
    b.prom.observe({ direction: 'ingress' }, 0.0004);
    const ours = AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()] as never);
    const theirs = AggregatorRegistry.aggregate([await a.theirs.getMetricsAsJSON(), await b.theirs.getMetricsAsJSON()] as never);
    expect((await ours.metrics()).split('\n').sort()).toEqual((await theirs.metrics()).split('\n').sort());
    expect(await ours.metrics()).toContain('vg_test_latency_seconds_count{direction="ingress"} 2');
  });

  it('reset zeroes every series and the series taken before stay live', async () => {
    const { ours, fast } = pair();
    const s = fast.series({});
    s.observe(0.003);
    ours.resetMetrics();
    expect(await ours.metrics()).toContain('vg_test_latency_seconds_count 0');
    s.observe(0.003);
    expect(await ours.metrics()).toContain('vg_test_latency_seconds_count 1');
  });
});
