import { describe, expect, it } from 'vitest';
import { findMax } from '../../src/bench/find-max.js';
import { findMaxLines } from '../../src/bench/report.js';
import { DEFAULT_CRITERIA, evaluate } from '../../src/bench/result.js';
import { quantiles, run, summary } from './run-fixture.js';

describe('find-max bar', () => {
  it('passes a clean run and names every reason a run fails', () => {
    expect(evaluate(run())).toEqual({ pass: true, reasons: [] });
    const bad = evaluate(run({
      callsFailed: 1,
      gateway: { turns: 1, bargeIns: 0, providerErrors: 0, switches: 0, vadFallbacks: { backlog: 2 }, vadWindows: {}, vadBatchMean: undefined },
      latency: { added: { ingress: quantiles(6), egress: quantiles(0.1) }, through: undefined, reply: summary(700) },
      cpu: { seconds: 1, wallSeconds: 10, coresUsed: 1.8, cores: 2, shareOfMachine: 0.9, msPerCallSecond: 10 },
    }));
    expect(bad.pass).toBe(false);
    expect(bad.reasons.join('; ')).toMatch(/1 calls failed.*2 calls fell back.*ingress added latency p99 6 ms.*CPU 90%/);
  });

  it("judges pacing where the gateway writes when it reports it, else at the callers' ears", () => {
    // The callers saw 4 ms (their own scheduling and the loopback), the gateway paced within 1 ms.
    expect(evaluate(run({ egressJitter: summary(4), egressPacing: quantiles(1) })).pass).toBe(true);
    expect(evaluate(run({ egressJitter: summary(1), egressPacing: quantiles(3) })).reasons).toEqual([
      'egress pacing jitter p99 3 ms > 2 ms',
    ]);
    // The baseline bridge reports nothing of its own: the callers' figure is the one judged.
    expect(evaluate(run({ egressJitter: summary(4), egressPacing: undefined })).reasons).toEqual(['egress jitter p99 4 ms > 2 ms']);
  });
});

describe('find-max --step-runs', () => {
  /** A run at `calls` that fails when `fails(calls, nth)` says so (one failed call). */
  function search(stepRuns: number, fails: (calls: number, nth: number) => boolean) {
    const asked: number[] = [];
    return {
      asked,
      done: findMax({
        startCalls: 20,
        maxCalls: 200,
        stepRuns,
        criteria: DEFAULT_CRITERIA,
        vad: 'silero',
        provider: 'echo',
        cores: 2,
        runAt: (calls) => {
          const nth = asked.filter((c) => c === calls).length;
          asked.push(calls);
          return Promise.resolve(run({ calls, callsFailed: fails(calls, nth) ? 1 : 0 }));
        },
        log: () => undefined,
      }),
    };
  }

  it('one run per step by default: a single stall at 40 calls ends the search below 40', async () => {
    const { done, asked } = search(1, (calls, nth) => calls > 90 || (calls === 40 && nth === 0));
    const { result } = await done;
    expect(result.maxCalls).toBe(35);
    expect(asked).toEqual([20, 40, 30, 35]);
  });

  it('with 2, a step passes only if both runs do: one failure ends it after at most two runs', async () => {
    const { done, asked } = search(2, (calls, nth) => calls > 90 || (calls === 40 && nth === 0));
    const { result } = await done;
    expect(asked.filter((c) => c === 40)).toHaveLength(1);
    expect(result.steps.find((s) => s.calls === 40)).toMatchObject({ pass: false, runs: 1, passes: 0 });
    expect(asked.filter((c) => c === 20)).toHaveLength(2);
    expect(result.maxCalls).toBe(35);
  });

  it('with 3, a step passes on two passes of three and stops once the majority is known', async () => {
    const { done, asked } = search(3, (calls, nth) => calls > 90 || (calls === 40 && nth === 0));
    const { result } = await done;
    // 40 calls: fail, pass, pass -> pass; 80 passes twice; 160 fails twice: two runs each decide.
    expect(asked.filter((c) => c === 40)).toHaveLength(3);
    expect(asked.filter((c) => c === 80)).toHaveLength(2);
    expect(asked.filter((c) => c === 160)).toHaveLength(2);
    expect(result.maxCalls).toBeGreaterThanOrEqual(80);
    expect(result.maxCalls).toBeLessThanOrEqual(90);
    const forty = result.steps.find((s) => s.calls === 40)!;
    expect(forty).toMatchObject({ pass: true, runs: 3, passes: 2 });
    expect(result.steps.find((s) => s.calls === 160)).toMatchObject({ pass: false, runs: 2, passes: 0 });
    expect(findMaxLines(result).some((l) => l.includes('40 calls: pass [2 of 3 runs passed]'))).toBe(true);
  });
});
