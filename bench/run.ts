/**
 * `npm run bench`: the micro suites, then a short load run (under two minutes of load): the baseline
 * bridge and the built gateway with Silero VAD and with VAD off, 100 calls each, against the loopback
 * OpenAI Realtime fake. Writes bench/results/latest.json and bench/results/latest.md.
 *
 * `node --import tsx bench/run.ts [--calls N] [--duration S] [--skip-micro] [--skip-load] [--out DIR]`
 * (npm runs the build first, so the gateway under test is dist/, as it ships).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULTS, runBench } from '../src/bench/bench.js';
import { machineInfo, type BenchReport } from '../src/bench/report.js';
import { printReport, writeReport } from '../src/cli/commands/bench.js';
import { runMicro } from './micro.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({
  options: {
    calls: { type: 'string' },
    duration: { type: 'string' },
    'skip-micro': { type: 'boolean' },
    'skip-load': { type: 'boolean' },
    out: { type: 'string' },
  },
});
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const out = values.out ?? `${ROOT}bench/results`;
const startedAt = new Date().toISOString();

const micro = values['skip-micro'] ? undefined : await runMicro(undefined, log);

let report: BenchReport;
if (values['skip-load']) {
  report = { schema: 1, startedAt, finishedAt: '', machine: machineInfo(), config: {}, runs: [], ratios: undefined, findMax: undefined, micro: undefined, notes: [] };
} else {
  const dist = `${ROOT}dist/cli/bin.js`;
  if (!existsSync(dist)) throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
  report = await runBench({
    calls: Number(values.calls ?? 100),
    durationS: Number(values.duration ?? 15),
    settleS: DEFAULTS.settleS,
    transport: 'twilio',
    provider: 'fake-openai',
    vads: ['silero', 'off'],
    baseline: true,
    replyDelayMs: DEFAULTS.replyDelayMs,
    findMax: false,
    startCalls: DEFAULTS.startCalls,
    maxCalls: DEFAULTS.maxCalls,
    criteria: DEFAULTS.criteria,
    seed: DEFAULTS.seed,
    gatewayEnv: {},
    egressLeadMs: DEFAULTS.egressLeadMs,
    lateBoundMs: DEFAULTS.lateBoundMs,
    lateIngressMs: DEFAULTS.lateIngressMs,
    gatewayCommand: [dist, 'serve'],
    baseEnv: process.env,
    log,
  });
}
report.startedAt = startedAt;
report.finishedAt = new Date().toISOString();
report.micro = micro;
process.stdout.write(printReport(report));
writeReport(report, `${out}/latest.json`, `${out}/latest.md`);
log(`wrote ${out}/latest.json and ${out}/latest.md`);
