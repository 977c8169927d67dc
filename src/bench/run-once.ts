/**
 * One load run against one bridge: start the provider side and the bridge's process, take an idle
 * resource snapshot, drive the calls (snapshots as the window opens and closes), let the calls end,
 * read the final counters, stop everything, and turn it all into a RunResult.
 */
import type { CallerAudio } from './caller-audio.js';
import { FRAME_MS } from './caller-audio.js';
import { FrameLedger } from './ledger.js';
import { runLoad, type LoadResult } from './load-driver.js';
import { bucketQuantile, promBucketDeltas, promByLabel, promValue, type PromSample } from './prom-text.js';
import type { Transport } from './extension.js';
import type { ProviderSetup } from './providers.js';
import type { Quantiles, RunResult } from './result.js';
import { LATE_INGRESS_MS, lateIngressDefault } from './late-bound.js';
import { attachTarget, startTarget, type ResourceSample, type TargetKind, type TargetProcess } from './target-process.js';

export interface RunSpec {
  readonly target: TargetKind;
  /** Gateway processes (PROCESSES); 1: one process, as before. */
  readonly processes?: number;
  readonly calls: number;
  readonly windowS: number;
  readonly rampS: number;
  readonly settleS: number;
  readonly transport: Transport;
  readonly vad: 'silero' | 'energy' | 'off';
  readonly provider: ProviderSetup;
  readonly replyDelayMs: number;
  readonly audio: CallerAudio;
  readonly seed: number;
  /** The environment the bridge processes inherit (the CLI passes its own). */
  readonly baseEnv: Record<string, string | undefined>;
  /** Extra gateway settings (KEY=VALUE from --gateway-env), applied last. */
  readonly gatewayEnv: Record<string, string>;
  readonly egressLeadMs: number;
  readonly lateBoundMs: number;
  /** undefined: lateIngressDefault() on the settings the target is started with. */
  readonly lateIngressMs: number | undefined;
  readonly cpuProfileDir?: string;
  /** The bridge process runs on these CPUs only (--gateway-cpus; the baseline gets the same). */
  readonly cpus?: readonly number[];
  /** The cores the bridge may use, for its share: the pinned ones, else the machine's. */
  readonly cores: number;
  /** How to start the gateway (node arguments); default: dist when running from dist, else source via tsx. */
  readonly gatewayCommand?: string[];
  /** How to start the baseline bridge (its extension's command); needed when target is 'baseline'. */
  readonly baselineCommand?: string[];
  /** Drive a gateway that is already running here instead of starting one (and its pid, for /proc). */
  readonly url?: string;
  readonly pid?: number;
  /** Twilio auth token the gateway at --url checks signatures with. */
  readonly twilioAuthToken?: string;
  readonly log: (line: string) => void;
}

const BENCH_TWILIO_TOKEN = 'bench-twilio-auth-token';
const MiB = 1024 * 1024;

const r1 = (n: number) => Number(n.toFixed(1));
const r3 = (n: number) => Number(n.toFixed(3));

function gatewayEnv(spec: RunSpec, providerEnv: Record<string, string>): Record<string, string | undefined> {
  return {
    ...spec.baseEnv,
    LOG_LEVEL: 'warn',
    VAD_ENGINE: spec.vad,
    CALL_RECORD_PATH: ':memory:',
    SHUTDOWN_DEADLINE_MS: '2000',
    // Signed like the carrier signs: the per-call webhook and handshake checks are part of the cost.
    TWILIO_AUTH_TOKEN: spec.transport === 'twilio' ? BENCH_TWILIO_TOKEN : undefined,
    // A provider slower than the response deadline would be failed over; the bench sets the delay on purpose.
    PROVIDER_RESPONSE_TIMEOUT_MS: String(Math.max(1500, spec.replyDelayMs + 3000)),
    EGRESS_LEAD_MS: String(spec.egressLeadMs),
    ...providerEnv,
    ...((spec.processes ?? 1) > 1 ? { PROCESSES: String(spec.processes) } : {}),
    ...spec.gatewayEnv,
  };
}

function quantilesOf(m: PromSample[], direction: string): Quantiles {
  const q = (quantile: string) => r3(promValue(m, 'voice_gateway_pipeline_latency_seconds', { direction, quantile }) * 1000);
  return { p50: q('0.5'), p90: q('0.9'), p99: q('0.99'), p999: q('0.999'), max: q('1') };
}

function pacingOf(m: PromSample[]): Quantiles {
  const q = (quantile: string) => r3(promValue(m, 'voice_gateway_egress_pacing_jitter_seconds', { quantile }) * 1000);
  return { p50: q('0.5'), p90: q('0.9'), p99: q('0.99'), p999: q('0.999'), max: q('1') };
}

function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) !== 0) out[k] = v - (before[k] ?? 0);
  return out;
}

/** Gateway drop stages that lose audio (barge_in and switch drops are the caller's or the failover's choice). */
// ingress_overflow is kept for gateways from before the synchronous ingress graph (bench --url).
const LOSSY_INGRESS_STAGES = ['ingress_overflow', 'provider_hold'];
const LOSSY_EGRESS_STAGES = ['egress_overflow'];

export async function runOnce(spec: RunSpec): Promise<RunResult> {
  const tailS = 30 + spec.replyDelayMs / 1000;
  // Ramp, settle, up to 30 s of call set-up, the window, the drain, and slack.
  const maxFrames = Math.ceil(((spec.rampS + spec.settleS + 30 + spec.windowS + tailS + 10) * 1000) / FRAME_MS);
  const ledger = new FrameLedger({ calls: spec.calls, maxFrames, lateIngressMs: spec.lateIngressMs ?? LATE_INGRESS_MS });
  const provider = await spec.provider.start(ledger);
  let target: TargetProcess | undefined;
  try {
    if (spec.target === 'baseline' && !provider.baselineEnv) throw new Error(`the baseline bridge cannot run against provider ${spec.provider.name} (it gives no settings for it)`);
    const env = spec.target === 'gateway' ? gatewayEnv(spec, provider.gatewayEnv) : { ...spec.baseEnv, ...provider.baselineEnv };
    ledger.lateIngressMs = spec.lateIngressMs ?? lateIngressDefault(env, spec.vad, spec.target);
    target = spec.url ? attachTarget(spec.url, spec.pid) : await startTarget({ kind: spec.target, env, cpuProfileDir: spec.cpuProfileDir, cpus: spec.cpus, command: spec.target === 'gateway' ? spec.gatewayCommand : spec.baselineCommand });
    const t = target;
    spec.log(`${spec.target} up (pid ${String(t.pid)}): ${String(spec.calls)} calls, ${String(spec.rampS)} s ramp, ${String(spec.windowS)} s window`);
    await new Promise((r) => setTimeout(r, 500));
    const idle = await t.resources();
    const metrics0 = (await t.metrics()) ?? [];
    let start: ResourceSample | undefined;
    let end: ResourceSample | undefined;
    let metricsEnd: PromSample[] | undefined;
    const load = await runLoad({
      baseUrl: t.baseUrl,
      transport: spec.transport,
      calls: spec.calls,
      audio: spec.audio,
      rampMs: spec.rampS * 1000,
      settleMs: spec.settleS * 1000,
      windowMs: spec.windowS * 1000,
      ledger,
      tagged: spec.provider.tagged,
      sessionsUp: spec.provider.tagged ? () => ledger.sessionsUp() : undefined,
      egressLeadMs: spec.egressLeadMs,
      lateBoundMs: spec.lateBoundMs,
      quietMs: 1500 + spec.replyDelayMs,
      drainMaxMs: tailS * 1000,
      seed: spec.seed,
      twilioAuthToken: spec.url ? spec.twilioAuthToken : spec.target === 'gateway' && spec.transport === 'twilio' ? BENCH_TWILIO_TOKEN : undefined,
      onWindow: async (edge) => {
        if (edge === 'start') start = await t.resources();
        else {
          end = await t.resources();
          metricsEnd = await t.metrics();
        }
      },
      log: spec.log,
    });
    // Calls end asynchronously in the bridge (provider sessions close): let the counters settle.
    await new Promise((r) => setTimeout(r, 1000));
    const metricsFinal = (await t.metrics()) ?? [];
    const providerLoopDelayP99Ms = await provider.loopDelayP99Ms?.();
    return summarise(spec, load, providerLoopDelayP99Ms, ledger, t, { idle, start: start!, end: end! }, metrics0, metricsEnd, metricsFinal);
  } finally {
    await target?.stop();
    await provider.close();
  }
}

function summarise(
  spec: RunSpec,
  load: LoadResult,
  providerLoop: number | undefined,
  ledger: FrameLedger,
  target: TargetProcess,
  res: { idle: ResourceSample; start: ResourceSample; end: ResourceSample },
  metrics0: PromSample[],
  metricsEnd: PromSample[] | undefined,
  metricsFinal: PromSample[],
): RunResult {
  const isGateway = spec.target === 'gateway';
  const counter = (name: string, label: string) => delta(promByLabel(metricsFinal, name, label), promByLabel(metrics0, name, label));
  const gatewayDropped = isGateway ? counter('voice_gateway_frames_dropped_total', 'stage') : undefined;
  const gatewayRejected = isGateway ? counter('voice_gateway_media_rejected_total', 'reason') : undefined;
  const sum = (rec: Record<string, number> | undefined, keys: string[]) => keys.reduce((n, k) => n + (rec?.[k] ?? 0), 0);
  const sent = load.framesSent.reduce((a, b) => a + b, 0);

  let frames: RunResult['frames'];
  if (spec.provider.tagged) {
    const t = ledger.tally(load.framesSent);
    const lost = { ingress: t.lostIngress + load.framesUnsent, ingressWhileConnecting: t.lostIngressConnecting, egress: t.lostEgress, total: 0 };
    lost.total = lost.ingress + lost.ingressWhileConnecting + lost.egress;
    frames = {
      accounting: 'tags', scheduled: load.framesScheduled, sent, atProvider: t.atProvider, received: load.framesReceived, lost,
      late: { egress: load.egressLate, egressOutsideWindow: load.egressLateOutsideWindow, ingress: t.lateIngress },
      droppedByInterruption: t.droppedByInterruption, responses: t.responses, gatewayDropped, gatewayRejected,
    };
  } else {
    const framesIn = promValue(metricsFinal, 'voice_gateway_frames_in_total') - promValue(metrics0, 'voice_gateway_frames_in_total');
    const framesOut = promValue(metricsFinal, 'voice_gateway_frames_out_total') - promValue(metrics0, 'voice_gateway_frames_out_total');
    const lost = {
      ingress: sent - framesIn + sum(gatewayDropped, LOSSY_INGRESS_STAGES) + load.framesUnsent,
      ingressWhileConnecting: 0,
      egress: Math.max(0, framesOut - load.framesReceived) + sum(gatewayDropped, LOSSY_EGRESS_STAGES),
      total: 0,
    };
    lost.total = lost.ingress + lost.egress;
    frames = {
      accounting: 'gateway-counters', scheduled: load.framesScheduled, sent, atProvider: undefined, received: load.framesReceived, lost,
      late: { egress: load.egressLate, egressOutsideWindow: load.egressLateOutsideWindow, ingress: undefined },
      droppedByInterruption: gatewayDropped?.barge_in, responses: undefined, gatewayDropped, gatewayRejected,
    };
  }

  const wallSeconds = (res.end.at - res.start.at) / 1000;
  const cpuSeconds = res.end.cpuSeconds - res.start.cpuSeconds;
  const calls = Math.max(1, load.callsConnected);
  const coresUsed = cpuSeconds / wallSeconds;
  const heapPer = res.end.heapUsedBytes !== undefined && res.idle.heapUsedBytes !== undefined ? (res.end.heapUsedBytes - res.idle.heapUsedBytes) / calls / 1024 : undefined;
  const m = metricsEnd;
  const fixed = m ? promByLabel(m, 'voice_gateway_pipeline_fixed_delay_seconds', 'stage') : undefined;
  const gatewayCount = (name: string) => promValue(metricsFinal, name) - promValue(metrics0, name);
  const harnessSaturated = load.harness.sendLag.p99 > 10 || load.harness.eventLoopDelayP99Ms > 10 || (providerLoop ?? 0) > 10;
  const warnings = dedupe(target.warnings);
  if (harnessSaturated) {
    const fake = providerLoop === undefined ? '' : `, the provider fake's loop delay p99 ${String(providerLoop)} ms`;
    warnings.unshift(`the load generator itself lagged (send lag p99 ${String(load.harness.sendLag.p99)} ms, event-loop delay p99 ${String(load.harness.eventLoopDelayP99Ms)} ms${fake}): figures at this load are bounded by the harness`);
  }
  const fallbacks = counter('voice_gateway_vad_fallbacks_total', 'reason');
  const fellBack = Object.values(fallbacks).reduce((a, b) => a + b, 0);
  if (isGateway && fellBack > 0) {
    warnings.unshift(`${String(fellBack)} of ${String(load.callsConnected)} calls fell back from Silero to the energy VAD (${Object.keys(fallbacks).join(', ')}): this run's "silero" figures are partly the energy VAD's`);
  }
  if (!spec.provider.tagged && spec.vad === 'off') warnings.push('VAD off with the echo provider: no turns end, so no replies; egress is not exercised');

  return {
    target: spec.target,
    label: isGateway ? `gateway (vad ${spec.vad}, ${spec.provider.name}${(spec.processes ?? 1) > 1 ? `, ${String(spec.processes)} processes` : ''})` : `baseline bridge (${spec.provider.name}, server VAD)`,
    calls: spec.calls,
    callsConnected: load.callsConnected,
    callsFailed: load.callsFailed,
    callsDropped: load.callsDropped,
    failures: load.failures,
    windowS: r3(wallSeconds),
    frames,
    latency: {
      added: isGateway && m ? { ingress: quantilesOf(m, 'ingress'), egress: quantilesOf(m, 'egress') } : undefined,
      through: spec.provider.tagged ? { ingress: ledger.ingress.summary(), egress: ledger.egressFirstFrame.summary() } : undefined,
      reply: load.replyLatency,
    },
    fixedDelaysMs: fixed ? Object.fromEntries(Object.entries(fixed).map(([k, v]) => [k, r3(v * 1000)])) : undefined,
    egressJitter: load.egressJitter,
    egressPacing: isGateway && m ? pacingOf(m) : undefined,
    cpu: {
      seconds: r3(cpuSeconds),
      wallSeconds: r3(wallSeconds),
      coresUsed: r3(coresUsed),
      cores: spec.cores,
      shareOfMachine: r3(coresUsed / spec.cores),
      msPerCallSecond: r3((cpuSeconds * 1000) / (calls * wallSeconds)),
      mainThreadMsPerCallSecond:
        res.end.mainThreadCpuSeconds === undefined || res.start.mainThreadCpuSeconds === undefined
          ? undefined
          : r3(((res.end.mainThreadCpuSeconds - res.start.mainThreadCpuSeconds) * 1000) / (calls * wallSeconds)),
    },
    memory: {
      rssIdleMiB: r1(res.idle.rssBytes / MiB),
      rssLoadedMiB: r1(res.end.rssBytes / MiB),
      rssPerCallKiB: r1((res.end.rssBytes - res.idle.rssBytes) / calls / 1024),
      heapIdleMiB: res.idle.heapUsedBytes === undefined ? undefined : r1(res.idle.heapUsedBytes / MiB),
      heapLoadedMiB: res.end.heapUsedBytes === undefined ? undefined : r1(res.end.heapUsedBytes / MiB),
      heapPerCallKiB: heapPer === undefined ? undefined : r1(heapPer),
    },
    eventLoopDelayP99Ms: res.end.eventLoopDelayP99Ms === undefined ? undefined : r3(res.end.eventLoopDelayP99Ms),
    caller: { marksEchoed: load.marksEchoed, clears: load.clears },
    gateway: isGateway
      ? {
          turns: gatewayCount('voice_gateway_turns_total'),
          bargeIns: gatewayCount('voice_gateway_barge_ins_total'),
          providerErrors: gatewayCount('voice_gateway_provider_errors_total'),
          switches: gatewayCount('voice_gateway_provider_switches_total'),
          vadFallbacks: fallbacks,
          vadWindows: counter('voice_gateway_vad_windows_total', 'engine'),
          vadBatchMean: batchMean(gatewayCount('voice_gateway_vad_batch_size_windows_sum'), gatewayCount('voice_gateway_vad_batch_size_windows_count')),
          ...bargeInReaction(promBucketDeltas(metricsFinal, metrics0, 'voice_gateway_barge_in_reaction_seconds_bucket')),
        }
      : undefined,
    harness: { ...load.harness, ...(providerLoop === undefined ? {} : { providerLoopDelayP99Ms: providerLoop }), drainMs: load.drainMs, saturated: harnessSaturated },
    warnings,
  };
}

/** The window's barge-in reaction quantiles from its bucket deltas; nothing when none was timed. */
function bargeInReaction(buckets: Record<string, number>): { bargeInReactionMs?: { count: number; p50: number; p95: number } } {
  const p50 = bucketQuantile(buckets, 0.5);
  const p95 = bucketQuantile(buckets, 0.95);
  if (p50 === undefined || p95 === undefined) return {};
  return { bargeInReactionMs: { count: buckets['+Inf'] ?? 0, p50: r1(p50 * 1000), p95: r1(p95 * 1000) } };
}

function batchMean(windows: number, batches: number): number | undefined {
  return batches > 0 ? r3(windows / batches) : undefined;
}

function dedupe(lines: string[]): string[] {
  const counts = new Map<string, number>();
  for (const l of lines) counts.set(l, (counts.get(l) ?? 0) + 1);
  return [...counts].map(([l, n]) => (n > 1 ? `${l} (x${String(n)})` : l));
}
