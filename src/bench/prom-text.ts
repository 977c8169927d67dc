/** Just enough of the Prometheus text format to read a scrape of /metrics: samples by name and labels. */

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) for (const l of m[2].matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, '$1');
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include `labels`. */
export function promValue(samples: readonly PromSample[], name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/** Every value of one label among the samples named `name`, with its summed value. */
export function promByLabel(samples: readonly PromSample[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name || s.labels[label] === undefined) continue;
    out[s.labels[label]] = (out[s.labels[label]] ?? 0) + s.value;
  }
  return out;
}

/**
 * A histogram's cumulative bucket counts between two scrapes, by `le`, every bucket kept: an empty one
 * still bounds the next from below (dropping it would make bucketQuantile interpolate from 0).
 */
export function promBucketDeltas(after: readonly PromSample[], before: readonly PromSample[], bucketName: string): Record<string, number> {
  const was = promByLabel(before, bucketName, 'le');
  const out: Record<string, number> = {};
  for (const [le, n] of Object.entries(promByLabel(after, bucketName, 'le'))) out[le] = n - (was[le] ?? 0);
  return out;
}

/**
 * The q-quantile of a Prometheus histogram from its cumulative bucket counts by `le` (the `_bucket`
 * series, e.g. a window's deltas), as PromQL's histogram_quantile estimates it: linear within the
 * bucket the rank falls in, from 0 for the first; the last finite bound when it falls in +Inf.
 * Undefined with no observations.
 */
export function bucketQuantile(cumulative: Record<string, number>, q: number): number | undefined {
  const buckets = Object.entries(cumulative)
    .map(([le, count]) => ({ le: le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), count }))
    .filter((b) => !Number.isNaN(b.le))
    .sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Number.POSITIVE_INFINITY) return lower;
      const inBucket = b.count - below;
      return inBucket > 0 ? lower + ((b.le - lower) * (rank - below)) / inBucket : b.le;
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}
