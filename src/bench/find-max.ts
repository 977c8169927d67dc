/**
 * --find-max: the largest number of calls that holds the bar (result.ts `evaluate`) for the whole
 * window. Doubling from a start until a run fails, then bisecting to a resolution of 10% (at least 5
 * calls). Each step is a fresh bridge process, so one step's leftovers never weigh on the next.
 * With `stepRuns` N > 1 a step runs up to N times and passes when most of its runs do (it stops as
 * soon as the majority is known): on a shared machine one stall fails a single run, so single-run
 * steps cannot tell neighbouring call counts apart.
 */
import type { FindMaxResult } from './report.js';
import { evaluate, type Criteria, type RunResult } from './result.js';

export interface FindMaxOptions {
  readonly startCalls: number;
  readonly maxCalls: number;
  /** Runs per step, at most (the majority decides); 1: a step is one run. */
  readonly stepRuns?: number;
  readonly criteria: Criteria;
  readonly vad: string;
  readonly provider: string;
  /** The cores the gateway may use: the machine's, or the pinned ones. */
  readonly cores: number;
  /** The CPUs the gateway was pinned to, if it was. */
  readonly cpus?: readonly number[];
  /** The load generator runs on other CPUs than the gateway's. */
  readonly coresExclusive?: boolean;
  readonly runAt: (calls: number) => Promise<RunResult>;
  readonly log: (line: string) => void;
}

export async function findMax(opts: FindMaxOptions): Promise<{ result: FindMaxResult; runs: RunResult[] }> {
  const steps: FindMaxResult['steps'] = [];
  const runs: RunResult[] = [];
  const tried = new Map<number, { pass: boolean; reasons: string[]; run: RunResult }>();
  const most = Math.max(1, Math.floor(opts.stepRuns ?? 1));
  const needed = Math.floor(most / 2) + 1;
  const attempt = async (calls: number) => {
    const known = tried.get(calls);
    if (known) return known;
    let passes = 0;
    let fails = 0;
    let passed: RunResult | undefined;
    let failed: { run: RunResult; reasons: string[] } | undefined;
    // Ends once a majority of passes is reached or can no longer be (a tie of an even N fails).
    while (passes < needed && fails <= most - needed) {
      const n = passes + fails + 1;
      opts.log(`find-max: trying ${String(calls)} calls${most > 1 ? ` (run ${String(n)} of up to ${String(most)})` : ''}`);
      const run = await opts.runAt(calls);
      const verdict = evaluate(run, opts.criteria);
      runs.push(run);
      if (verdict.pass) {
        passes++;
        passed ??= run;
      } else {
        fails++;
        failed ??= { run, reasons: verdict.reasons };
      }
      opts.log(`find-max: ${String(calls)} calls ${verdict.pass ? 'pass' : `fail: ${verdict.reasons.join('; ')}`}`);
    }
    const pass = passes >= needed;
    // The step is shown by a run that agrees with its verdict (a failing step: its first failure's reasons).
    const step = pass ? { pass, reasons: [] as string[], run: passed! } : { pass, reasons: failed!.reasons, run: failed!.run };
    tried.set(calls, step);
    steps.push({ calls, pass, reasons: step.reasons, ...(most > 1 ? { runs: passes + fails, passes } : {}) });
    return step;
  };

  let lo = 0;
  let hi: number | undefined;
  let n = Math.min(opts.startCalls, opts.maxCalls);
  for (;;) {
    if ((await attempt(n)).pass) {
      lo = n;
      if (n >= opts.maxCalls) break;
      n = Math.min(opts.maxCalls, n * 2);
    } else {
      hi = n;
      break;
    }
  }
  while (hi !== undefined && hi - lo > Math.max(5, Math.round(lo * 0.1))) {
    const mid = Math.round((lo + hi) / 2);
    if ((await attempt(mid)).pass) lo = mid;
    else hi = mid;
  }
  const cores = opts.cores;
  const atMax = tried.get(lo)?.run;
  const firstFail = hi === undefined ? undefined : tried.get(hi);
  let bound = hi === undefined ? `--max-calls ${String(opts.maxCalls)} (no run failed)` : `${String(hi)} calls: ${firstFail!.reasons.join('; ')}`;
  if (firstFail?.run.harness.saturated) bound += ' (the load generator was saturated too: the harness may be the limit)';
  return {
    result: {
      vad: opts.vad,
      provider: opts.provider,
      criteria: opts.criteria,
      maxCalls: lo,
      cores,
      pinnedCpus: opts.cpus ? [...opts.cpus] : undefined,
      coresExclusive: opts.cpus ? opts.coresExclusive === true : undefined,
      callsPerCore: Number((lo / cores).toFixed(1)),
      callsPerGatewayCore: atMax && atMax.cpu.coresUsed > 0 ? Number((lo / atMax.cpu.coresUsed).toFixed(1)) : undefined,
      bound,
      steps: steps.sort((a, b) => a.calls - b.calls),
    },
    runs,
  };
}
