/**
 * `voice-gateway bench`: drive N simulated callers through a gateway (started here in its own
 * process, or one already running at --url) and report added latency, frames lost and late, pacing
 * jitter, CPU and memory per call; optionally side by side with an extension's baseline bridge, or
 * searching for the most calls that hold the bar (--find-max). The work is in src/bench; this parses
 * and prints. Run from a source checkout, it picks up the checkout's bench extension (more providers,
 * --baseline; src/bench/extension.ts); `run(argv, { extension })` hands one in explicitly.
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULTS, checkExtensionFits, checkRoundsFit, runBench, type BenchOptions, type VadSetting } from '../../bench/bench.js';
import { allowedCpus, assertPinningAvailable, parseCpuList } from '../../bench/cpu-pinning.js';
import { CHECKOUT_EXTENSION, loadCheckoutExtension, type BenchExtension } from '../../bench/extension.js';
import { findMaxLines, markdown, ratioRows, tableRows, textTable, type BenchReport } from '../../bench/report.js';
import { roundsRows } from '../../bench/rounds.js';
import { CARRIER_NAMES } from '../../carriers/carrier-name.js';
import { usageError } from '../usage.js';

const HELP = `Usage: voice-gateway bench [options]

Starts a gateway (its own process) and drives N simulated callers at it, open loop: each call goes
through the webhook, then sends a 20 ms frame every 20 ms of the caller audio (from a random offset)
whatever comes back. Prints a table and writes JSON (and markdown with --md).

  --calls N               concurrent calls (default ${String(DEFAULTS.calls)})
  --duration S            measurement window, seconds (default ${String(DEFAULTS.durationS)}); calls start over a ramp before it
  --ramp S                seconds over which calls start (default: calls/50, at least 2)
  --transport T           twilio | telnyx (default twilio)
  --provider P            echo (default): the gateway's embedded provider; a bench extension adds more
  --vad V[,V...]          silero | energy | off (default silero); several run one after another
  --processes N[,N...]    gateway processes (serve --processes; auto = one per core; default 1); each
                          count runs for each --vad, e.g. --find-max --processes 1,2 compares them in one run
  --baseline              also run the bench extension's reference bridge with the same load and
                          report the gateway's figures as ratios to it (only with an extension that has one)
  --reply-delay-ms MS     the provider's thinking time before a reply (default ${String(DEFAULTS.replyDelayMs)})
  --find-max              search for the most calls with added latency p99 <= 5 ms, no frame lost or
                          late, egress pacing jitter p99 <= 2 ms, CPU <= 80% of the cores (per --vad)
  --start-calls N         find-max: first step (default ${String(DEFAULTS.startCalls)}); --max-calls N: ceiling (default ${String(DEFAULTS.maxCalls)})
  --step-runs N           find-max: run each step up to N times and let the majority decide (default
                          ${String(DEFAULTS.stepRuns)}); on a shared machine one stall fails a single run
  --rounds N              the baseline and every gateway run N times over, one round after another,
                          with each figure's median and range over the rounds (each gateway run
                          against the baseline of its own round); default ${String(DEFAULTS.rounds)}. Not with --find-max
  --max-p99-ms MS, --max-jitter-ms MS, --max-cpu-share F
                          find-max bar (defaults ${String(DEFAULTS.criteria.addedP99Ms)}, ${String(DEFAULTS.criteria.jitterP99Ms)}, ${String(DEFAULTS.criteria.cpuShare)})
  --url URL               drive a gateway that is already running (provider as it is configured;
                          frames counted by its /metrics); --pid N reads its CPU from /proc
  --json FILE             where to write the JSON report (default bench/results/bench-<time>.json
                          when that folder exists, else ./voice-gateway-bench-<time>.json)
  --md FILE               also write a markdown summary
  --gateway-cpus LIST     run the gateway (and the baseline) on these CPUs only, e.g. 1 or 2-3 (Linux,
                          taskset); the bench then runs on the other CPUs unless --harness-cpus says
                          where. Shares and calls per core are then of the pinned cores, and the
                          gateway's worker pool is sized to them: on one box, the way to measure
                          cores the load generator does not share
  --harness-cpus LIST     run the bench itself (callers, provider fake) on these CPUs only (alone:
                          the gateway gets the other CPUs)
  --gateway-env K=V       extra gateway setting (repeatable), e.g. WORKER_POOL_SIZE=1
  --workers N             the gateway's worker pool size (WORKER_POOL_SIZE)
  --audio FILE            caller audio, 8 kHz mu-law raw (default: the call shipped in the package,
                          three utterances of real speech over 13.7 s; its NAME.labels.json is read if beside it)
  --seed N                start offsets are random from this seed (default ${String(DEFAULTS.seed)})
  --egress-lead-ms MS     the gateway's EGRESS_LEAD_MS (default ${String(DEFAULTS.egressLeadMs)}); its start-of-reply burst is left out of jitter
  --late-ms MS            a reply frame is late when it arrives this long after playout ran dry (default ${String(DEFAULTS.lateBoundMs)})
  --late-in-ms MS         a caller frame is late when it reaches the provider this long after it was sent
                          (default ${String(DEFAULTS.lateIngressMs)}, plus the chunk's hold when --gateway-env sets
                          PROVIDER_AUDIO_CHUNK_MS: 100 for 60 ms chunks)
  --cpu-prof DIR          run the gateway under --cpu-prof, profiles into DIR
  -q, --quiet             no progress lines

Bench extension: run from a source checkout of voice-gateway (the package root holds
${CHECKOUT_EXTENSION}, and tsx is installed), the command loads that file, which adds providers and
--baseline; an installed package has none. \`npm run bench -- [options]\` in the checkout does the same.
`;

function helpText(extension: BenchExtension | undefined, loadError: string | undefined): string {
  if (extension) return `${HELP}\nLoaded: ${extension.name}\n${extension.help ?? ''}`;
  if (loadError) return `${HELP}\nNot loaded: ${loadError}\n`;
  return HELP;
}

function num(v: string | undefined, name: string, fallback: number, min = 0): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw usageError(`--${name} must be a number >= ${String(min)}, got '${v}'`);
  return n;
}

function oneOf<T extends string>(v: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw usageError(`--${name} must be one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

function cpuList(v: string, name: string, allowed: readonly number[]): number[] {
  let cpus: number[];
  try {
    cpus = parseCpuList(v);
  } catch (err) {
    throw usageError(`--${name}: ${(err as Error).message}`);
  }
  const missing = cpus.filter((c) => !allowed.includes(c));
  if (missing.length > 0) throw usageError(`--${name}: this process may run on CPU ${allowed.join(',')}, not ${missing.join(',')}`);
  return cpus;
}

/**
 * --gateway-cpus / --harness-cpus. Given one list, the other side takes the rest of the CPUs this
 * process may use (none left: refused, as the two would share). They must not overlap: the point is
 * cores nobody shares. A gateway started by a pinned bench would inherit the bench's CPUs, so the
 * gateway is always pinned when the bench is.
 */
function cpuLists(gateway: string | undefined, harness: string | undefined, external: boolean): { gatewayCpus?: number[]; harnessCpus?: number[] } {
  if (gateway === undefined && harness === undefined) return {};
  if (external) throw usageError('--gateway-cpus / --harness-cpus pin a gateway the bench starts itself (no --url)');
  const flag = gateway !== undefined ? 'gateway-cpus' : 'harness-cpus';
  let allowed: number[];
  try {
    assertPinningAvailable();
    allowed = allowedCpus('self');
  } catch (err) {
    throw usageError(`--${flag}: ${(err as Error).message}`);
  }
  const rest = (taken: readonly number[], name: string) => {
    const left = allowed.filter((c) => !taken.includes(c));
    if (left.length === 0) throw usageError(`--${name} leaves no CPU for the other side; give both --gateway-cpus and --harness-cpus`);
    return left;
  };
  let gatewayCpus = gateway === undefined ? undefined : cpuList(gateway, 'gateway-cpus', allowed);
  let harnessCpus = harness === undefined ? undefined : cpuList(harness, 'harness-cpus', allowed);
  if (gatewayCpus && harnessCpus) {
    const shared = harnessCpus.filter((c) => gatewayCpus!.includes(c));
    if (shared.length > 0) throw usageError(`--gateway-cpus and --harness-cpus share CPU ${shared.join(',')}`);
  }
  gatewayCpus ??= rest(harnessCpus!, 'harness-cpus');
  harnessCpus ??= rest(gatewayCpus, 'gateway-cpus');
  return { gatewayCpus, harnessCpus };
}

export type BenchArgs = BenchOptions & { json?: string; md?: string; help: boolean };

/** Parses the flags; providers and --baseline are checked against `extension` (none: the product's own). */
export function parseBenchArgs(argv: string[], env: Record<string, string | undefined>, extension?: BenchExtension): BenchArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        calls: { type: 'string' }, duration: { type: 'string' }, ramp: { type: 'string' }, transport: { type: 'string' },
        provider: { type: 'string' }, vad: { type: 'string' }, baseline: { type: 'boolean' }, 'reply-delay-ms': { type: 'string' },
        'find-max': { type: 'boolean' }, 'start-calls': { type: 'string' }, 'step-runs': { type: 'string' }, rounds: { type: 'string' }, 'max-calls': { type: 'string' }, url: { type: 'string' },
        pid: { type: 'string' }, json: { type: 'string' }, md: { type: 'string' }, 'gateway-env': { type: 'string', multiple: true },
        workers: { type: 'string' }, audio: { type: 'string' }, seed: { type: 'string' }, 'egress-lead-ms': { type: 'string' },
        'late-ms': { type: 'string' }, 'late-in-ms': { type: 'string' }, 'cpu-prof': { type: 'string' }, 'max-p99-ms': { type: 'string' }, 'max-jitter-ms': { type: 'string' },
        'max-cpu-share': { type: 'string' }, processes: { type: 'string' }, 'gateway-cpus': { type: 'string' }, 'harness-cpus': { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const vads = (values.vad ?? 'silero').split(',').map((v) => oneOf(v.trim(), 'vad', ['silero', 'energy', 'off'] as const, 'silero')) as VadSetting[];
  const { gatewayCpus, harnessCpus } = cpuLists(values['gateway-cpus'], values['harness-cpus'], values.url !== undefined);
  const processes = (values.processes ?? '1').split(',').map((v) => (v.trim() === 'auto' ? (gatewayCpus?.length ?? availableParallelism()) : num(v.trim(), 'processes', 1, 1)));
  const gatewayEnv: Record<string, string> = {};
  for (const kv of values['gateway-env'] ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw usageError(`--gateway-env takes KEY=VALUE, got '${kv}'`);
    gatewayEnv[kv.slice(0, i)] = kv.slice(i + 1);
  }
  if (values.workers !== undefined) gatewayEnv.WORKER_POOL_SIZE = String(num(values.workers, 'workers', 1, 1));
  const quiet = values.quiet === true;
  const args: BenchArgs = {
    help: values.help === true,
    calls: num(values.calls, 'calls', DEFAULTS.calls, 1),
    durationS: num(values.duration, 'duration', DEFAULTS.durationS, 1),
    rampS: values.ramp === undefined ? undefined : num(values.ramp, 'ramp', 2, 0),
    settleS: DEFAULTS.settleS,
    transport: oneOf(values.transport, 'transport', CARRIER_NAMES, DEFAULTS.transport),
    provider: values.provider ?? DEFAULTS.provider,
    vads,
    processes,
    baseline: values.baseline === true,
    replyDelayMs: num(values['reply-delay-ms'], 'reply-delay-ms', DEFAULTS.replyDelayMs),
    url: values.url,
    pid: values.pid === undefined ? undefined : num(values.pid, 'pid', 0, 1),
    twilioAuthToken: env.TWILIO_AUTH_TOKEN,
    findMax: values['find-max'] === true,
    startCalls: num(values['start-calls'], 'start-calls', DEFAULTS.startCalls, 1),
    maxCalls: num(values['max-calls'], 'max-calls', DEFAULTS.maxCalls, 1),
    stepRuns: num(values['step-runs'], 'step-runs', DEFAULTS.stepRuns, 1),
    rounds: num(values.rounds, 'rounds', DEFAULTS.rounds, 1),
    criteria: {
      addedP99Ms: num(values['max-p99-ms'], 'max-p99-ms', DEFAULTS.criteria.addedP99Ms),
      jitterP99Ms: num(values['max-jitter-ms'], 'max-jitter-ms', DEFAULTS.criteria.jitterP99Ms),
      cpuShare: num(values['max-cpu-share'], 'max-cpu-share', DEFAULTS.criteria.cpuShare),
    },
    seed: num(values.seed, 'seed', DEFAULTS.seed),
    audioPath: values.audio,
    gatewayEnv,
    egressLeadMs: num(values['egress-lead-ms'], 'egress-lead-ms', DEFAULTS.egressLeadMs),
    lateBoundMs: num(values['late-ms'], 'late-ms', DEFAULTS.lateBoundMs),
    lateIngressMs: values['late-in-ms'] === undefined ? undefined : num(values['late-in-ms'], 'late-in-ms', DEFAULTS.lateIngressMs, 1),
    cpuProfileDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    gatewayCpus,
    harnessCpus,
    baseEnv: env,
    log: quiet ? () => undefined : (line) => process.stderr.write(`bench: ${line}\n`),
    json: values.json,
    md: values.md,
  };
  if (!args.help) {
    try {
      checkRoundsFit(args);
      checkExtensionFits(args, extension);
    } catch (err) {
      throw usageError((err as Error).message);
    }
  }
  return args;
}

export function printReport(report: BenchReport): string {
  const out: string[] = [];
  if (report.runs.length > 0) out.push(textTable(tableRows(report.runs)));
  if (report.ratios) out.push('', textTable(ratioRows(report.ratios)));
  if (report.rounds?.length) out.push('', textTable(roundsRows(report.rounds)));
  for (const fm of report.findMax ?? []) out.push('', ...findMaxLines(fm));
  // Once each: with --rounds every round repeats its runs' start-up warnings.
  const warnings = [...new Set(report.runs.flatMap((r) => r.warnings.slice(0, 5).map((w) => `  ${r.label}: ${w}`)))];
  if (warnings.length > 0) out.push('', 'warnings:', ...warnings);
  return out.join('\n') + '\n';
}

function defaultJsonPath(): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return existsSync('bench/results') ? `bench/results/bench-${stamp}.json` : `voice-gateway-bench-${stamp}.json`;
}

export function writeReport(report: BenchReport, json: string, md?: string): void {
  mkdirSync(dirname(resolve(json)), { recursive: true });
  writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  if (md) {
    mkdirSync(dirname(resolve(md)), { recursive: true });
    writeFileSync(md, markdown(report));
  }
}

export interface RunOverrides {
  /** The extension to use; null: none; undefined: the source checkout's, when this runs from one. */
  readonly extension?: BenchExtension | null;
  /** How to start the gateway (node arguments), e.g. the checkout's dist/ from `npm run bench`. */
  readonly gatewayCommand?: string[];
}

export async function run(argv: string[], overrides: RunOverrides = {}): Promise<number> {
  let extension = overrides.extension ?? undefined;
  let loadError: string | undefined;
  if (overrides.extension === undefined) {
    try {
      extension = await loadCheckoutExtension();
    } catch (err) {
      loadError = (err as Error).message;
    }
  }
  let opts: BenchArgs;
  try {
    opts = parseBenchArgs(argv, process.env, extension);
  } catch (err) {
    if (loadError) process.stderr.write(`voice-gateway bench: the checkout's bench extension was not loaded: ${loadError}\n`);
    throw err;
  }
  if (opts.help) {
    process.stdout.write(helpText(extension, loadError));
    return 0;
  }
  if (overrides.gatewayCommand && !opts.gatewayCommand) opts = { ...opts, gatewayCommand: overrides.gatewayCommand };
  let report: BenchReport;
  try {
    report = await runBench(opts, extension);
  } catch (err) {
    process.stderr.write(`voice-gateway bench: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(printReport(report));
  const json = opts.json ?? defaultJsonPath();
  writeReport(report, json, opts.md);
  process.stderr.write(`bench: wrote ${json}${opts.md ? ` and ${opts.md}` : ''}\n`);
  return 0;
}
