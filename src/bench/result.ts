/** What one load run reports (the JSON schema of a run), and the pass/fail criteria of --find-max. */
import type { Summary } from './stats.js';
import type { TargetKind } from './target-process.js';

/** Quantiles the gateway exports for its own per-frame latency (no count: they are gauges). */
export type Quantiles = Omit<Summary, 'count' | 'mean'>;

export interface RunResult {
  target: TargetKind;
  label: string;
  /** With --rounds N (N > 1): which round, from 1. */
  round?: number;
  calls: number;
  callsConnected: number;
  callsFailed: number;
  callsDropped: number;
  failures: string[];
  windowS: number;
  frames: {
    /** 'tags': every frame matched by its tag at the provider and back; 'gateway-counters': by the gateway's own counts. */
    accounting: 'tags' | 'gateway-counters';
    scheduled: number;
    sent: number;
    atProvider: number | undefined;
    received: number;
    lost: { ingress: number; ingressWhileConnecting: number; egress: number; total: number };
    late: { egress: number; egressOutsideWindow: number; ingress: number | undefined };
    /** Reply frames not played because the reply was interrupted (barge-in, superseded): by design. */
    droppedByInterruption: number | undefined;
    responses: number | undefined;
    gatewayDropped: Record<string, number> | undefined;
    gatewayRejected: Record<string, number> | undefined;
  };
  latency: {
    /** The gateway's own per-frame figures (/metrics, since the gateway process started). */
    added: { ingress: Quantiles; egress: Quantiles } | undefined;
    /** Through the bridge, on the load generator's clock (tags; measurement window). */
    through: { ingress: Summary; egress: Summary } | undefined;
    /** End of the caller's utterance to the first frame of the reply it hears (includes turn detection and the provider's delay). */
    reply: Summary;
  };
  fixedDelaysMs: Record<string, number> | undefined;
  /** |interval - 20 ms| between paced reply frames as the callers received them (network and harness included). */
  egressJitter: Summary;
  /** The same at the gateway's write (/metrics, since the gateway started): its own pacing precision. */
  egressPacing: Quantiles | undefined;
  cpu: {
    seconds: number;
    wallSeconds: number;
    coresUsed: number;
    /** The cores the bridge could use: the machine's, or the ones --gateway-cpus gave it. */
    cores: number;
    /** coresUsed / cores (named when it was always the machine's; kept for older result files). */
    shareOfMachine: number;
    msPerCallSecond: number;
    /** The main threads' part of msPerCallSecond (the rest: VAD workers, GC and libuv threads); undefined without /proc. */
    mainThreadMsPerCallSecond?: number;
  };
  memory: { rssIdleMiB: number; rssLoadedMiB: number; rssPerCallKiB: number; heapIdleMiB: number | undefined; heapLoadedMiB: number | undefined; heapPerCallKiB: number | undefined };
  eventLoopDelayP99Ms: number | undefined;
  /** What the callers were sent besides audio: marks they echoed back (after playout), clears. */
  caller: { marksEchoed: number; clears: number };
  gateway:
    | {
        turns: number;
        bargeIns: number;
        providerErrors: number;
        switches: number;
        vadFallbacks: Record<string, number>;
        /** VAD windows in the window, by engine (`silence_gate`: skipped Silero). */
        vadWindows: Record<string, number>;
        /** Mean windows per Silero batch; undefined when no batch ran. */
        vadBatchMean: number | undefined;
        /** Barge-ins the gateway's VAD timed in the window (voice_gateway_barge_in_reaction_seconds), ms. */
        bargeInReactionMs?: { count: number; p50: number; p95: number };
      }
    | undefined;
  harness: {
    sendLag: Summary;
    /** The callers' loop. */
    eventLoopDelayP99Ms: number;
    /** The provider fake's own loop, when it runs in a thread of the load generator (fake-openai). */
    providerLoopDelayP99Ms?: number;
    cpuSeconds: number;
    wallSeconds: number;
    drainMs: number;
    saturated: boolean;
  };
  warnings: string[];
}

export interface Criteria {
  addedP99Ms: number;
  jitterP99Ms: number;
  cpuShare: number;
}

export const DEFAULT_CRITERIA: Criteria = { addedP99Ms: 5, jitterP99Ms: 2, cpuShare: 0.8 };

/** Does a run hold the --find-max bar? Every reason it does not, in words. */
export function evaluate(r: RunResult, c: Criteria = DEFAULT_CRITERIA): { pass: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (r.callsFailed > 0 || r.callsDropped > 0) reasons.push(`${String(r.callsFailed)} calls failed, ${String(r.callsDropped)} dropped`);
  // "With Silero on every call": a call that fell back to the energy VAD is not one.
  const fallbacks = Object.values(r.gateway?.vadFallbacks ?? {}).reduce((a, b) => a + b, 0);
  if (fallbacks > 0) reasons.push(`${String(fallbacks)} calls fell back from Silero to the energy VAD`);
  const added = r.latency.added ?? (r.latency.through ? { ingress: r.latency.through.ingress, egress: r.latency.through.egress } : undefined);
  if (added) {
    for (const dir of ['ingress', 'egress'] as const) {
      if (added[dir].p99 > c.addedP99Ms) reasons.push(`${dir} added latency p99 ${String(added[dir].p99)} ms > ${String(c.addedP99Ms)} ms`);
    }
  }
  if (r.frames.lost.total > 0) reasons.push(`${String(r.frames.lost.total)} frames lost`);
  const late = r.frames.late.egress + (r.frames.late.ingress ?? 0);
  if (late > 0) reasons.push(`${String(late)} frames late`);
  // The bar is on the bridge's pacing, taken where the bridge writes when it reports it: on a shared
  // 2-core box the callers' clock adds the load generator's own scheduling (see the harness row).
  if (r.egressPacing) {
    if (r.egressPacing.p99 > c.jitterP99Ms) reasons.push(`egress pacing jitter p99 ${String(r.egressPacing.p99)} ms > ${String(c.jitterP99Ms)} ms`);
  } else if (r.egressJitter.p99 > c.jitterP99Ms) {
    reasons.push(`egress jitter p99 ${String(r.egressJitter.p99)} ms > ${String(c.jitterP99Ms)} ms`);
  }
  if (r.cpu.shareOfMachine > c.cpuShare) reasons.push(`CPU ${(r.cpu.shareOfMachine * 100).toFixed(0)}% of the cores > ${String(c.cpuShare * 100)}%`);
  return { pass: reasons.length === 0, reasons };
}
