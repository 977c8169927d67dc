/** A RunResult with every field set to a plain passing value, for tests of what reads run results. */
import type { RunResult } from '../../src/bench/result.js';

export const summary = (p99: number) => ({ count: 100, mean: p99 / 2, p50: p99 / 2, p90: p99, p99, p999: p99, max: p99 });
export const quantiles = (p99: number) => ({ p50: p99 / 2, p90: p99, p99, p999: p99, max: p99 });

export function run(over: Partial<RunResult> = {}): RunResult {
  return {
    target: 'gateway', label: 'gateway', calls: 10, callsConnected: 10, callsFailed: 0, callsDropped: 0, failures: [], windowS: 10,
    frames: {
      accounting: 'tags', scheduled: 1000, sent: 1000, atProvider: 1000, received: 800,
      lost: { ingress: 0, ingressWhileConnecting: 0, egress: 0, total: 0 },
      late: { egress: 0, egressOutsideWindow: 0, ingress: 0 },
      droppedByInterruption: 0, responses: 10, gatewayDropped: {}, gatewayRejected: {},
    },
    latency: { added: { ingress: quantiles(0.2), egress: quantiles(0.1) }, through: undefined, reply: summary(700) },
    fixedDelaysMs: undefined,
    egressJitter: summary(1),
    egressPacing: quantiles(1),
    cpu: { seconds: 1, wallSeconds: 10, coresUsed: 0.1, cores: 2, shareOfMachine: 0.05, msPerCallSecond: 10 },
    memory: { rssIdleMiB: 100, rssLoadedMiB: 110, rssPerCallKiB: 1000, heapIdleMiB: 10, heapLoadedMiB: 11, heapPerCallKiB: 100 },
    eventLoopDelayP99Ms: 2,
    caller: { marksEchoed: 10, clears: 0 },
    gateway: { turns: 10, bargeIns: 0, providerErrors: 0, switches: 0, vadFallbacks: {}, vadWindows: {}, vadBatchMean: undefined },
    harness: { sendLag: summary(1), eventLoopDelayP99Ms: 1, cpuSeconds: 1, wallSeconds: 10, drainMs: 100, saturated: false },
    warnings: [],
    ...over,
  };
}
