/**
 * A Prometheus histogram for observations made once per audio frame (20 ms, every call, both ways).
 *
 * prom-client's Histogram.observe costs 0.5-3 us a call: it builds a label/value pair, validates the
 * labels, hashes them and looks the series up by that hash, every time. There is no bulk API to fold
 * plain counts into it at scrape time, as tally.ts does for counters. So a series here is taken once
 * (label values fixed for its life) and an observation is a bucket search and three additions on
 * plain numbers (~10 ns). What a scrape sees is exactly what prom-client's Histogram would give for
 * the same observations: the same name, help, type, buckets (`le` cumulative, then `+Inf`), `_sum`,
 * `_count`, and aggregator 'sum' for the cluster registry (test/unit/frame-histogram.test.ts compares
 * the exposition text with a prom-client Histogram fed the same values).
 *
 * It is registered with `Registry.registerMetric`, which only needs name, help, type, get() and
 * reset(); prom-client's TypeScript type names its own four classes, hence the one cast below.
 */
import type { Metric, MetricValueWithName, Registry } from 'prom-client';

/** What a metric's get() gives the registry (the shape of prom-client's own MetricObjectWithValues). */
export interface FrameHistogramData {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly values: MetricValueWithName<string>[];
  readonly aggregator: 'sum';
}

/** One label set's counts. `observe` is the per-frame call. */
export class FrameHistogramSeries {
  /** Non-cumulative counts per bucket; the last slot is above the highest bound (+Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  readonly #upper: Float64Array;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    upper: Float64Array,
  ) {
    this.#upper = upper;
    this.counts = new Float64Array(upper.length + 1);
  }

  observe(value: number): void {
    const upper = this.#upper;
    let i = 0;
    // A handful of bounds, and most frame latencies fall in the first few: a linear scan wins.
    while (i < upper.length && value > upper[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

export interface FrameHistogramOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  readonly labelNames?: readonly L[];
  readonly registers?: readonly Registry[];
}

export class FrameHistogram<L extends string = never> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly labelNames: readonly L[];
  readonly #upper: Float64Array;
  readonly #series = new Map<string, FrameHistogramSeries>();

  constructor(opts: FrameHistogramOptions<L>) {
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = opts.labelNames ?? [];
    this.#upper = Float64Array.from([...opts.buckets].sort((a, b) => a - b));
    // Unlabelled, it reports zeros before the first observation, as prom-client's does.
    if (this.labelNames.length === 0) this.series({} as Record<L, string>);
    for (const registry of opts.registers ?? []) registry.registerMetric(this as unknown as Metric);
  }

  /** The series for one set of label values: take it once, observe on it per frame. */
  series(labels: Readonly<Record<L, string>>): FrameHistogramSeries {
    for (const name of Object.keys(labels)) {
      if (!(this.labelNames as readonly string[]).includes(name)) throw new Error(`${this.name}: unknown label ${name}`);
    }
    const key = this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
    let series = this.#series.get(key);
    if (!series) {
      series = new FrameHistogramSeries({ ...labels }, this.#upper);
      this.#series.set(key, series);
    }
    return series;
  }

  async get(): Promise<FrameHistogramData> {
    const values: MetricValueWithName<string>[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.#upper.length; i++) {
        cumulative += s.counts[i];
        values.push({ labels: { le: this.#upper[i], ...s.labels }, value: cumulative, metricName: bucket });
      }
      values.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: bucket });
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** Zero every series (Registry.resetMetrics); the series objects stay valid for their holders. */
  reset(): void {
    for (const s of this.#series.values()) s.reset();
  }
}
