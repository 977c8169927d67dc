/**
 * `bench --rounds N`: the same runs N times over, one round after another, and each figure as a
 * median and range over the rounds. On a shared or virtual machine one run moves with whatever
 * else the host does (on the 2-core VM of issue 16 the baseline bridge alone cost 2.9 to 4.5 ms per
 * call-second from run to run), so a single run says little. A gateway run is compared with the
 * baseline of its own round, which ran minutes and not an hour before it.
 */
import type { RunResult } from './result.js';

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** One per round, in round order. */
  readonly values: number[];
}

export interface RoundsSummary {
  /** The run's label (the same in every round). */
  readonly label: string;
  readonly rounds: number;
  readonly cpuMsPerCallSecond: Spread;
  /** CPU per call-second over the baseline's in the same round. */
  readonly cpuVsBaseline: Spread | undefined;
  readonly rssPerCallKiB: Spread;
  readonly eventLoopDelayP99Ms: Spread | undefined;
  /** At the gateway's write; undefined for the baseline, which does not report it. */
  readonly egressPacingP99Ms: Spread | undefined;
  readonly throughIngressP99Ms: Spread | undefined;
  /** Through latency in, p99, minus the baseline's in the same round. */
  readonly throughIngressP99VsBaselineMs: Spread | undefined;
  readonly replyP50Ms: Spread;
  /** Summed over the rounds. */
  readonly framesLost: number;
  readonly framesLate: number;
}

/** Median (the mean of the middle two for an even count), min and max; undefined for no values. */
export function spreadOf(values: readonly (number | undefined)[]): Spread | undefined {
  const known = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (known.length === 0) return undefined;
  const sorted = [...known].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], values: known };
}

/** One summary per label, in the order the labels first ran; runs without a round are left out. */
export function summarizeRounds(runs: readonly RunResult[]): RoundsSummary[] {
  const byLabel = new Map<string, RunResult[]>();
  for (const r of runs) {
    if (r.round === undefined) continue;
    const list = byLabel.get(r.label) ?? [];
    list.push(r);
    byLabel.set(r.label, list);
  }
  const baselineOf = (round: number) => runs.find((r) => r.target === 'baseline' && r.round === round);
  const out: RoundsSummary[] = [];
  for (const [label, list] of byLabel) {
    const vsBaseline = (get: (r: RunResult) => number | undefined, combine: (g: number, b: number) => number) =>
      list.map((r) => {
        const b = r.target === 'baseline' ? undefined : baselineOf(r.round!);
        const g = get(r);
        const bv = b && get(b);
        return g === undefined || bv === undefined || bv === 0 ? undefined : combine(g, bv);
      });
    const cpu = (r: RunResult) => r.cpu.msPerCallSecond;
    const through = (r: RunResult) => r.latency.through?.ingress.p99;
    out.push({
      label,
      rounds: list.length,
      cpuMsPerCallSecond: spreadOf(list.map(cpu))!,
      cpuVsBaseline: spreadOf(vsBaseline(cpu, (g, b) => g / b)),
      rssPerCallKiB: spreadOf(list.map((r) => r.memory.rssPerCallKiB))!,
      eventLoopDelayP99Ms: spreadOf(list.map((r) => r.eventLoopDelayP99Ms)),
      egressPacingP99Ms: spreadOf(list.map((r) => r.egressPacing?.p99)),
      throughIngressP99Ms: spreadOf(list.map(through)),
      throughIngressP99VsBaselineMs: spreadOf(vsBaseline(through, (g, b) => g - b)),
      replyP50Ms: spreadOf(list.map((r) => r.latency.reply.p50))!,
      framesLost: list.reduce((n, r) => n + r.frames.lost.total, 0),
      framesLate: list.reduce((n, r) => n + r.frames.late.egress + (r.frames.late.ingress ?? 0), 0),
    });
  }
  return out;
}

const cell = (s: Spread | undefined, digits: number, signed = false) => {
  if (!s) return '-';
  const n = (v: number) => (signed && v > 0 ? '+' : '') + v.toFixed(digits);
  return s.min === s.max ? n(s.median) : `${n(s.median)} (${n(s.min)} to ${n(s.max)})`;
};

/** Rows of [figure, median (min to max) per label]. */
export function roundsRows(summaries: readonly RoundsSummary[]): string[][] {
  const row = (name: string, get: (s: RoundsSummary) => string) => [name, ...summaries.map(get)];
  return [
    row(`over ${String(summaries[0]?.rounds ?? 0)} rounds: median (min to max)`, (s) => s.label),
    row('CPU ms per call-second', (s) => cell(s.cpuMsPerCallSecond, 2)),
    row('  over the baseline in its round', (s) => cell(s.cpuVsBaseline, 2)),
    row('RSS per call, KiB', (s) => cell(s.rssPerCallKiB, 0)),
    row('event-loop delay p99, ms', (s) => cell(s.eventLoopDelayP99Ms, 1)),
    row('egress pacing jitter p99 at the gateway, ms', (s) => cell(s.egressPacingP99Ms, 1)),
    row('through latency in p99, ms', (s) => cell(s.throughIngressP99Ms, 1)),
    row('  minus the baseline in its round', (s) => cell(s.throughIngressP99VsBaselineMs, 1, true)),
    row('reply latency p50, ms', (s) => cell(s.replyP50Ms, 0)),
    row('frames lost / late (all rounds)', (s) => `${String(s.framesLost)} / ${String(s.framesLate)}`),
  ];
}
