/**
 * `npm run bench`: the repository's benchmarks, with the repository's bench extension
 * (bench/extension.ts: `--provider fake-openai`, `--baseline`) handed to the harness of src/bench.
 *
 * With no options, or only the suite's own (`--calls N`, `--duration S`, `--skip-micro`, `--skip-load`,
 * `--out DIR`): the micro suites, then a short load run (under two minutes of load): the baseline
 * bridge and the built gateway with Silero VAD and with VAD off, 100 calls each, against the loopback
 * OpenAI Realtime fake. Writes bench/results/latest.json and bench/results/latest.md.
 *
 * With any other option: exactly `voice-gateway bench [options]` (see `--help`), with this extension,
 * e.g. `npm run bench -- --provider fake-openai --baseline --calls 200 --vad silero,off`.
 *
 * npm runs the build first, so the gateway under test is dist/, as it ships.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULTS, runBench } from '../src/bench/bench.js';
import { machineInfo, type BenchReport } from '../src/bench/report.js';
import { printReport, run, writeReport } from '../src/cli/commands/bench.js';
import { benchExtension } from './extension.js';
import { runMicro } from './micro.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SUITE_VALUE_FLAGS = ['--calls', '--duration', '--out'];
const SUITE_BOOLEAN_FLAGS = ['--skip-micro', '--skip-load'];

/** Only the suite's own options (or none): run the standard suite; anything else is the bench command. */
export function isSuiteArgs(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (SUITE_BOOLEAN_FLAGS.includes(a)) continue;
    if (SUITE_VALUE_FLAGS.includes(a)) {
      i++;
      continue;
    }
    if (SUITE_VALUE_FLAGS.some((f) => a.startsWith(`${f}=`))) continue;
    return false;
  }
  return true;
}

function distGateway(): string[] {
  const dist = `${ROOT}dist/cli/bin.js`;
  if (!existsSync(dist)) throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
  return [dist, 'serve'];
}

async function suite(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
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
    report = await runBench(
      {
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
        gatewayCommand: distGateway(),
        baseEnv: process.env,
        log,
      },
      benchExtension,
    );
  }
  report.startedAt = startedAt;
  report.finishedAt = new Date().toISOString();
  report.micro = micro;
  process.stdout.write(printReport(report));
  writeReport(report, `${out}/latest.json`, `${out}/latest.md`);
  log(`wrote ${out}/latest.json and ${out}/latest.md`);
}

// Run only as the entry point (a test may import isSuiteArgs).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  if (isSuiteArgs(argv)) await suite(argv);
  else {
    const help = argv.includes('--help') || argv.includes('-h');
    if (help) {
      process.stdout.write(
        'npm run bench [-- --calls N --duration S --skip-micro --skip-load --out DIR]: the standard suite (micro suites, then\n' +
          'the baseline bridge and the gateway with Silero and with VAD off, 100 calls, against the OpenAI Realtime fake).\n' +
          'npm run bench -- [any other option]: the bench command below, with this repository\'s extension.\n\n',
      );
    }
    try {
      process.exitCode = await run(argv, { extension: benchExtension, gatewayCommand: help ? undefined : distGateway() });
    } catch (err) {
      process.stderr.write(`npm run bench: ${(err as Error).message}\n`);
      process.exitCode = 2;
    }
  }
}
