/**
 * `voice-gateway call`: the simulated caller. Plays the telephony network's part against a gateway and
 * prints a JSON summary (frames, turns heard, reply latency, clears).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import nacl from 'tweetnacl';
import { callerCredentials } from '../../config.js';
import { pcmCodec } from '../../pipeline/codecs/wire-codec.js';
import { Resampler } from '../../pipeline/resample/resampler.js';
import { readWav, writeWav } from '../../pipeline/wav.js';
import { simulateCall, summarise, type SimulatedCallResult } from '../../simulator/caller.js';
import { answerOutboundCall } from '../../simulator/outbound.js';
import { CARRIER_NAMES, isCarrierName } from '../../carriers/carrier-name.js';
import { usageError } from '../usage.js';

const HELP = `Usage: voice-gateway call --transport twilio|telnyx --url BASE --in FILE [options]
       voice-gateway call --outbound NETWORK_URL --in FILE [options]

Plays the telephony network's part: calls the gateway's webhook, opens the media stream, sends FILE
as 20 ms frames in real time, acknowledges marks, honours clear, and prints a JSON summary.

With --outbound it plays the callee of a call the gateway places: it takes the next dial the
carrier's REST API (a fake serving /_sim/..., see src/simulator/network-desk.ts) was asked for, and
streams to the URL and with the call id, token and codec that dial carried; --transport, --url and
--codec then come from the dial. A hangup the gateway asks the carrier for ends the stream.

Options:
  --outbound NETWORK_URL      answer the next outbound call placed through the fake at NETWORK_URL
  --wait-s N                  with --outbound: how long to wait for a call to be placed (default 60)
  --dtmf DIGITS@MS[,...]      press keys: each DIGITS group starts at MS of caller media time, 200 ms
                              apart (e.g. 12#@3000 sends 1, 2, # at 3.0, 3.2, 3.4 s)
  --transport twilio|telnyx   which carrier to play (required)
  --url BASE                  the gateway's public base URL, e.g. http://127.0.0.1:8080 (required)
  --in FILE                   audio to speak: a WAV (any rate), or raw 8 kHz .ulaw/.alaw (required)
  --codec pcmu|pcma           wire codec the caller sends (default pcmu; Twilio is always pcmu)
  --egress-codec pcmu|pcma|l16  codec replies come in, when the carrier was told another one (default:
                              the TeXML bidirectionalCodec, else --codec)
  --webhook-retries N         deliver the voice webhook N more times, as a carrier retrying does
  --swap-every N              every Nth frame arrives after the next one (out of order)
  --duplicate-every N         every Nth frame arrives twice
  --out FILE.wav              write what came back, on the call's timeline, as a WAV
  --turn-taking polite|overlap  pause while the bot talks (default) or talk over it (barge-in)
  --auth-token TOKEN          Twilio auth token, to sign the webhook and handshake (default: TWILIO_AUTH_TOKEN)
  --telnyx-secret-key B64     Telnyx Ed25519 secret key (64 bytes) or seed (32 bytes), to sign
                              (default: TELNYX_SECRET_KEY)
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
        outbound: { type: 'string' },
        'wait-s': { type: 'string', default: '60' },
        dtmf: { type: 'string' },
        'egress-codec': { type: 'string' },
        'webhook-retries': { type: 'string' },
        'swap-every': { type: 'string' },
        'duplicate-every': { type: 'string' },
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
  if (!values.in) throw usageError('--in is required');
  const turnTaking = values['turn-taking'];
  if (turnTaking !== 'polite' && turnTaking !== 'overlap') throw usageError('--turn-taking must be polite or overlap');
  const dtmf = values.dtmf === undefined ? undefined : parseDtmf(values.dtmf);
  // The environment the gateway reads, flags over it.
  const env = callerCredentials();
  let telnyxSecretKey: Uint8Array | undefined = env.telnyxSecretKey;
  if (values['telnyx-secret-key']) {
    telnyxSecretKey = new Uint8Array(Buffer.from(values['telnyx-secret-key'], 'base64'));
    if (telnyxSecretKey.length !== 32 && telnyxSecretKey.length !== 64) throw usageError('--telnyx-secret-key must be 32 or 64 bytes, base64');
  }
  if (telnyxSecretKey?.length === 32) telnyxSecretKey = nacl.sign.keyPair.fromSeed(telnyxSecretKey).secretKey;
  const count = (name: 'webhook-retries' | 'swap-every' | 'duplicate-every'): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw usageError(`--${name} must be a whole number`);
    return n;
  };
  const egressName = values['egress-codec'];
  const egressCodec = egressName === undefined ? undefined : egressName === 'pcmu' ? 'mulaw' : egressName === 'pcma' ? 'alaw' : egressName === 'l16' ? 'l16' : undefined;
  if (egressName !== undefined && !egressCodec) throw usageError('--egress-codec must be pcmu, pcma or l16');
  const common = {
    turnTaking,
    twilioAuthToken: values['auth-token'] ?? env.twilioAuthToken,
    telnyxSecretKey,
    egressCodec,
    webhookRetries: count('webhook-retries'),
    network: { swapEvery: count('swap-every'), duplicateEvery: count('duplicate-every') },
    tailMs: Number(values['tail-ms']),
    maxDurationMs: Number(values['max-duration-s']) * 1000,
    dtmf,
  } as const;

  let result: SimulatedCallResult;
  let extra: Record<string, unknown> = {};
  if (values.outbound !== undefined) {
    if (values.transport !== undefined || values.url !== undefined) throw usageError('--outbound takes the transport and stream URL from the dial; drop --transport and --url');
    const waitS = Number(values['wait-s']);
    if (!Number.isFinite(waitS) || waitS <= 0) throw usageError('--wait-s must be a positive number');
    const out = await answerOutboundCall({ ...common, networkUrl: values.outbound, pcm: loadPcm(values.in), waitMs: waitS * 1000 });
    result = out;
    extra = { outbound: { transport: out.dial.transport, from: out.dial.from, to: out.dial.to }, carrierEvents: out.carrierEvents };
  } else {
    const transport = values.transport;
    if (!isCarrierName(transport)) throw usageError(`--transport must be ${CARRIER_NAMES.join(' or ')}`);
    if (!values.url) throw usageError('--url is required');
    const codecName = values.codec === 'pcma' ? 'alaw' : values.codec === 'pcmu' ? 'mulaw' : undefined;
    if (!codecName) throw usageError('--codec must be pcmu or pcma');
    if (transport === 'twilio' && codecName !== 'mulaw') throw usageError('Twilio media streams are mu-law only');
    result = await simulateCall({ ...common, transport, baseUrl: values.url, audio: pcmCodec(codecName).encode(loadPcm(values.in)), codec: codecName });
  }
  if (values.out) {
    // Place each reply at its arrival time so the file sounds like the call did.
    const end = result.replies.reduce((m, r) => Math.max(m, r.startMs + (r.pcm.length / 8)), 0);
    const timeline = new Int16Array(Math.ceil((end / 1000) * 8000) + 8000);
    for (const r of result.replies) timeline.set(r.pcm.subarray(0, timeline.length - Math.round(r.startMs * 8)), Math.round(r.startMs * 8));
    writeFileSync(values.out, writeWav({ samples: timeline, sampleRate: 8000 }));
  }
  process.stdout.write(`${JSON.stringify({ ...summarise(result), ...extra }, null, 2)}\n`);
  return 0;
}

/** `12#@3000,9@8000` -> 1, 2, # from 3000 ms (200 ms apart), 9 at 8000 ms. */
function parseDtmf(spec: string): { atMs: number; digit: string }[] {
  const out: { atMs: number; digit: string }[] = [];
  for (const part of spec.split(',')) {
    const m = /^([0-9A-D*#]+)@(\d+)$/.exec(part.trim());
    if (!m) throw usageError(`--dtmf '${part}' is not DIGITS@MS (digits 0-9 A-D * #)`);
    [...m[1]].forEach((digit, i) => out.push({ digit, atMs: Number(m[2]) + i * 200 }));
  }
  return out;
}

/** The audio file as PCM16 at 8 kHz (the wire codec is applied once it is known). */
function loadPcm(path: string): Int16Array {
  const bytes = new Uint8Array(readFileSync(path));
  const ext = extname(path).toLowerCase();
  if (ext === '.ulaw' || ext === '.mulaw' || ext === '.alaw') return pcmCodec(ext === '.alaw' ? 'alaw' : 'mulaw').decode(bytes);
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
  return pcm;
}
