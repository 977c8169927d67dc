/**
 * The JSON media wire per 20 ms G.711 frame (160 bytes): what every caller frame costs on its way in
 * (strict base64 check and decode) and on its way to OpenAI Realtime (the append event). Each "before"
 * case is the code the "after" case replaced (issue 16), kept here so the figures compare in one run.
 * The append cases end in the Buffer ws makes of a text message before framing it, so the string
 * concatenation is paid for, not left as an unflattened rope.
 * Run: `node --import tsx bench/wire.bench.ts` (or `npm run bench:micro -- --suite wire`).
 */
import b from 'benny';
import { pathToFileURL } from 'node:url';
import { decodeBase64Exact } from '../src/util/base64.js';
import { microTable, type MicroResult } from './report.js';

const STRICT_REGEX = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export async function run(): Promise<MicroResult[]> {
  const bytes = Uint8Array.from({ length: 160 }, (_, i) => (i * 37) & 0xff);
  const text = Buffer.from(bytes).toString('base64');
  let sink = 0;
  const summary = await b.suite(
    'media wire (160-byte G.711 frame)',
    b.add('inbound base64: regex check + decode (before)', () => {
      if (!STRICT_REGEX.test(text)) throw new Error('bad');
      sink ^= Buffer.from(text, 'base64')[7];
    }),
    b.add('inbound base64: length-checked decode (after)', () => {
      const out = decodeBase64Exact(text);
      if (!out) throw new Error('bad');
      sink ^= out[7];
    }),
    b.add('OpenAI append: encode bytes + JSON.stringify (before)', () => {
      const audio = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
      sink ^= Buffer.from(JSON.stringify({ type: 'input_audio_buffer.append', audio }))[3];
    }),
    b.add("OpenAI append: the carrier's base64 forwarded (after)", () => {
      sink ^= Buffer.from(`{"type":"input_audio_buffer.append","audio":"` + text + '"}')[3];
    }),
    b.cycle(),
  );
  if (sink === 0x7fffffff) console.log(sink); // keep the work observable
  return microTable('wire', summary);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.table(await run());
}
