/**
 * Replays the carriers' documented message sequences (test/fixtures/carriers/*.json, each naming the
 * pages it is transcribed from) through a real gateway on a loopback port: the webhook or REST step,
 * the media WebSocket as the carrier plays it, then what the call record, the metrics, the carrier's
 * REST API (a loopback fake recording every command) and the outbound messages show.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import nacl from 'tweetnacl';
import WebSocket from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { callWebhook } from '../../src/simulator/webhook.js';
import { twilioSignature } from '../../src/carriers/twilio/signature.js';
import { pcmCodec } from '../../src/pipeline/codecs/wire-codec.js';
import { readWav } from '../../src/pipeline/wav.js';
import { decodeMulaw } from '../../src/pipeline/codecs/g711.js';
import type { WireCodec } from '../../src/pipeline/frame.js';
import { startTelnyxRestFake, type TelnyxRestFake } from '../fakes/telnyx-rest-fake.js';
import { startTwilioRestFake, type TwilioRestFake } from '../fakes/twilio-rest-fake.js';
import { readBytes } from '../support/fixtures.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';
import { until } from '../support/until.js';

interface Fixture {
  source: string[];
  transport: 'twilio' | 'telnyx';
  setup: 'twilio_voice' | 'twilio_dial' | 'telnyx_texml' | 'telnyx_call_control';
  env?: Record<string, string>;
  webhookDeliveries?: number;
  audio: { codec: WireCodec; sampleRate: number };
  messages: (Record<string, unknown> & { repeat?: number; paceMs?: number; from?: number; message?: Record<string, unknown> })[];
  expect: {
    codec: string;
    sampleRate: number;
    framesIn: number;
    dtmfIn?: string;
    endReason?: string;
    rejected: number;
    rejectedReason?: string;
    reordered?: number;
    late?: Record<string, number>;
    direction?: string;
    texml?: Record<string, string | null>;
    answer?: Record<string, unknown>;
    answers?: number;
    /** The stream started by streaming_start after a plain answer (L16: the rate is no answer parameter). */
    streamingStart?: Record<string, unknown>;
    duplicateWebhooks?: number;
    hangupAtEnd?: string;
    replyCodec?: 'mulaw';
  };
}

const DIR = fileURLToPath(new URL('../fixtures/carriers/', import.meta.url));
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
const TWILIO_TOKEN = 'twilio-fixture-token';
const TELNYX_KEY = 'KEY_fixture';

/** The caller's audio: call-quiet (8 kHz mu-law file, or the 16 kHz WAV for L16 at 16 kHz). */
function callerPcm(rate: number): Int16Array {
  if (rate === 16000) return readWav(readBytes('calls/call-quiet.16k.wav')).samples;
  return decodeMulaw(readBytes('calls/call-quiet.8k.ulaw'));
}

function frames(audio: Fixture['audio']): () => string {
  const pcm = callerPcm(audio.sampleRate);
  const n = audio.sampleRate / 50;
  let i = 0;
  return () => {
    const slice = pcm.subarray(i * n, (i + 1) * n);
    i++;
    return Buffer.from(pcmCodec(audio.codec).encode(slice)).toString('base64');
  };
}

function fill(value: unknown, vars: Record<string, string>, payload: () => string): unknown {
  if (typeof value === 'string') {
    if (value === '{{payload}}') return payload();
    return value.replace(/\{\{(\w+)\}\}/g, (_, k: string) => vars[k] ?? `{{${k}}}`);
  }
  if (Array.isArray(value)) return value.map((v) => fill(v, vars, payload));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, vars, payload)]));
  return value;
}

/** Frame-energy envelope (dB per 20 ms at 8 kHz) and its best correlation with another, over lags. */
function envelope(pcm: Int16Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 160 <= pcm.length; i += 160) {
    let s = 0;
    for (let j = i; j < i + 160; j++) s += pcm[j] * pcm[j];
    out.push(10 * Math.log10(s / 160 + 1));
  }
  return out;
}
function bestCorrelation(a: number[], b: number[]): number {
  let best = -1;
  for (let lag = 0; lag + b.length <= a.length; lag++) {
    const x = a.slice(lag, lag + b.length);
    const mx = x.reduce((p, c) => p + c, 0) / x.length;
    const my = b.reduce((p, c) => p + c, 0) / b.length;
    let sxy = 0;
    let sxx = 0;
    let syy = 0;
    for (let i = 0; i < b.length; i++) {
      sxy += (x[i] - mx) * (b[i] - my);
      sxx += (x[i] - mx) ** 2;
      syy += (b[i] - my) ** 2;
    }
    best = Math.max(best, sxy / Math.sqrt(sxx * syy || 1));
  }
  return best;
}

interface Opened {
  gw: TestGateway;
  telnyx?: TelnyxRestFake;
  twilio?: TwilioRestFake;
}
const open: Opened[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.gw.close();
    await o.telnyx?.close();
    await o.twilio?.close();
  }
});

describe('carrier fixtures from the documentation, replayed through a real gateway', () => {
  it('there are fixtures for Twilio inbound and outbound, TeXML and Call Control, PCMU, PCMA and L16, reordering and retries', () => {
    expect(FILES).toEqual(expect.arrayContaining(['twilio-inbound-pcmu.json', 'twilio-outbound-pcmu.json', 'telnyx-texml-pcmu.json', 'telnyx-texml-pcma-egress-pcmu.json', 'telnyx-call-control-l16.json', 'telnyx-call-control-reordered.json']));
  });

  it.each(FILES)('%s', { timeout: 30_000 }, async (file) => {
    const fx = JSON.parse(readFileSync(DIR + file, 'utf8')) as Fixture;
    expect(fx.source.length).toBeGreaterThan(0);
    for (const s of fx.source) expect(s).toMatch(/^https:\/\/(www\.twilio\.com|developers\.telnyx\.com)\//);
    const telnyxKeys = nacl.sign.keyPair();
    const telnyx = fx.transport === 'telnyx' ? await startTelnyxRestFake({ apiKey: TELNYX_KEY, secretKey: telnyxKeys.secretKey }) : undefined;
    const twilio = fx.setup === 'twilio_dial' ? await startTwilioRestFake({ authToken: TWILIO_TOKEN }) : undefined;
    const gw = await startTestGateway({
      VAD_ENGINE: 'energy',
      TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
      ...(twilio ? { TWILIO_ACCOUNT_SID: twilio.accountSid, TWILIO_API_BASE_URL: twilio.baseUrl } : {}),
      ...(telnyx ? { TELNYX_API_KEY: TELNYX_KEY, TELNYX_API_BASE_URL: telnyx.apiBaseUrl, TELNYX_PUBLIC_KEY: Buffer.from(telnyxKeys.publicKey).toString('base64') } : {}),
      ...fx.env,
    });
    open.push({ gw, telnyx, twilio });
    const wsBase = gw.baseUrl.replace('http', 'ws');

    // 1. The carrier's first step, as the setup says.
    let callId = fx.transport === 'twilio' ? `CA${randomUUID().replace(/-/g, '')}` : `v3:${randomUUID().replace(/-/g, '')}`;
    let streamUrl: string;
    let token = '';
    if (fx.setup === 'twilio_voice' || fx.setup === 'telnyx_texml') {
      const target = await callWebhook({ transport: fx.transport, baseUrl: gw.baseUrl, carrierCallId: callId, from: '+13122010094', to: '+13122123456', twilioAuthToken: TWILIO_TOKEN, telnyxSecretKey: telnyxKeys.secretKey });
      streamUrl = target.url;
      token = target.parameters.token ?? '';
      if (fx.expect.texml) {
        for (const [attr, want] of Object.entries(fx.expect.texml)) expect(target.attributes[attr], attr).toBe(want ?? undefined); // null: absent
      }
    } else if (fx.setup === 'twilio_dial') {
      const res = await fetch(`${gw.baseUrl}/api/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ transport: 'twilio', to: '+13122123456', from: '+13122010094' }) });
      expect(res.status).toBe(201);
      callId = ((await res.json()) as { carrierCallId: string }).carrierCallId;
      const create = twilio!.requests.find((r) => r.op === 'create')!;
      const twiml = String(create.form.Twiml);
      streamUrl = /<Stream url="([^"]+)"/.exec(twiml)![1];
      token = /name="token" value="([^"]+)"/.exec(twiml)![1];
    } else {
      const eventId = randomUUID();
      for (let attempt = 1; attempt <= (fx.webhookDeliveries ?? 1); attempt++) {
        const body = {
          data: { record_type: 'event', event_type: 'call.initiated', id: eventId, occurred_at: new Date().toISOString(), payload: { call_control_id: callId, connection_id: '7267xxxxxxxxxxxxxx', call_leg_id: randomUUID(), call_session_id: randomUUID(), client_state: null, from: '+13122010094', to: '+13122123456', direction: 'incoming', state: 'parked' } },
          meta: { attempt, delivered_to: `${gw.baseUrl}/telnyx/webhook` },
        };
        const res = await telnyx!.deliver(`${gw.baseUrl}/telnyx/webhook`, body);
        expect(res.status).toBe(200);
      }
      const answer = telnyx!.executed('answer', callId);
      expect(answer).toHaveLength(fx.expect.answers ?? 1);
      if (fx.expect.answer) expect(answer[0].body).toMatchObject(fx.expect.answer);
      if (fx.expect.streamingStart) {
        expect(answer[0].body.stream_url).toBeUndefined();
        await vi.waitFor(() => expect(telnyx!.executed('streaming_start', callId)).toHaveLength(1));
        const started = telnyx!.executed('streaming_start', callId)[0];
        expect(started.body).toMatchObject(fx.expect.streamingStart);
        streamUrl = String(started.body.stream_url);
      } else {
        streamUrl = String(answer[0].body.stream_url);
      }
    }
    if (fx.expect.duplicateWebhooks !== undefined) {
      expect(await metricValue(gw.gateway, 'voice_gateway_webhook_duplicates_total', { carrier: 'telnyx' })).toBe(fx.expect.duplicateWebhooks);
    }
    // Credentials ride where the carrier keeps them: a <Parameter> for Twilio, the URL path for Telnyx.
    expect(streamUrl).not.toContain('?');
    if (fx.transport === 'telnyx') expect(streamUrl).toMatch(/\/telnyx\/media\/[A-Za-z0-9_-]{20,}$/);

    // 2. The media stream, message by message.
    const headers = fx.transport === 'twilio' ? { 'x-twilio-signature': twilioSignature(TWILIO_TOKEN, `${wsBase}/twilio/media`) } : undefined;
    const ws = new WebSocket(streamUrl, { headers });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_q, r) => reject(new Error(`HTTP ${String(r.statusCode)}`)));
    });
    const outbound: Record<string, unknown>[] = [];
    ws.on('message', (d) => outbound.push(JSON.parse(d.toString()) as Record<string, unknown>));
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    const payload = frames(fx.audio);
    const vars = { callId, token };
    let seq = 1;
    for (const m of fx.messages) {
      if (m.repeat !== undefined && m.message) {
        const first = m.from ?? 1;
        for (let k = 0; k < m.repeat; k++) {
          const chunk = first + k;
          seq++;
          ws.send(JSON.stringify(fill(m.message, { ...vars, chunk: String(chunk), timestamp: String((chunk - 1) * 20), seq: String(seq) }, payload)));
          if (m.paceMs) await new Promise((r) => setTimeout(r, m.paceMs));
        }
        continue;
      }
      if (m.event === 'stop' && fx.expect.replyCodec) {
        // Let the reply to the caller's last words play out before hanging up.
        // A media message may hold several 20 ms frames: count the audio (one byte per sample here).
        const replyFrames = () => outbound.filter((o) => o.event === 'media').reduce((n, o) => n + Buffer.from(String((o.media as { payload: string }).payload), 'base64').length / 160, 0);
        await until(() => replyFrames() > 50 || undefined, 'the reply', 10_000);
        await new Promise((r) => setTimeout(r, 1500));
      }
      seq++;
      ws.send(JSON.stringify(fill(m, vars, payload)));
    }
    if (!fx.messages.some((m) => m.event === 'stop')) {
      await until(() => gw.logs.some((l) => l.event === 'call_started') || undefined, 'the call to start', 8000);
      await new Promise((r) => setTimeout(r, 100));
      ws.close();
    }
    await closed;

    // 3. What the gateway made of it.
    const ended = await until(() => gw.logs.find((l) => l.event === 'call_ended' && l.carrierCallId === callId), 'the call to end', 8000);
    const ourId = String(ended.callId);
    const rec = (await (await fetch(`${gw.baseUrl}/api/v1/calls/${ourId}`)).json()) as Record<string, unknown>;
    expect(rec).toMatchObject({ codec: fx.expect.codec, sampleRate: fx.expect.sampleRate, framesIn: fx.expect.framesIn });
    if (fx.expect.endReason) expect(rec.endReason).toBe(fx.expect.endReason);
    if (fx.expect.direction) expect(rec.direction).toBe(fx.expect.direction);
    if (fx.expect.dtmfIn) expect((rec.dtmf as { digit: string; direction: string }[]).filter((d) => d.direction === 'in').map((d) => d.digit).join('')).toBe(fx.expect.dtmfIn);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_rejected_total', { transport: fx.transport })).toBe(fx.expect.rejected);
    if (fx.expect.rejectedReason) expect(await metricValue(gw.gateway, 'voice_gateway_media_rejected_total', { transport: fx.transport, reason: fx.expect.rejectedReason })).toBe(fx.expect.rejected);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_reordered_total', { transport: fx.transport })).toBe(fx.expect.reordered ?? 0);
    for (const [kind, n] of Object.entries(fx.expect.late ?? {})) expect(await metricValue(gw.gateway, 'voice_gateway_media_late_total', { transport: fx.transport, kind })).toBe(n);
    if (fx.expect.hangupAtEnd) {
      await until(() => telnyx!.executed('hangup', callId).length === 1 || undefined, 'the hangup', 8000);
      await until(() => gw.logs.find((l) => l.event === 'carrier_hangup' && l.carrierCallId === callId), 'the hangup log', 8000);
      expect(gw.logs.find((l) => l.event === 'carrier_hangup' && l.carrierCallId === callId)).toMatchObject({ reason: fx.expect.hangupAtEnd });
    }
    // Outbound messages have the documented shape (Twilio: with the streamSid it gave; Telnyx: none).
    for (const o of outbound) {
      if (fx.transport === 'twilio') expect(Object.keys(o).sort()).toEqual(o.event === 'clear' ? ['event', 'streamSid'] : ['event', o.event as string, 'streamSid'].sort());
      else expect(o.streamSid).toBeUndefined();
    }
    if (fx.expect.replyCodec) {
      const reply = Buffer.concat(outbound.filter((o) => o.event === 'media').map((o) => Buffer.from(String((o.media as { payload: string }).payload), 'base64')));
      const caller = envelope(decodeMulaw(readBytes('calls/call-quiet.8k.ulaw')).subarray(0, 300 * 160));
      const asMulaw = bestCorrelation(caller, envelope(pcmCodec('mulaw').decode(new Uint8Array(reply)).subarray(0, 100 * 160)));
      const asAlaw = bestCorrelation(caller, envelope(pcmCodec('alaw').decode(new Uint8Array(reply)).subarray(0, 100 * 160)));
      // The echo of the caller's words, heard in mu-law as the carrier was told; read as A-law it is not.
      expect(asMulaw).toBeGreaterThan(0.8);
      expect(asMulaw).toBeGreaterThan(asAlaw);
    }
  });
});
