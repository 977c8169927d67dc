/**
 * `voice-gateway call`: the simulated caller. Plays the telephony network's part against a gateway and
 * prints a JSON summary (frames, turns heard, reply latency, clears).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import nacl from 'tweetnacl';
import { pcmCodec } from '../../pipeline/codecs/wire-codec.js';
import { Resampler } from '../../pipeline/resample/resampler.js';
import { readWav, writeWav } from '../../pipeline/wav.js';
import { simulateCall, summarise } from '../../simulator/caller.js';
import { usageError } from '../main.js';

const HELP = `Usage: voice-gateway call --transport twilio|telnyx --url BASE --in FILE [options]

Plays the telephony network's part: calls the gateway's webhook, opens the media stream, sends FILE
as 20 ms frames in real time, acknowledges marks, honours clear, and prints a JSON summary.

Options:
  --transport twilio|telnyx   which carrier to play (required)
  --url BASE                  the gateway's public base URL, e.g. http://127.0.0.1:8080 (required)
  --in FILE                   audio to speak: a WAV (any rate), or raw 8 kHz .ulaw/.alaw (required)
  --codec pcmu|pcma           wire codec (default pcmu; Twilio is always pcmu)
  --out FILE.wav              write what came back, on the call's timeline, as a WAV
  --turn-taking polite|overlap  pause while the bot talks (default) or talk over it (barge-in)
  --auth-token TOKEN          Twilio auth token, to sign the webhook and handshake
  --telnyx-secret-key B64     Telnyx Ed25519 secret key (64 bytes) or seed (32 bytes), to sign
  --tail-ms N                 after the audio, wait this long for replies (default 4000)
  --max-duration-s N          hang up after this long whatever happens (default 600)
`;

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        transport: { type: 'string' },
        url: { type: 'string' },
        in: { type: 'string' },
        codec: { type: 'string', default: 'pcmu' },
        out: { type: 'string' },
        'turn-taking': { type: 'string', default: 'polite' },
        'auth-token': { type: 'string' },
        'telnyx-secret-key': { type: 'string' },
        'tail-ms': { type: 'string', default: '4000' },
        'max-duration-s': { type: 'string', default: '600' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw usageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const transport = values.transport;
  if (transport !== 'twilio' && transport !== 'telnyx') throw usageError('--transport must be twilio or telnyx');
  if (!values.url) throw usageError('--url is required');
  if (!values.in) throw usageError('--in is required');
  const codecName = values.codec === 'pcma' ? 'alaw' : values.codec === 'pcmu' ? 'mulaw' : undefined;
  if (!codecName) throw usageError('--codec must be pcmu or pcma');
  if (transport === 'twilio' && codecName !== 'mulaw') throw usageError('Twilio media streams are mu-law only');
  const turnTaking = values['turn-taking'];
  if (turnTaking !== 'polite' && turnTaking !== 'overlap') throw usageError('--turn-taking must be polite or overlap');

  const audio = loadAudio(values.in, codecName);
  let telnyxSecretKey: Uint8Array | undefined;
  if (values['telnyx-secret-key']) {
    const raw = new Uint8Array(Buffer.from(values['telnyx-secret-key'], 'base64'));
    if (raw.length === 32) telnyxSecretKey = nacl.sign.keyPair.fromSeed(raw).secretKey;
    else if (raw.length === 64) telnyxSecretKey = raw;
    else throw usageError('--telnyx-secret-key must be 32 or 64 bytes, base64');
  }
  const result = await simulateCall({
    transport,
    baseUrl: values.url,
    audio,
    codec: codecName,
    turnTaking,
    twilioAuthToken: values['auth-token'],
    telnyxSecretKey,
    tailMs: Number(values['tail-ms']),
    maxDurationMs: Number(values['max-duration-s']) * 1000,
  });
  if (values.out) {
    // Place each reply at its arrival time so the file sounds like the call did.
    const end = result.replies.reduce((m, r) => Math.max(m, r.startMs + (r.pcm.length / 8)), 0);
    const timeline = new Int16Array(Math.ceil((end / 1000) * 8000) + 8000);
    for (const r of result.replies) timeline.set(r.pcm.subarray(0, timeline.length - Math.round(r.startMs * 8)), Math.round(r.startMs * 8));
    writeFileSync(values.out, writeWav({ samples: timeline, sampleRate: 8000 }));
  }
  process.stdout.write(`${JSON.stringify(summarise(result), null, 2)}\n`);
  return 0;
}

function loadAudio(path: string, codec: 'mulaw' | 'alaw'): Uint8Array {
  const bytes = new Uint8Array(readFileSync(path));
  const ext = extname(path).toLowerCase();
  if (ext === '.ulaw' || ext === '.mulaw' || ext === '.alaw') {
    const fileCodec = ext === '.alaw' ? 'alaw' : 'mulaw';
    if (fileCodec === codec) return bytes;
    return pcmCodec(codec).encode(pcmCodec(fileCodec).decode(bytes));
  }
  const wav = readWav(bytes);
  let pcm = wav.samples;
  if (wav.sampleRate !== 8000) {
    const r = new Resampler({ from: wav.sampleRate, to: 8000 });
    const head = r.process(pcm);
    const tail = r.flush();
    const joined = new Int16Array(head.length + tail.length);
    joined.set(head);
    joined.set(tail, head.length);
    pcm = joined.subarray(r.delaySamples);
  }
  return pcmCodec(codec).encode(pcm);
}
