/** `bench --rounds N`: each figure's median and range over the rounds, gateway runs against their own round's baseline. */
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../src/cli/commands/bench.js';
import { runBench, DEFAULTS } from '../../src/bench/bench.js';
import { roundsRows, spreadOf, summarizeRounds } from '../../src/bench/rounds.js';
import type { RunResult } from '../../src/bench/result.js';
import type { RunSpec } from '../../src/bench/run-once.js';
import type { BenchExtension } from '../../src/bench/extension.js';
import { quantiles, run, summary } from './run-fixture.js';

/** A run of `label` in `round` with the figures the summary reads. */
function roundRun(label: string, round: number, f: { cpu: number; through: number; rss?: number; lost?: number; late?: number; pacing?: number }): RunResult {
  const base = run();
  return run({
    target: label === 'baseline' ? 'baseline' : 'gateway',
    label,
    round,
    cpu: { ...base.cpu, msPerCallSecond: f.cpu },
    memory: { ...base.memory, rssPerCallKiB: f.rss ?? 400 },
    latency: { added: undefined, through: { ingress: summary(f.through), egress: summary(4) }, reply: summary(1700) },
    egressPacing: f.pacing === undefined ? undefined : quantiles(f.pacing),
    frames: { ...base.frames, lost: { ...base.frames.lost, total: f.lost ?? 0 }, late: { ...base.frames.late, egress: f.late ?? 0, ingress: 0 } },
  });
}

describe('spreadOf', () => {
  it('gives the median, the mean of the middle two for an even count, and leaves out what is unknown', () => {
    expect(spreadOf([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, values: [3, 1, 2] });
    expect(spreadOf([4, 1, 3, 2])).toMatchObject({ median: 2.5, min: 1, max: 4 });
    expect(spreadOf([undefined, 5, Number.NaN])).toEqual({ median: 5, min: 5, max: 5, values: [5] });
    expect(spreadOf([undefined])).toBeUndefined();
  });
});

describe('summarizeRounds', () => {
  const runs = [
    roundRun('baseline', 1, { cpu: 3, through: 6 }),
    roundRun('gateway (vad off)', 1, { cpu: 4.5, through: 13, pacing: 5, late: 2 }),
    roundRun('gateway (vad silero)', 1, { cpu: 6, through: 52, pacing: 6 }),
    roundRun('baseline', 2, { cpu: 4, through: 12 }),
    roundRun('gateway (vad off)', 2, { cpu: 4.4, through: 12, pacing: 4, lost: 1 }),
    roundRun('gateway (vad silero)', 2, { cpu: 6, through: 56, pacing: 10 }),
    roundRun('baseline', 3, { cpu: 3, through: 8 }),
    roundRun('gateway (vad off)', 3, { cpu: 4.2, through: 17, pacing: 7 }),
    roundRun('gateway (vad silero)', 3, { cpu: 6.9, through: 58, pacing: 12 }),
  ];
  const [baseline, off, silero] = summarizeRounds(runs);

  it('keeps one summary per run label, in the order they first ran', () => {
    expect([baseline.label, off.label, silero.label]).toEqual(['baseline', 'gateway (vad off)', 'gateway (vad silero)']);
    expect(off.rounds).toBe(3);
  });

  it("compares each gateway run with the baseline of its own round, not the first one's", () => {
    expect(off.cpuVsBaseline?.values.map((v) => Number(v.toFixed(6)))).toEqual([1.5, 1.1, 1.4]);
    expect(off.cpuVsBaseline?.median).toBeCloseTo(1.4);
    expect(silero.throughIngressP99VsBaselineMs?.values).toEqual([46, 44, 50]);
    expect(baseline.cpuVsBaseline).toBeUndefined();
    expect(baseline.egressPacingP99Ms).toBeUndefined();
  });

  it('takes medians and ranges of the plain figures, and sums lost and late frames', () => {
    expect(off.cpuMsPerCallSecond).toMatchObject({ median: 4.4, min: 4.2, max: 4.5 });
    expect(silero.egressPacingP99Ms).toMatchObject({ median: 10, min: 6, max: 12 });
    expect(off.framesLost).toBe(1);
    expect(off.framesLate).toBe(2);
  });

  it('leaves out runs that carry no round (a single-round bench)', () => {
    expect(summarizeRounds([run(), run({ target: 'baseline', label: 'baseline' })])).toEqual([]);
  });

  it('prints each figure as median (min to max), signed where it is a difference', () => {
    const rows = roundsRows([off, silero]);
    expect(rows[0]).toEqual(['over 3 rounds: median (min to max)', 'gateway (vad off)', 'gateway (vad silero)']);
    const find = (name: string) => rows.find((r) => r[0].trim().startsWith(name))!;
    expect(find('CPU ms per call-second')[1]).toBe('4.40 (4.20 to 4.50)');
    expect(find('minus the baseline')[2]).toBe('+46.0 (+44.0 to +50.0)');
    expect(find('frames lost / late')[1]).toBe('1 / 2');
  });
});

describe('bench --rounds', () => {
  it('defaults to one round and takes a whole number', () => {
    expect(parseBenchArgs([], {}).rounds).toBe(DEFAULTS.rounds);
    expect(parseBenchArgs(['--rounds', '3'], {}).rounds).toBe(3);
  });

  it.each([['0'], ['2.5'], ['many']])('refuses --rounds %s naming the flag', (v) => {
    expect(() => parseBenchArgs(['--rounds', v], {})).toThrow(/--rounds/);
  });

  it('is refused with --find-max, which repeats its steps with --step-runs', async () => {
    expect(() => parseBenchArgs(['--rounds', '2', '--find-max'], {})).toThrow(/--rounds.*--step-runs/);
    const opts = { ...parseBenchArgs([], {}), rounds: 2, findMax: true };
    await expect(runBench(opts)).rejects.toThrow(/--step-runs/);
  });
});

describe('runBench with rounds', () => {
  const extension: BenchExtension = {
    name: 'test',
    // Never started: the stand-in runner makes the runs.
    providers: { stand: () => Promise.resolve({ name: 'fake-openai', tagged: true, start: () => Promise.reject(new Error('not started in this test')) }) },
    baseline: { description: 'a stand-in bridge', transports: ['twilio'], command: () => ['bridge.js'] },
  };

  it('runs the baseline then each VAD setting, round after round, and pairs each gateway run with its round', async () => {
    const asked: string[] = [];
    // The n-th run costs n ms per call-second: round 2's figures are unlike round 1's.
    const runner = (s: RunSpec): Promise<RunResult> => {
      asked.push(`${s.target} ${s.vad}`);
      const n = asked.length;
      const label = s.target === 'baseline' ? 'baseline' : `gateway (vad ${s.vad})`;
      return Promise.resolve(roundRun(label, 0, { cpu: n, through: 10 * n }));
    };
    const opts = { ...parseBenchArgs(['--provider', 'stand', '--baseline', '--vad', 'off,silero', '--rounds', '2', '-q'], {}, extension) };
    const report = await runBench(opts, extension, runner);
    expect(asked).toEqual(['baseline off', 'gateway off', 'gateway silero', 'baseline off', 'gateway off', 'gateway silero']);
    expect(report.runs.map((r) => r.round)).toEqual([1, 1, 1, 2, 2, 2]);
    expect(report.config.rounds).toBe(2);
    // Round 2's silero run (the 6th, 6 ms) against round 2's baseline (the 4th, 4 ms), not round 1's (1 ms).
    expect(report.ratios?.['gateway (vad silero) #2']?.cpuPerCallSecond).toBe(1.5);
    expect(report.ratios?.['gateway (vad off) #1']?.cpuPerCallSecond).toBe(2);
    const silero = report.rounds?.find((r) => r.label === 'gateway (vad silero)');
    expect(silero?.cpuVsBaseline?.values).toEqual([3, 1.5]);
    expect(silero?.throughIngressP99VsBaselineMs?.values).toEqual([20, 20]);
  });

  it('leaves a single round as it always was: no round on the runs, no summary', async () => {
    const runner = (s: RunSpec) => Promise.resolve(run({ target: s.target, label: s.target }));
    const report = await runBench({ ...parseBenchArgs(['--provider', 'stand', '--baseline', '--vad', 'off', '-q'], {}, extension) }, extension, runner);
    expect(report.runs.map((r) => r.round)).toEqual([undefined, undefined]);
    expect(report.rounds).toBeUndefined();
    expect(Object.keys(report.ratios ?? {})).toEqual(['gateway']);
  });
});
