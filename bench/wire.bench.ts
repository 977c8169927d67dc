/**
 * The JSON media wire per 20 ms G.711 frame (160 bytes): what every caller frame costs on its way in
 * (strict base64 check and decode) and on its way to OpenAI Realtime (the append event). Each "before"
 * case is the code the "after" case replaced (issue 16), kept here so the figures compare in one run.
 * The append cases end in the Buffer ws makes of a text message before framing it, so the string
 * concatenation is paid for, not left as an unflattened rope.
 * The parse cases go through 50,000 Twilio media messages in turn, each with its own sequence number,
 * chunk and timestamp, as a gateway sees them: short string values new to V8's string table.
 * Run: `node --import tsx bench/wire.bench.ts` (or `npm run bench:micro -- --suite wire`).
 */
import b from 'benny';
import { pathToFileURL } from 'node:url';
import { decodeBase64Exact } from '../src/util/base64.js';
import { parseFlatJsonObject } from '../src/transports/flat-json.js';
import { twilioMessages } from '../src/carriers/twilio/network-messages.js';
import { microTable, type MicroResult } from './report.js';

const STRICT_REGEX = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export async function run(): Promise<MicroResult[]> {
  const bytes = Uint8Array.from({ length: 160 }, (_, i) => (i * 37) & 0xff);
  const text = Buffer.from(bytes).toString('base64');
  let sink = 0;
  const twilio = twilioMessages('MZ18ad3ab5a668481ce02b83e7395059f0');
  const messages = Array.from({ length: 50_000 }, (_, i) => twilio.media(text, 100_000 + i * 20, 5000 + i));
  let next = 0;
  const nextMessage = () => {
    const m = messages[next];
    next = next + 1 === messages.length ? 0 : next + 1;
    return m;
  };
  const summary = await b.suite(
    'media wire (160-byte G.711 frame)',
    b.add('inbound Twilio media message: JSON.parse (before)', () => {
      const msg = JSON.parse(nextMessage()) as { media: { payload: string } };
      sink ^= msg.media.payload.length;
    }),
    b.add('inbound Twilio media message: flat-object fast path (after)', () => {
      const msg = parseFlatJsonObject(nextMessage()) as { media: { payload: string } };
      sink ^= msg.media.payload.length;
    }),
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
