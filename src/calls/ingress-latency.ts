/**
 * Ingress latency of one call: from a frame's arrival at the transport to its hand-over to the
 * provider session, into the shared metric and into this call's own histogram (its snapshot).
 */
import { CallLatencyHistogram } from '../observability/call-latency-histogram.js';
import type { Metrics } from '../observability/metrics.js';

export class IngressLatency {
  readonly #metrics: Metrics;
  /** 2-4 KiB per call; an HDR histogram at this range took ~33 KiB (bench/results/2026-12-06-issue16-memory.md). */
  readonly #histogram = new CallLatencyHistogram();

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
  }

  /** A live frame reached the provider; `receivedAtMs` is performance.now() at its arrival. */
  delivered(receivedAtMs: number): void {
    this.#metrics.latency.recordSince('ingress', receivedAtMs);
    const ns = Math.round((performance.now() - receivedAtMs) * 1e6);
    this.#histogram.record(ns > 0 ? ns : 1);
  }

  summary(): { ingressP50Ms: number; ingressP99Ms: number; ingressMaxMs: number } {
    const h = this.#histogram;
    const ms = (ns: number) => Number((ns / 1e6).toFixed(3));
    return { ingressP50Ms: h.count ? ms(h.percentile(50)) : 0, ingressP99Ms: h.count ? ms(h.percentile(99)) : 0, ingressMaxMs: h.count ? ms(h.max) : 0 };
  }
}
