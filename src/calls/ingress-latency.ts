/**
 * Ingress latency of one call: from a frame's arrival at the transport to its hand-over to the
 * provider session, into the shared metric and into this call's own histogram (its snapshot).
 */
import { createHistogram } from 'node:perf_hooks';
import type { Metrics } from '../observability/metrics.js';

export class IngressLatency {
  readonly #metrics: Metrics;
  readonly #histogram = createHistogram({ lowest: 1, highest: 60_000_000_000, figures: 2 });

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
