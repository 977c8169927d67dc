/**
 * Pipeline-added latency, per frame, in HDR-style histograms (perf_hooks' native RecordableHistogram:
 * recording is one native call, no allocation). Two directions: `ingress` (media message event ->
 * provider send) and `egress` (provider audio -> frame written toward the caller, for the first frame
 * of each reply; later frames wait for real-time pacing by design, which is not processing).
 * Fixed buffering (resampler filter delay, VAD windows) is reported apart, never mixed in.
 * A third histogram holds egress pacing jitter: |time written - time due| of each frame the egress
 * clock paced (see EgressOptions.onPacingJitter), the gateway's own pacing precision (a caller also
 * sees the network's).
 *
 * Each value also goes into a Prometheus histogram when one is given (createMetrics gives them):
 * those aggregate across processes; the HDR ones give this process's exact tail (p99.9, max) to the
 * bench and the deprecated quantile gauges.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { FrameHistogram } from './frame-histogram.js';

export type LatencyDirection = 'ingress' | 'egress';

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

/** The Prometheus side of a LatencyRecorder: observed in seconds. */
export interface LatencyHistograms {
  readonly pipeline?: FrameHistogram<'direction'>;
  readonly pacing?: FrameHistogram;
}

type Observer = { observe(value: number): void };
const NONE: Observer = { observe: () => undefined };

export class LatencyRecorder {
  readonly #hist: Record<LatencyDirection, RecordableHistogram> = {
    ingress: createHistogram({ lowest: 1, highest: 60_000_000_000, figures: 3 }),
    egress: createHistogram({ lowest: 1, highest: 60_000_000_000, figures: 3 }),
  };
  readonly #pacing = createHistogram({ lowest: 1, highest: 60_000_000_000, figures: 3 });
  /** Fixed delays (ms) by name, e.g. resampler filter delay; not per-frame processing. */
  readonly fixedDelayMs = new Map<string, number>();
  /** Series taken once: the per-frame path does no label lookup (frame-histogram.ts). */
  readonly #prom: Record<LatencyDirection, Observer>;
  readonly #promPacing: Observer;

  constructor(histograms: LatencyHistograms = {}) {
    const { pipeline, pacing } = histograms;
    this.#prom = {
      ingress: pipeline ? pipeline.series({ direction: 'ingress' }) : NONE,
      egress: pipeline ? pipeline.series({ direction: 'egress' }) : NONE,
    };
    this.#promPacing = pacing ? pacing.series({}) : NONE;
  }

  /** Record one frame's added latency given its start from `performance.now()`. */
  recordSince(direction: LatencyDirection, startMs: number): void {
    const ms = performance.now() - startMs;
    const ns = Math.round(ms * 1e6);
    this.#hist[direction].record(ns > 0 ? ns : 1);
    this.#prom[direction].observe(ms > 0 ? ms / 1000 : 0);
  }

  /** Record one paced frame's |interval - frame duration|, in ms. */
  recordPacingJitter(ms: number): void {
    const ns = Math.round(ms * 1e6);
    this.#pacing.record(ns > 0 ? ns : 1);
    this.#promPacing.observe(ms > 0 ? ms / 1000 : 0);
  }

  pacingSummary(): LatencySummary {
    return summarise(this.#pacing);
  }

  summary(direction: LatencyDirection): LatencySummary {
    return summarise(this.#hist[direction]);
  }

  reset(): void {
    this.#hist.ingress.reset();
    this.#hist.egress.reset();
    this.#pacing.reset();
  }
}

function summarise(h: RecordableHistogram): LatencySummary {
  const ms = (ns: number) => Number((ns / 1e6).toFixed(4));
  if (h.count === 0) return { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0 };
  return {
    count: h.count,
    p50Ms: ms(h.percentile(50)),
    p90Ms: ms(h.percentile(90)),
    p99Ms: ms(h.percentile(99)),
    p999Ms: ms(h.percentile(99.9)),
    maxMs: ms(h.max),
    meanMs: ms(h.mean),
  };
}
