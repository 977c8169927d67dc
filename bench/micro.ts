/**
 * Every micro-benchmark suite, one after another, as one list of rows (us per 20 ms frame or per op).
 * Run: `npm run bench:micro` (`node --import tsx bench/micro.ts [--suite codecs,wire,hotpath,resampler,vad,webrtc] [--json FILE]`).
 * The failover switch benchmark (bench/switch.bench.ts) is not a micro suite; run it on its own.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { MicroResult } from './report.js';

export const SUITES = ['codecs', 'wire', 'hotpath', 'resampler', 'vad', 'webrtc'] as const;
export type SuiteName = (typeof SUITES)[number];

export interface MicroReport {
  rows: MicroResult[];
  /** Main-thread share of Silero VAD per call-second (vad suite). */
  vadEventLoop?: unknown;
  /** Process CPU of the WebRTC media path per call-second (webrtc suite). */
  webrtcCpuMsPerCallSecond?: number;
  seconds: Record<string, number>;
}

export async function runMicro(suites: readonly SuiteName[] = SUITES, log: (line: string) => void = () => undefined): Promise<MicroReport> {
  const report: MicroReport = { rows: [], seconds: {} };
  for (const suite of suites) {
    log(`micro: ${suite}`);
    const t0 = performance.now();
    switch (suite) {
      case 'codecs':
        report.rows.push(...(await (await import('./codecs.bench.js')).run()));
        break;
      case 'wire':
        report.rows.push(...(await (await import('./wire.bench.js')).run()));
        break;
      case 'hotpath':
        report.rows.push(...(await (await import('./hot-path.bench.js')).run()));
        break;
      case 'resampler':
        report.rows.push(...(await (await import('./resampler.bench.js')).measure()));
        break;
      case 'vad': {
        const { results, eventLoop } = await (await import('./vad.bench.js')).run();
        report.rows.push(...results.map(({ suite: s, case: c, opsPerSec, usPerOp, marginPct, samples }) => ({ suite: `vad: ${s}`, case: c, opsPerSec, usPerOp, marginPct, samples })));
        report.vadEventLoop = eventLoop;
        break;
      }
      case 'webrtc': {
        const webrtc = await import('./webrtc.bench.js');
        report.rows.push(...(await webrtc.run()));
        report.webrtcCpuMsPerCallSecond = webrtc.measureCpu(20).msPerCallSecond;
        break;
      }
    }
    report.seconds[suite] = Number(((performance.now() - t0) / 1000).toFixed(1));
  }
  return report;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { suite: { type: 'string' }, json: { type: 'string' } } });
  const suites = (values.suite?.split(',') ?? SUITES) as SuiteName[];
  for (const s of suites) if (!(SUITES as readonly string[]).includes(s)) throw new Error(`unknown suite '${s}' (known: ${SUITES.join(', ')})`);
  const report = await runMicro(suites, (l) => process.stderr.write(`${l}\n`));
  console.table(report.rows.map((r) => ({ suite: r.suite, case: r.case, 'us/op': r.usPerOp, 'ops/s': r.opsPerSec, '±%': r.marginPct })));
  if (report.vadEventLoop) console.table(report.vadEventLoop);
  if (report.webrtcCpuMsPerCallSecond !== undefined) console.log(`WebRTC path: ${String(report.webrtcCpuMsPerCallSecond)} ms CPU per call-second`);
  if (values.json) {
    mkdirSync(dirname(values.json), { recursive: true });
    writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
  }
}
