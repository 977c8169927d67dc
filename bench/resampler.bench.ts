/**
 * Resampler micro-benchmarks: one 20 ms frame per operation, on a warm streaming Resampler.
 * Run: `node --import tsx bench/resampler.bench.ts`. Targets: 8k->16k <= 15 us, 48k->16k <= 25 us.
 * The scalar-JS case is the fallback kernel (used only without WebAssembly), kept as the peer the
 * SIMD kernel is measured against.
 */
import b from 'benny';
import { pathToFileURL } from 'node:url';
import { Resampler, useJsKernelForTests, type ResamplerQuality } from '../src/pipeline/resample/resampler.js';
import { microTable, type MicroResult } from './report.js';

const CASES: readonly [from: number, to: number, quality: ResamplerQuality, jsKernel?: boolean][] = [
  [8000, 16000, 'high'],
  [16000, 8000, 'high'],
  [8000, 24000, 'high'],
  [24000, 8000, 'high'],
  [48000, 16000, 'high'],
  [16000, 48000, 'high'],
  [16000, 24000, 'high'],
  [44100, 48000, 'high'],
  [48000, 16000, 'fast'],
  [8000, 16000, 'fast'],
  [8000, 16000, 'high', true],
];

function frame(rate: number): Int16Array {
  const n = Math.round(rate / 50);
  return Int16Array.from({ length: n }, (_, i) =>
    Math.round(9000 * Math.sin((2 * Math.PI * 440 * i) / rate) + 3000 * Math.sin((2 * Math.PI * 2900 * i) / rate + 1)),
  );
}

/** Runs the suite; returns one row per case (us per 20 ms frame = 1e6 / ops). */
export async function measure(): Promise<MicroResult[]> {
  let sink = 0;
  const summary = await b.suite(
    'resampler (one 20 ms frame)',
    b.configure({ cases: { minSamples: 10, maxTime: 1.5 } }),
    ...CASES.map(([from, to, quality, js]) =>
      b.add(`${String(from)}->${String(to)} ${quality}${js ? ' scalar-JS kernel' : ''}`, () => {
        useJsKernelForTests(js === true);
        const r = new Resampler({ from, to, quality });
        useJsKernelForTests(false);
        const input = frame(from);
        return () => {
          sink ^= r.process(input)[5];
        };
      }),
    ),
    b.cycle(),
  );
  if (sink === 0x7fffffff) console.log(sink); // keep the work observable
  return microTable('resampler', summary);
}

export default async function run(): Promise<void> {
  const rows = await measure();
  console.table(rows.map((r) => ({ case: r.case, 'us/frame': r.usPerOp, 'ops/s': r.opsPerSec, '±%': r.marginPct })));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await run();
}
