/**
 * G.711 micro-benchmarks: one 20 ms telephony frame (160 samples) per operation.
 * Run: `node --import tsx bench/codecs.bench.ts` (or `npm run bench:micro` for every suite).
 */
import b from 'benny';
import { pathToFileURL } from 'node:url';
import { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw } from '../src/pipeline/codecs/g711.js';
import { microTable, type MicroResult } from './report.js';

export async function run(): Promise<MicroResult[]> {
  const pcm = Int16Array.from({ length: 160 }, (_, i) => Math.round(12000 * Math.sin(i / 3) + 300 * Math.cos(i * 7)));
  const ulaw = encodeMulaw(pcm);
  const alaw = encodeAlaw(pcm);
  const outPcm = new Int16Array(160);
  const outBytes = new Uint8Array(160);
  let sink = 0;
  const summary = await b.suite(
    'g711 (160-sample frame)',
    b.add('mu-law decode', () => {
      sink ^= decodeMulaw(ulaw)[7];
    }),
    b.add('mu-law decode into buffer', () => {
      sink ^= decodeMulaw(ulaw, outPcm)[7];
    }),
    b.add('mu-law encode', () => {
      sink ^= encodeMulaw(pcm)[7];
    }),
    b.add('A-law decode', () => {
      sink ^= decodeAlaw(alaw)[7];
    }),
    b.add('A-law encode', () => {
      sink ^= encodeAlaw(pcm, outBytes)[7];
    }),
    b.cycle(),
  );
  if (sink === 0x7fffffff) console.log(sink); // keep the work observable
  return microTable('g711', summary);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.table(await run());
}
