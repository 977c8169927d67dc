/** The bench report: its JSON shape, the ratios to the baseline, a text table and a markdown summary. */
import { arch, availableParallelism, cpus, loadavg, platform, totalmem } from 'node:os';
import type { Criteria, RunResult } from './result.js';
import type { Summary } from './stats.js';
import { roundsRows, type RoundsSummary } from './rounds.js';

export interface FindMaxStep {
  calls: number;
  pass: boolean;
  reasons: string[];
  run: RunResult;
}

export interface FindMaxResult {
  vad: string;
  provider: string;
  criteria: Criteria;
  maxCalls: number;
  /** The machine's cores, or the ones the gateway was pinned to (--gateway-cpus). */
  cores: number;
  /** The CPUs the gateway was pinned to. */
  pinnedCpus?: number[];
  /** True when the load generator was pinned to other CPUs than the gateway's. */
  coresExclusive?: boolean;
  /** maxCalls / cores (the load generator shares them unless the gateway was pinned apart). */
  callsPerCore: number;
  /** maxCalls / cores the gateway itself used at maxCalls: what a dedicated core would carry. */
  callsPerGatewayCore: number | undefined;
  bound: string;
  /** With --step-runs: how many runs each step took and how many of them passed. */
  steps: { calls: number; pass: boolean; reasons: string[]; runs?: number; passes?: number }[];
}

export interface Ratios {
  cpuPerCallSecond: number;
  throughIngressP50: number | undefined;
  throughIngressP99: number | undefined;
  throughEgressP50: number | undefined;
  throughEgressP99: number | undefined;
  rssPerCall: number | undefined;
}

export interface BenchReport {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; model: string; platform: string; arch: string; node: string; memoryGiB: number; loadAvgAtStart: number[] };
  config: Record<string, unknown>;
  runs: RunResult[];
  /** gateway / baseline, per gateway run (keyed by its label), when a baseline ran. */
  ratios: Record<string, Ratios> | undefined;
  findMax: FindMaxResult[] | undefined;
  /** With --rounds N (N > 1): each run's figures over the rounds. */
  rounds?: RoundsSummary[];
  micro: unknown;
  notes: string[];
}

export function machineInfo(): BenchReport['machine'] {
  return {
    cpus: availableParallelism(),
    model: cpus()[0]?.model ?? 'unknown',
    platform: platform(),
    arch: arch(),
    node: process.version,
    memoryGiB: Number((totalmem() / 1024 ** 3).toFixed(1)),
    loadAvgAtStart: loadavg().map((n) => Number(n.toFixed(2))),
  };
}

const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? undefined : Number((a / b).toFixed(2)));

export function ratiosOf(gateway: RunResult, baseline: RunResult): Ratios {
  const g = gateway.latency.through;
  const b = baseline.latency.through;
  return {
    cpuPerCallSecond: ratio(gateway.cpu.msPerCallSecond, baseline.cpu.msPerCallSecond) ?? 0,
    throughIngressP50: ratio(g?.ingress.p50, b?.ingress.p50),
    throughIngressP99: ratio(g?.ingress.p99, b?.ingress.p99),
    throughEgressP50: ratio(g?.egress.p50, b?.egress.p50),
    throughEgressP99: ratio(g?.egress.p99, b?.egress.p99),
    rssPerCall: ratio(gateway.memory.rssPerCallKiB, baseline.memory.rssPerCallKiB),
  };
}

const f = (n: number | undefined, digits = 2) => (n === undefined ? '-' : n.toFixed(digits));
const q = (s: { p50: number; p99: number; p999: number; max: number } | undefined) => (s ? `${f(s.p50)} / ${f(s.p99)} / ${f(s.p999)} / ${f(s.max)}` : '-');
const q2 = (s: Summary | undefined) => (s && s.count > 0 ? `${f(s.p50, 1)} / ${f(s.p99, 1)} (n=${String(s.count)})` : '-');

/** Rows of [metric, value per run...]. */
export function tableRows(runs: RunResult[]): string[][] {
  const row = (name: string, get: (r: RunResult) => string) => [name, ...runs.map(get)];
  return [
    row('run', (r) => (r.round === undefined ? r.label : `${r.label} #${String(r.round)}`)),
    row('calls connected / failed / dropped', (r) => `${String(r.callsConnected)} / ${String(r.callsFailed)} / ${String(r.callsDropped)}`),
    row('added latency in, ms p50/p99/p99.9/max', (r) => q(r.latency.added?.ingress)),
    row('added latency out (1st frame), ms', (r) => q(r.latency.added?.egress)),
    row('through latency in, ms p50/p99/p99.9/max', (r) => q(r.latency.through?.ingress)),
    row('through latency out (1st frame), ms', (r) => q(r.latency.through?.egress)),
    row('reply latency, ms p50 / p99', (r) => q2(r.latency.reply)),
    row("barge-in reaction (gateway's VAD), ms p50 / p95", (r) => {
      const b = r.gateway?.bargeInReactionMs;
      return b ? `${String(b.p50)} / ${String(b.p95)} (n=${String(b.count)})` : '-';
    }),
    row('frames sent / at provider / received', (r) => `${String(r.frames.sent)} / ${r.frames.atProvider === undefined ? '-' : String(r.frames.atProvider)} / ${String(r.frames.received)}`),
    row('frames lost in / in-while-connecting / out', (r) => `${String(r.frames.lost.ingress)} / ${String(r.frames.lost.ingressWhileConnecting)} / ${String(r.frames.lost.egress)}`),
    row('frames late out / in', (r) => `${String(r.frames.late.egress)} / ${r.frames.late.ingress === undefined ? '-' : String(r.frames.late.ingress)}`),
    row('calls that fell back from Silero to energy', (r) => (r.gateway ? String(Object.values(r.gateway.vadFallbacks).reduce((a, b) => a + b, 0)) : '-')),
    row('VAD windows Silero / gated / energy, mean batch', (r) => vadWindowsCell(r)),
    row('reply frames dropped by interruption', (r) => (r.frames.droppedByInterruption === undefined ? '-' : String(r.frames.droppedByInterruption))),
    row('egress jitter |interval-20ms|, ms p50 / p99', (r) => q2(r.egressJitter)),
    row('egress pacing jitter at the gateway, ms p50/p99/p99.9/max', (r) => q(r.egressPacing)),
    row('CPU ms per call-second', (r) => f(r.cpu.msPerCallSecond, 3)),
    row('  of which main thread / other threads', (r) =>
      r.cpu.mainThreadMsPerCallSecond === undefined ? '-' : `${f(r.cpu.mainThreadMsPerCallSecond, 3)} / ${f(r.cpu.msPerCallSecond - r.cpu.mainThreadMsPerCallSecond, 3)}`,
    ),
    row('CPU cores used (share of the cores it had)', (r) => `${f(r.cpu.coresUsed)} (${(r.cpu.shareOfMachine * 100).toFixed(0)}% of ${String(r.cpu.cores)})`),
    row('calls per core, CPU alone (at 100%)', (r) => (r.cpu.coresUsed > 0 ? (r.callsConnected / r.cpu.coresUsed).toFixed(0) : '-')),
    row('RSS per call, KiB (idle -> loaded MiB)', (r) => `${f(r.memory.rssPerCallKiB, 1)} (${f(r.memory.rssIdleMiB, 0)} -> ${f(r.memory.rssLoadedMiB, 0)})`),
    row('heap per call, KiB', (r) => f(r.memory.heapPerCallKiB, 1)),
    row('event-loop delay p99, ms', (r) => f(r.eventLoopDelayP99Ms)),
    row('harness: send lag p99 / loop p99 ms, cores', (r) => `${f(r.harness.sendLag.p99)} / ${f(r.harness.eventLoopDelayP99Ms)}, ${f(r.harness.cpuSeconds / r.harness.wallSeconds)}${r.harness.saturated ? ' SATURATED' : ''}`),
    row("harness: the provider fake's loop p99 ms", (r) => (r.harness.providerLoopDelayP99Ms === undefined ? '-' : f(r.harness.providerLoopDelayP99Ms))),
  ];
}

export function textTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ')).join('\n');
}

function mdTable(rows: string[][]): string {
  const [head, ...body] = rows.map((r) => r.map((cell) => cell.replace(/\|/g, '\\|')));
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function ratioRows(ratios: Record<string, Ratios>): string[][] {
  const labels = Object.keys(ratios);
  const row = (name: string, get: (r: Ratios) => number | undefined) => [name, ...labels.map((l) => f(get(ratios[l])))];
  return [
    ['gateway / baseline', ...labels],
    row('CPU per call-second', (r) => r.cpuPerCallSecond),
    row('through latency in p50', (r) => r.throughIngressP50),
    row('through latency in p99', (r) => r.throughIngressP99),
    row('through latency out p50', (r) => r.throughEgressP50),
    row('through latency out p99', (r) => r.throughEgressP99),
    row('RSS per call', (r) => r.rssPerCall),
  ];
}

export function findMaxLines(fm: FindMaxResult): string[] {
  return [
    `find-max (vad ${fm.vad}, ${fm.provider}): ${String(fm.maxCalls)} calls held the bar on ${String(fm.cores)} ${fm.cores === 1 ? 'core' : 'cores'}` +
      (fm.pinnedCpus ? ` (CPU ${fm.pinnedCpus.join(',')}${fm.coresExclusive ? ', not shared with the load generator' : ''})` : '') +
      ` = ${f(fm.callsPerCore, 0)} calls per core` +
      (fm.callsPerGatewayCore === undefined ? '' : ` (${f(fm.callsPerGatewayCore, 0)} per core the gateway itself used)`),
    `  bound by: ${fm.bound}`,
    ...fm.steps.map(
      (s) =>
        `  ${String(s.calls).padStart(5)} calls: ${s.pass ? 'pass' : `FAIL (${s.reasons.join('; ')})`}` +
        (s.runs === undefined ? '' : ` [${String(s.passes ?? 0)} of ${String(s.runs)} runs passed]`),
    ),
  ];
}

export function markdown(report: BenchReport): string {
  const out: string[] = [];
  out.push(`# Voice gateway benchmark`, '');
  const m = report.machine;
  out.push(`${report.startedAt} on ${String(m.cpus)} cores (${m.model}), Node ${m.node}, load average at start ${m.loadAvgAtStart.join(' ')}.`, '');
  out.push('```json', JSON.stringify(report.config), '```', '');
  if (report.runs.length > 0) {
    out.push('## Load', '', mdTable(tableRows(report.runs)), '');
    if (report.ratios) out.push('### Ratios to the baseline bridge', '', mdTable(ratioRows(report.ratios)), '');
    if (report.rounds?.length) out.push('### Over the rounds', '', mdTable(roundsRows(report.rounds)), '');
  }
  for (const fm of report.findMax ?? []) out.push('## Find max', '', ...findMaxLines(fm).map((l) => `    ${l}`), '');
  const micro = report.micro as { rows?: { suite: string; case: string; usPerOp: number; opsPerSec: number }[] } | undefined;
  if (micro?.rows?.length) {
    out.push('## Micro-benchmarks', '', '| suite | case | us/op | ops/s |', '|---|---|---|---|');
    for (const r of micro.rows) out.push(`| ${r.suite} | ${r.case} | ${String(r.usPerOp)} | ${String(r.opsPerSec)} |`);
    out.push('');
  }
  const warnings = report.runs.flatMap((r) => r.warnings.map((w) => `${r.label}: ${w}`));
  if (report.notes.length + warnings.length > 0) out.push('## Notes', '', ...report.notes.map((n) => `- ${n}`), ...warnings.slice(0, 30).map((w) => `- ${w}`), '');
  out.push(
    '## Reading it',
    '',
    '- added latency: the gateway\'s own per-frame figure from /metrics (ingress: media message event -> provider send; egress: provider audio -> first frame of the reply written), since the gateway process started.',
    '- through latency: on the load generator\'s clock, by frame tag: caller send -> provider fake receipt (in), provider delta send -> caller receipt of the reply\'s first frame (out). Includes two loopback hops and the harness\'s own scheduling, for gateway and baseline alike.',
    '- reply latency: end of the caller\'s utterance -> first reply frame heard; includes turn detection (VAD silence) and the provider\'s reply delay.',
    '- lost: tags sent and never seen at the other end (gateway-counters accounting: sent vs the gateway\'s frames_in, frames_out vs received, plus lossy drop stages). Interrupted replies are counted apart.',
    '- late: a reply frame arriving after the caller\'s playout buffer ran dry mid-reply. Jitter: |arrival interval - 20 ms| after the start-of-reply lead burst (bursting bridges read ~20 ms by construction).',
    '- CPU per call-second: the bridge process\'s CPU time (all threads, /proc) over the window / (calls x window seconds). Main thread: the event-loop thread\'s own share (/proc/<pid>/task/<pid>; summed over processes): the part one process cannot spread over cores; the rest is VAD workers, GC and libuv threads.',
    '',
  );
  return out.join('\n');
}

function vadWindowsCell(r: RunResult): string {
  const g = r.gateway;
  if (!g) return '-';
  const w = g.vadWindows;
  const n = (k: string) => String(Math.round(w[k] ?? 0));
  return `${n('silero')} / ${n('silence_gate')} / ${n('energy')}, ${g.vadBatchMean === undefined ? '-' : g.vadBatchMean.toFixed(1)}`;
}
