/**
 * `voice-gateway bench`, as a function: the runs a set of options asks for (an extension's baseline
 * bridge, the gateway at each VAD setting, or a --find-max search per VAD setting) and the report
 * they make. Providers beyond echo and the reference bridge come from a BenchExtension.
 */
import { defaultAudioPath, loadCallerAudio } from './caller-audio.js';
import { PACKAGE_ROOT, type BenchExtension, type Transport, type VadSetting } from './extension.js';
import { findMax } from './find-max.js';
import { configuredProvider, echoProvider, type ProviderSetup } from './providers.js';
import { assertPinningAvailable, formatCpuList, pinProcess } from './cpu-pinning.js';
import { machineInfo, ratiosOf, type BenchReport, type FindMaxResult, type Ratios } from './report.js';
import { DEFAULT_CRITERIA, evaluate, type Criteria, type RunResult } from './result.js';
import { LATE_INGRESS_MS } from './late-bound.js';
import { summarizeRounds } from './rounds.js';
import { runOnce, type RunSpec } from './run-once.js';

export { lateIngressDefault } from './late-bound.js';

export type { VadSetting } from './extension.js';

/** The provider the product has; others are an extension's. */
export const BUILTIN_PROVIDERS = ['echo'] as const;

export interface BenchOptions {
  readonly calls: number;
  readonly durationS: number;
  readonly rampS?: number;
  readonly settleS: number;
  readonly transport: Transport;
  /** 'echo', or a provider of the extension runBench is given. */
  readonly provider: string;
  readonly vads: readonly VadSetting[];
  /** Gateway processes (serve --processes); each count runs for each VAD setting. Default [1]. */
  readonly processes?: readonly number[];
  readonly baseline: boolean;
  readonly replyDelayMs: number;
  readonly url?: string;
  readonly pid?: number;
  readonly twilioAuthToken?: string;
  readonly findMax: boolean;
  readonly startCalls: number;
  readonly maxCalls: number;
  /** find-max: runs per step at most, the majority decides (--step-runs). */
  readonly stepRuns?: number;
  /** The baseline and every gateway run, this many times over (--rounds; not with findMax). Default 1. */
  readonly rounds?: number;
  readonly criteria: Criteria;
  readonly seed: number;
  readonly audioPath?: string;
  readonly gatewayEnv: Record<string, string>;
  readonly egressLeadMs: number;
  readonly lateBoundMs: number;
  /** A caller frame later than this at the provider is late; undefined: lateIngressDefault(). */
  readonly lateIngressMs?: number;
  readonly cpuProfileDir?: string;
  /** The gateway (and baseline) process on these CPUs only; --gateway-cpus. */
  readonly gatewayCpus?: readonly number[];
  /** The bench process itself (callers, provider fake) on these CPUs only; --harness-cpus. */
  readonly harnessCpus?: readonly number[];
  readonly gatewayCommand?: string[];
  readonly baseEnv: Record<string, string | undefined>;
  readonly log: (line: string) => void;
}

export const DEFAULTS = {
  calls: 50,
  durationS: 30,
  settleS: 2,
  transport: 'twilio',
  provider: 'echo',
  vads: ['silero'],
  replyDelayMs: 200,
  startCalls: 25,
  maxCalls: 2000,
  stepRuns: 1,
  rounds: 1,
  criteria: DEFAULT_CRITERIA,
  seed: 1,
  egressLeadMs: 60,
  lateBoundMs: 0,
  lateIngressMs: LATE_INGRESS_MS,
} as const;

/** Calls start at up to 50 a second, never in under 2 s. */
export const rampFor = (calls: number) => Math.max(2, Math.ceil(calls / 50));

/** Refuses what the options ask of an extension that is not there, before anything starts. */
export function checkExtensionFits(opts: Pick<BenchOptions, 'provider' | 'baseline' | 'transport' | 'url'>, extension: BenchExtension | undefined): void {
  const known = [...BUILTIN_PROVIDERS, ...Object.keys(extension?.providers ?? {})];
  if (!opts.url && !known.includes(opts.provider)) {
    throw new Error(`--provider must be one of ${known.join(', ')}, got '${opts.provider}'` + (extension ? '' : " (others, such as fake-openai, are a source checkout's bench extension)"));
  }
  if (!opts.baseline) return;
  if (!extension?.baseline) throw new Error("--baseline needs a bench extension with a reference bridge (a source checkout's bench/extension.ts)");
  if (opts.url) throw new Error('--baseline compares with a gateway the bench starts itself (no --url)');
  if (!extension.baseline.transports.includes(opts.transport)) {
    throw new Error(`--baseline: ${extension.baseline.description} speaks ${extension.baseline.transports.join(', ')}, not ${opts.transport}`);
  }
}

/** Refuses a --rounds the bench cannot run: not a whole number >= 1, or with find-max (it has --step-runs). */
export function checkRoundsFit(opts: Pick<BenchOptions, 'rounds' | 'findMax'>): void {
  const rounds = opts.rounds ?? DEFAULTS.rounds;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a whole number >= 1, got ${String(rounds)}`);
  if (rounds > 1 && opts.findMax) throw new Error('--rounds repeats load runs; --find-max has --step-runs');
}

/** Where the caller audio came from, as the report names it (relative to the package when inside it). */
const audioName = (source: string) => (source.startsWith(PACKAGE_ROOT) ? source.slice(PACKAGE_ROOT.length) : source);

/**
 * With `harnessCpus`, this pins the calling process's threads to them for good (a CLI's run).
 * `run` makes one load run (tests give their own, to see which runs are asked for and how they pair).
 */
export async function runBench(opts: BenchOptions, extension?: BenchExtension, run: (spec: RunSpec) => Promise<RunResult> = runOnce): Promise<BenchReport> {
  checkExtensionFits(opts, extension);
  checkRoundsFit(opts);
  const rounds = opts.rounds ?? DEFAULTS.rounds;
  const startedAt = new Date().toISOString();
  const notes: string[] = [];
  // Before pinning: once the bench is pinned, availableParallelism() counts only its own CPUs.
  const machine = machineInfo();
  if (opts.gatewayCpus || opts.harnessCpus) assertPinningAvailable();
  // A gateway started by a pinned bench would inherit its CPUs and share them.
  if (opts.harnessCpus && !opts.gatewayCpus) throw new Error('harnessCpus needs gatewayCpus (the gateway would run on the bench\'s CPUs)');
  if (opts.harnessCpus) {
    pinProcess(process.pid, opts.harnessCpus);
    notes.push(`load generator pinned to CPU ${formatCpuList(opts.harnessCpus)}`);
  }
  if (opts.gatewayCpus) notes.push(`bridge processes pinned to CPU ${formatCpuList(opts.gatewayCpus)}: shares and calls per core are of ${String(opts.gatewayCpus.length)} core(s)`);
  const cores = opts.gatewayCpus?.length ?? machine.cpus;
  const exclusive = opts.gatewayCpus !== undefined && opts.harnessCpus !== undefined && !opts.harnessCpus.some((c) => opts.gatewayCpus!.includes(c));
  const audio = loadCallerAudio(opts.audioPath ?? defaultAudioPath());
  if (audio.source === 'synthetic') notes.push('caller audio: synthetic voiced tones (the shipped call was not found); pass --audio FILE (8 kHz mu-law) for speech');
  if (extension) notes.push(`bench extension: ${extension.name}`);
  const providerFor = async (vad: VadSetting): Promise<ProviderSetup> => {
    if (opts.url) return configuredProvider();
    if (opts.provider === 'echo') return echoProvider({ replyDelayMs: opts.replyDelayMs });
    const factory = extension?.providers?.[opts.provider];
    if (!factory) throw new Error(`unknown provider '${opts.provider}'`);
    return factory({ replyDelayMs: opts.replyDelayMs, vad });
  };
  const spec = (target: RunSpec['target'], vad: VadSetting, provider: ProviderSetup, calls: number, processes = 1): RunSpec => ({
    target,
    processes,
    calls,
    windowS: opts.durationS,
    rampS: opts.rampS ?? rampFor(calls),
    settleS: opts.settleS,
    transport: opts.transport,
    vad,
    provider,
    replyDelayMs: opts.replyDelayMs,
    audio,
    seed: opts.seed,
    baseEnv: opts.baseEnv,
    gatewayEnv: opts.gatewayEnv,
    egressLeadMs: opts.egressLeadMs,
    lateBoundMs: opts.lateBoundMs,
    lateIngressMs: opts.lateIngressMs,
    cpuProfileDir: opts.cpuProfileDir,
    cpus: opts.gatewayCpus,
    cores,
    gatewayCommand: opts.gatewayCommand,
    baselineCommand: target === 'baseline' ? extension?.baseline?.command() : undefined,
    url: opts.url,
    pid: opts.pid,
    twilioAuthToken: opts.twilioAuthToken,
    log: opts.log,
  });

  const runs: RunResult[] = [];
  const findMaxResults: FindMaxResult[] = [];
  const baselines: RunResult[] = [];
  // With rounds, every run is stamped with its round and the labels say which one in the log.
  const stamp = (r: RunResult, round: number): RunResult => (rounds > 1 ? { ...r, round } : r);
  for (let round = 1; round <= rounds; round++) {
    const of = rounds > 1 ? ` (round ${String(round)} of ${String(rounds)})` : '';
    if (opts.baseline) {
      opts.log(`baseline bridge: ${String(opts.calls)} calls${of}`);
      const baseline = stamp(await run(spec('baseline', 'off', await providerFor('off'), opts.calls)), round);
      baselines.push(baseline);
      runs.push(baseline);
    }
    for (const vad of opts.vads) {
      const provider = await providerFor(vad);
      for (const processes of opts.processes ?? [1]) {
        const each = processes > 1 ? `, ${String(processes)} processes` : '';
        if (opts.findMax) {
          const { result, runs: stepRuns } = await findMax({
            startCalls: opts.startCalls,
            maxCalls: opts.maxCalls,
            stepRuns: opts.stepRuns,
            criteria: opts.criteria,
            vad: vad + each,
            provider: provider.name,
            cores,
            cpus: opts.gatewayCpus,
            coresExclusive: exclusive,
            runAt: (calls) => run(spec('gateway', vad, provider, calls, processes)),
            log: opts.log,
          });
          findMaxResults.push(result);
          // With --step-runs a step may have failed runs too: the report shows one that passed.
          const atMax = stepRuns.find((r) => r.calls === result.maxCalls && evaluate(r, opts.criteria).pass) ?? stepRuns.find((r) => r.calls === result.maxCalls);
          if (atMax) runs.push(atMax);
        } else {
          opts.log(`gateway, vad ${vad}${each}: ${String(opts.calls)} calls${of}`);
          runs.push(stamp(await run(spec('gateway', vad, provider, opts.calls, processes)), round));
        }
      }
    }
  }
  let ratios: Record<string, Ratios> | undefined;
  if (baselines.length > 0) {
    // Each gateway run against the baseline of its own round; keyed by label (and round, with rounds).
    const baselineOf = (r: RunResult) => baselines.find((b) => b.round === r.round) ?? baselines[0];
    ratios = Object.fromEntries(
      runs.filter((r) => r.target === 'gateway').map((r) => [r.round === undefined ? r.label : `${r.label} #${String(r.round)}`, ratiosOf(r, baselineOf(r))]),
    );
  }
  return {
    schema: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    config: {
      calls: opts.calls,
      durationS: opts.durationS,
      rampS: opts.rampS ?? rampFor(opts.calls),
      settleS: opts.settleS,
      transport: opts.transport,
      provider: opts.url ? 'as configured' : opts.provider,
      vads: opts.vads,
      processes: opts.processes ?? [1],
      gatewayCpus: opts.gatewayCpus,
      harnessCpus: opts.harnessCpus,
      baseline: opts.baseline,
      replyDelayMs: opts.replyDelayMs,
      url: opts.url,
      rounds,
      findMax: opts.findMax ? { startCalls: opts.startCalls, maxCalls: opts.maxCalls, stepRuns: opts.stepRuns ?? DEFAULTS.stepRuns, criteria: opts.criteria } : undefined,
      seed: opts.seed,
      audio: audioName(audio.source),
      gatewayEnv: opts.gatewayEnv,
      egressLeadMs: opts.egressLeadMs,
      lateBoundMs: opts.lateBoundMs,
      lateIngressMs: opts.lateIngressMs,
    },
    runs,
    ratios,
    findMax: findMaxResults.length > 0 ? findMaxResults : undefined,
    rounds: rounds > 1 ? summarizeRounds(runs) : undefined,
    micro: undefined,
    notes,
  };
}
