/**
 * Latency metrics aggregate: they are Prometheus histograms (buckets sum across processes), and the
 * old quantile gauges stay, deprecated, for one release under their names.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { shareAtOrBelow } from '../../src/observability/event-loop-histogram.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';

let metrics: Metrics | undefined;
afterEach(() => {
  vi.restoreAllMocks();
  metrics?.close();
  metrics = undefined;
});

async function samples(m: Metrics, name: string): Promise<{ labels: Record<string, string | number>; value: number; metricName?: string }[]> {
  const metric = m.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values as { labels: Record<string, string | number>; value: number; metricName?: string }[];
}

describe('latency metrics', () => {
  it('pipeline latency and pacing jitter land in histogram buckets, by direction', async () => {
    const m = (metrics = createMetrics());
    // A fixed clock: on a loaded machine real time between `now` and recordSince shifts the buckets.
    const now = 1_000_000;
    vi.spyOn(performance, 'now').mockReturnValue(now);
    m.latency.recordSince('ingress', now - 3); // ~3 ms
    m.latency.recordSince('ingress', now - 0.3);
    m.latency.recordSince('egress', now - 40);
    m.latency.recordPacingJitter(0.7);
    m.latency.recordPacingJitter(12);
    const pipeline = m.registry.getSingleMetric('voice_gateway_pipeline_frame_latency_seconds');
    expect((await pipeline!.get()).type).toBe('histogram');
    const v = await samples(m, 'voice_gateway_pipeline_frame_latency_seconds');
    const bucket = (direction: string, le: number) =>
      v.find((s) => s.metricName?.endsWith('_bucket') && s.labels.direction === direction && s.labels.le === le)?.value;
    expect(bucket('ingress', 0.001)).toBe(1);
    expect(bucket('ingress', 0.005)).toBe(2);
    expect(bucket('egress', 0.02)).toBe(0);
    expect(bucket('egress', 0.05)).toBe(1);
    const count = v.find((s) => s.metricName?.endsWith('_count') && s.labels.direction === 'ingress')?.value;
    expect(count).toBe(2);
    const jitter = await samples(m, 'voice_gateway_egress_frame_jitter_seconds');
    expect(jitter.find((s) => s.labels.le === 0.001)?.value).toBe(1);
    expect(jitter.find((s) => s.labels.le === 0.01)?.value).toBe(1);
    expect(jitter.find((s) => s.labels.le === 0.02)?.value).toBe(2);
  });

  it('keeps the deprecated quantile gauges under their old names for one release', async () => {
    const m = (metrics = createMetrics());
    vi.spyOn(performance, 'now').mockReturnValue(1_000_000);
    m.latency.recordSince('ingress', 1_000_000 - 2);
    const text = await m.registry.metrics();
    expect(text).toMatch(/voice_gateway_pipeline_latency_seconds\{direction="ingress",quantile="0.99"\} 0\.00[12]/);
    expect(text).toContain('voice_gateway_egress_pacing_jitter_seconds{quantile="0.99"}');
    expect(text).toContain('voice_gateway_event_loop_delay_seconds{quantile="0.99"}');
    expect(text).toContain('# HELP voice_gateway_pipeline_latency_seconds DEPRECATED');
  });

  it('folds event-loop lag samples into its histogram at each scrape', async () => {
    const m = (metrics = createMetrics());
    await new Promise((r) => setTimeout(r, 50));
    const busyUntil = Date.now() + 120;
    while (Date.now() < busyUntil) {
      /* block the loop: one late sample */
    }
    await new Promise((r) => setTimeout(r, 50));
    const first = await samples(m, 'voice_gateway_event_loop_lag_seconds');
    const count = first.find((s) => s.metricName?.endsWith('_count'))?.value ?? 0;
    expect(count).toBeGreaterThan(3);
    const under50ms = first.find((s) => s.labels.le === 0.05)?.value ?? 0;
    expect(under50ms, 'the blocked sample is above 50 ms').toBeLessThan(count);
    // Cumulative: a second scrape never goes down.
    await new Promise((r) => setTimeout(r, 30));
    const second = await samples(m, 'voice_gateway_event_loop_lag_seconds');
    expect(second.find((s) => s.metricName?.endsWith('_count'))?.value ?? 0).toBeGreaterThanOrEqual(count);
  });

  it('reads the share of an HDR histogram at or below a value', () => {
    // 100 samples valued 1..100: percentile(p) is the smallest value with at least p% at or below it.
    const fake = {
      count: 100,
      min: 1,
      max: 100,
      percentile: (p: number) => Math.max(1, Math.ceil(p)),
    };
    expect(shareAtOrBelow(fake, 0)).toBe(0);
    expect(shareAtOrBelow(fake, 100)).toBe(1);
    expect(shareAtOrBelow(fake, 30)).toBeCloseTo(0.3, 2);
  });
});
