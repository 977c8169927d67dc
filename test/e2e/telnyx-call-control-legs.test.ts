/**
 * Telnyx Call Control legs end at Telnyx whenever a call ends on our side (issue 12 item 1), retried
 * webhooks and commands are idempotent (item 5), and the media socket's token rules (issue 19 items
 * 5, 6, 7): a real gateway on a loopback port, the Telnyx REST fake recording every command, and a
 * media stream played as Telnyx plays it.
 */
import { randomUUID } from 'node:crypto';
import nacl from 'tweetnacl';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { telnyxMessages } from '../../src/carriers/telnyx/network-messages.js';
import type { NetworkMessages } from '../../src/carriers/network-messages.js';
import { startTelnyxRestFake, type TelnyxRestFake } from '../fakes/telnyx-rest-fake.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';
import { until } from '../support/until.js';

const API_KEY = 'KEY_legs_test';
const FRAME = Buffer.alloc(160, 0xff).toString('base64');

interface Rig {
  gw: TestGateway;
  telnyx: TelnyxRestFake;
  closed: boolean;
}
const rigs: Rig[] = [];

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    if (!r.closed) await r.gw.close();
    await r.telnyx.close();
  }
});

async function rig(env: Record<string, string> = {}): Promise<Rig> {
  const keys = nacl.sign.keyPair();
  const telnyx = await startTelnyxRestFake({ apiKey: API_KEY, secretKey: keys.secretKey });
  const gw = await startTestGateway({
    VAD_ENGINE: 'energy',
    TELNYX_API_KEY: API_KEY,
    TELNYX_API_BASE_URL: telnyx.apiBaseUrl,
    TELNYX_PUBLIC_KEY: Buffer.from(keys.publicKey).toString('base64'),
    CARRIER_API_TIMEOUT_MS: '1500',
    ...env,
  });
  const r = { gw, telnyx, closed: false };
  rigs.push(r);
  return r;
}

/**
 * call.initiated as Telnyx posts it (the documented example's shape), with an event id. A redelivery
 * keeps data (id included) and counts meta.attempt up, so it is signed anew (an identical signed body
 * is a replay, refused by the signature check).
 */
function initiated(callControlId: string, eventId = randomUUID(), attempt = 1) {
  return {
    data: {
      record_type: 'event',
      event_type: 'call.initiated',
      id: eventId,
      occurred_at: new Date().toISOString(),
      payload: { call_control_id: callControlId, call_leg_id: randomUUID(), call_session_id: randomUUID(), connection_id: 'conn-1', direction: 'incoming', from: '+15550100', to: '+15550199', state: 'parked' },
    },
    meta: { attempt, delivered_to: 'x' },
  };
}

interface Stream {
  ws: WebSocket;
  msgs: NetworkMessages;
  callId: string;
}

async function openWs(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${String(res.statusCode)}`)));
    ws.once('error', reject);
  });
  return ws;
}

/** Answer an inbound call through the webhook and start its media stream as Telnyx would. */
async function liveCall(r: Rig, callControlId: string, encoding: 'mulaw' | 'alaw' | 'l16' = 'mulaw'): Promise<Stream> {
  const res = await r.telnyx.deliver(`${r.gw.baseUrl}/telnyx/webhook`, initiated(callControlId));
  expect(res.status).toBe(200);
  const answer = r.telnyx.executed('answer', callControlId)[0];
  const ws = await openWs(String(answer.body.stream_url));
  const msgs = telnyxMessages(randomUUID());
  ws.send(msgs.connected());
  ws.send(msgs.start({ carrierCallId: callControlId, streamId: '', codec: encoding, customParameters: {} }));
  for (let i = 1; i <= 5; i++) ws.send(msgs.media(FRAME, i * 20, i));
  let callId = '';
  await until(() => {
    const c = r.gw.gateway.calls.list().find((x) => x.carrierCallId === callControlId);
    callId = c?.id ?? '';
    return c !== undefined;
  }, 'the call to start', 5000);
  return { ws, msgs, callId };
}

const hangupsFor = (r: Rig, id: string) => r.telnyx.requests.filter((q) => q.op === 'hangup' && q.callControlId === id);
const hangupLog = (r: Rig, id: string) => r.gw.logs.find((l) => l.event === 'carrier_hangup' && l.carrierCallId === id);

describe('a Telnyx Call Control leg is hung up whenever the call ends on our side', () => {
  it('API hangup: one hangup command, reason recorded', async () => {
    const r = await rig();
    const s = await liveCall(r, 'v3:api');
    const res = await fetch(`${r.gw.baseUrl}/api/v1/calls/${s.callId}/hangup`, { method: 'POST' });
    expect(res.status).toBe(200);
    await until(() => r.gw.gateway.calls.size === 0, 'the call to end', 5000);
    expect(hangupsFor(r, 'v3:api')).toHaveLength(1);
    expect(hangupLog(r, 'v3:api')).toMatchObject({ reason: 'api_hangup' });
    expect(await metricValue(r.gw.gateway, 'voice_gateway_carrier_commands_total', { carrier: 'telnyx', command: 'hangup', status: 'ok' })).toBe(1);
    expect(await metricValue(r.gw.gateway, 'voice_gateway_carrier_commands_total', { carrier: 'telnyx', command: 'answer', status: 'ok' })).toBe(1);
  });

  it('our socket dropped: hung up with reason socket_closed', async () => {
    const r = await rig();
    const s = await liveCall(r, 'v3:drop');
    s.ws.terminate();
    await until(() => hangupsFor(r, 'v3:drop').length === 1, 'the hangup', 5000);
    await until(() => hangupLog(r, 'v3:drop') !== undefined, 'the hangup log', 5000);
    expect(hangupLog(r, 'v3:drop')).toMatchObject({ reason: 'socket_closed' });
  });

  it('shutdown drain: hung up before the gateway is gone', async () => {
    const r = await rig();
    await liveCall(r, 'v3:drain');
    await r.gw.close();
    r.closed = true;
    expect(hangupsFor(r, 'v3:drain')).toHaveLength(1);
    expect(hangupLog(r, 'v3:drain')).toMatchObject({ reason: 'shutdown' });
  });

  it.each(['all_providers_down', 'provider_goodbye'])('the call ending with %s hangs the leg up', async (reason) => {
    const r = await rig();
    const s = await liveCall(r, `v3:${reason}`);
    // Both reach the carrier the same way: the call ends, its transport closes, the leg is hung up.
    await r.gw.gateway.calls.get(s.callId)!.end(reason);
    await until(() => hangupsFor(r, `v3:${reason}`).length === 1, 'the hangup', 5000);
    await until(() => hangupLog(r, `v3:${reason}`) !== undefined, 'the hangup log', 5000);
    expect(hangupLog(r, `v3:${reason}`)).toMatchObject({ reason });
  });

  it('the caller hanging up (Telnyx stop) sends no hangup', async () => {
    const r = await rig();
    const s = await liveCall(r, 'v3:stop');
    s.ws.send(s.msgs.stop('v3:stop'));
    await until(() => r.gw.gateway.calls.size === 0, 'the call to end', 5000);
    await new Promise((res) => setTimeout(res, 100));
    expect(hangupsFor(r, 'v3:stop')).toHaveLength(0);
  });

  it('an inbound codec we cannot decode is refused with a logged error and a hangup, never silence', async () => {
    const r = await rig();
    await r.telnyx.deliver(`${r.gw.baseUrl}/telnyx/webhook`, initiated('v3:g722'));
    const ws = await openWs(String(r.telnyx.executed('answer', 'v3:g722')[0].body.stream_url));
    const closed = new Promise<number>((res) => ws.once('close', (code) => res(code)));
    ws.send(JSON.stringify({ event: 'connected', version: '1.0.0' }));
    ws.send(JSON.stringify({ event: 'start', sequence_number: '1', stream_id: 's', start: { call_control_id: 'v3:g722', media_format: { encoding: 'G722', sample_rate: 16000, channels: 1 } } }));
    expect(await closed).toBe(1003);
    await until(() => hangupsFor(r, 'v3:g722').length === 1, 'the hangup', 5000);
    expect(r.gw.gateway.calls.size).toBe(0);
    expect(r.gw.logs.some((l) => l.event === 'media_codec_refused' && l.level === 50)).toBe(true);
    await until(() => hangupLog(r, 'v3:g722') !== undefined, 'the hangup log', 5000);
    expect(hangupLog(r, 'v3:g722')).toMatchObject({ reason: 'unsupported_codec' });
  });

  it('an expired stream token: the upgrade is refused and the leg hung up', async () => {
    const r = await rig({ STREAM_TOKEN_TTL_MS: '1000' });
    await r.telnyx.deliver(`${r.gw.baseUrl}/telnyx/webhook`, initiated('v3:late'));
    const url = String(r.telnyx.executed('answer', 'v3:late')[0].body.stream_url);
    await new Promise((res) => setTimeout(res, 1100));
    await expect(openWs(url)).rejects.toThrow('HTTP 403');
    await until(() => hangupsFor(r, 'v3:late').length === 1, 'the hangup', 5000);
    await until(() => hangupLog(r, 'v3:late') !== undefined, 'the hangup log', 5000);
    expect(hangupLog(r, 'v3:late')).toMatchObject({ reason: 'stream_token_expired' });
  });

  it('a bad token opens nothing; a leg whose stream never opens is hung up when its token has run out', async () => {
    const r = await rig({ STREAM_TOKEN_TTL_MS: '1000' });
    await r.telnyx.deliver(`${r.gw.baseUrl}/telnyx/webhook`, initiated('v3:never'));
    await expect(openWs(`${r.gw.baseUrl.replace('http', 'ws')}/telnyx/media/forged-token`)).rejects.toThrow('HTTP 403');
    expect(hangupsFor(r, 'v3:never')).toHaveLength(0);
    // Token life (1 s) plus the grace (5 s).
    await until(() => hangupsFor(r, 'v3:never').length === 1, 'the watchdog hangup', 8000);
    await until(() => hangupLog(r, 'v3:never') !== undefined, 'the hangup log', 5000);
    expect(hangupLog(r, 'v3:never')).toMatchObject({ reason: 'stream_not_opened' });
  }, 15_000);
});

describe('Telnyx webhooks delivered at least once, commands idempotent', () => {
  it('a duplicated call.initiated is acknowledged 2xx and answered once', async () => {
    const r = await rig();
    const id = randomUUID();
    const url = `${r.gw.baseUrl}/telnyx/webhook`;
    const [a, b] = await Promise.all([r.telnyx.deliver(url, initiated('v3:dup', id, 1)), r.telnyx.deliver(url, initiated('v3:dup', id, 2))]);
    const c = await r.telnyx.deliver(url, initiated('v3:dup', id, 3));
    expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);
    expect([a.json, b.json, c.json].filter((j) => (j as { status: string }).status === 'duplicate')).toHaveLength(2);
    expect(r.telnyx.requests.filter((q) => q.op === 'answer')).toHaveLength(1);
    expect(await metricValue(r.gw.gateway, 'voice_gateway_webhook_duplicates_total', { carrier: 'telnyx' })).toBe(2);
  });

  it('an answer that failed is run again by the retried webhook, with the same command_id', async () => {
    const r = await rig();
    // Twice: the SDK retries a 500 once on its own.
    r.telnyx.failNext('answer', 500, '10000', 'Internal error');
    r.telnyx.failNext('answer', 500, '10000', 'Internal error');
    const id = randomUUID();
    const first = await r.telnyx.deliver(`${r.gw.baseUrl}/telnyx/webhook`, initiated('v3:retry', id, 1));
    expect(first.status).toBe(502);
    const again = await r.telnyx.deliver(`${r.gw.baseUrl}/telnyx/webhook`, initiated('v3:retry', id, 2));
    expect(again.status).toBe(200);
    const answers = r.telnyx.requests.filter((q) => q.op === 'answer' && q.callControlId === 'v3:retry');
    // The SDK retried the 500 once itself (same command id), then the webhook retry sent it again.
    expect(answers.length).toBe(3);
    expect(new Set(answers.map((q) => q.body.command_id)).size).toBe(1);
    expect(r.telnyx.executed('answer', 'v3:retry')).toHaveLength(1);
  });

  it('a slow answer does not hold the webhook: 2xx within the wait, the command goes on under its deadline', async () => {
    const r = await rig();
    // Twice: the SDK retries a timed-out request once on its own (same command_id).
    r.telnyx.hangNext('answer');
    r.telnyx.hangNext('answer');
    const t0 = performance.now();
    const res = await r.telnyx.deliver(`${r.gw.baseUrl}/telnyx/webhook`, initiated('v3:slow'));
    const ms = performance.now() - t0;
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'answering' });
    expect(ms).toBeLessThan(3000);
    await until(() => r.gw.logs.some((l) => l.event === 'telnyx_answer_failed'), 'the answer to time out', 6000);
    expect(await metricValue(r.gw.gateway, 'voice_gateway_carrier_commands_total', { carrier: 'telnyx', command: 'answer', status: 'timeout' })).toBe(1);
  }, 15_000);

  it('a hangup sent twice carries one command_id, so Telnyx runs it once', async () => {
    const r = await rig();
    const s = await liveCall(r, 'v3:twice');
    const control = await fetch(`${r.gw.baseUrl}/api/v1/calls/${s.callId}/hangup`, { method: 'POST' });
    expect(control.status).toBe(200);
    // A second hangup for the same leg (e.g. after a restart) goes out with the same id and is ignored.
    const { createTelnyxCallControl } = await import('../../src/carriers/telnyx/call-control.js');
    await createTelnyxCallControl({ apiKey: API_KEY, baseUrl: r.telnyx.apiBaseUrl }).hangup('v3:twice');
    const sent = hangupsFor(r, 'v3:twice');
    expect(sent).toHaveLength(2);
    expect(sent[0].body.command_id).toBe(sent[1].body.command_id);
    expect(sent[1].duplicate).toBe(true);
    expect(r.telnyx.executed('hangup', 'v3:twice')).toHaveLength(1);
  });
});

describe('answering with a stream', () => {
  it('PCMU: one answer carries the stream; L16: a plain answer, then streaming_start with the rate, which answer does not take', async () => {
    const telnyx = await startTelnyxRestFake({ apiKey: API_KEY });
    try {
      const { createTelnyxCallControl } = await import('../../src/carriers/telnyx/call-control.js');
      const control = createTelnyxCallControl({ apiKey: API_KEY, baseUrl: telnyx.apiBaseUrl });
      const streamUrl = 'wss://gw.example/telnyx/media/tok';
      await control.answerWithStream('v3:mulaw', { streamUrl, codec: 'PCMU', bidirectionalCodec: 'PCMU' });
      expect(telnyx.executed('answer', 'v3:mulaw').map((r) => r.body)).toEqual([
        expect.objectContaining({ stream_url: streamUrl, stream_codec: 'PCMU', stream_bidirectional_codec: 'PCMU', stream_bidirectional_mode: 'rtp' }),
      ]);
      expect(telnyx.executed('streaming_start', 'v3:mulaw')).toEqual([]);

      await control.answerWithStream('v3:l16', { streamUrl, codec: 'L16', bidirectionalCodec: 'L16', bidirectionalSamplingRate: 16000 });
      const [answer] = telnyx.executed('answer', 'v3:l16');
      expect(Object.keys(answer.body)).toEqual(['command_id']);
      expect(telnyx.executed('streaming_start', 'v3:l16').map((r) => r.body)).toEqual([
        expect.objectContaining({ stream_url: streamUrl, stream_codec: 'L16', stream_bidirectional_codec: 'L16', stream_bidirectional_sampling_rate: 16000, stream_bidirectional_mode: 'rtp' }),
      ]);
      // The fake refuses the rate on answer, as the SDK's ActionAnswerParams has no such field.
      const refused = await fetch(`${telnyx.apiBaseUrl}/calls/v3:other/actions/answer`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ stream_url: streamUrl, stream_bidirectional_codec: 'L16', stream_bidirectional_sampling_rate: 16000 }),
      });
      expect(refused.status).toBe(422);
    } finally {
      await telnyx.close();
    }
  });
});

describe('media stream tokens (issue 19 items 5, 6, 7)', () => {
  it('one token opens one socket: it is spent at the upgrade', async () => {
    const r = await rig();
    await r.telnyx.deliver(`${r.gw.baseUrl}/telnyx/webhook`, initiated('v3:once'));
    const url = String(r.telnyx.executed('answer', 'v3:once')[0].body.stream_url);
    const ws = await openWs(url);
    for (let i = 0; i < 5; i++) await expect(openWs(url)).rejects.toThrow('HTTP 403');
    ws.close();
  });

  it('a Twilio-issued token is refused on the Telnyx media route', async () => {
    const r = await rig();
    const res = await fetch(`${r.gw.baseUrl}/twilio/voice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'CallSid=CA1&From=%2B1&To=%2B2' });
    const token = /name="token" value="([^"]+)"/.exec(await res.text())![1];
    await expect(openWs(`${r.gw.baseUrl.replace('http', 'ws')}/telnyx/media/${token}`)).rejects.toThrow('HTTP 403');
    await expect(openWs(`${r.gw.baseUrl.replace('http', 'ws')}/telnyx/media?token=${token}`)).rejects.toThrow('HTTP 403');
  });

  it('stream tokens never appear in the logs (path or query)', async () => {
    const r = await rig();
    await r.telnyx.deliver(`${r.gw.baseUrl}/telnyx/webhook`, initiated('v3:quiet'));
    const url = String(r.telnyx.executed('answer', 'v3:quiet')[0].body.stream_url);
    const token = url.slice(url.lastIndexOf('/') + 1);
    const ws = await openWs(url);
    await expect(openWs(url.replace(`/${token}`, `?token=${token}`))).rejects.toThrow('HTTP 403');
    ws.close();
    await new Promise((res) => setTimeout(res, 50));
    expect(r.gw.rawLogs.join('\n')).not.toContain(token);
    expect(r.gw.rawLogs.some((l) => l.includes('/telnyx/media/[redacted]'))).toBe(true);
  });
});
