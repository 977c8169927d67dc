/**
 * Property-based fuzzing (fast-check) of every parser at the edge: media messages of both carriers
 * (the protocol parse functions, then a real media socket), webhooks, API queries and bodies, WebRTC
 * offers. Each property: no crash (no 500, no non-GatewayError throw), no state change on rejection
 * (no call, no token, no frame), and one counted rejection per rejected input. Runs are kept small
 * (numRuns) so the hostile suite stays well under 30 s.
 */
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../src/errors.js';
import { TelnyxProtocol } from '../../src/carriers/telnyx/protocol.js';
import { TwilioProtocol } from '../../src/carriers/twilio/protocol.js';
import { callWebhook } from '../../src/simulator/webhook.js';
import { twilioMessages } from '../../src/carriers/twilio/network-messages.js';
import { telnyxMessages } from '../../src/carriers/telnyx/network-messages.js';
import { injectGateway, type InjectGateway } from '../support/app.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';
import { openSocket } from '../support/media-socket.js';

const EVENTS = ['media', 'start', 'stop', 'dtmf', 'mark', 'connected', 'error', 'clear', '__proto__', 'constructor'];

/** Media-message-shaped JSON: a known event name with arbitrary (often wrong) fields, or any JSON, or any text. */
const mediaMessage = fc.oneof(
  fc.record({
    event: fc.constantFrom(...EVENTS),
    streamSid: fc.oneof(fc.string(), fc.integer(), fc.constant(undefined)),
    media: fc.oneof(fc.record({ payload: fc.oneof(fc.string(), fc.base64String(), fc.integer()), track: fc.string() }), fc.anything()),
    start: fc.anything(),
    dtmf: fc.oneof(fc.record({ digit: fc.oneof(fc.string({ maxLength: 300 }), fc.integer()) }), fc.anything()),
    mark: fc.anything(),
  }).map((o) => JSON.stringify(o)),
  fc.json(),
  fc.string({ maxLength: 400 }),
);

function parseOutcome(protocol: TwilioProtocol | TelnyxProtocol, text: string): 'ok' | 'rejected' {
  try {
    protocol.parse(text);
    return 'ok';
  } catch (err) {
    if (!isGatewayError(err)) throw new Error(`parse threw a non-GatewayError for ${text.slice(0, 200)}: ${String(err)}`, { cause: err });
    return 'rejected';
  }
}

describe('fuzz: media message parsers', () => {
  it.each([
    ['twilio', () => new TwilioProtocol()],
    ['telnyx', () => new TelnyxProtocol()],
  ] as const)('%s: every input is an event or a GatewayError, never another throw', (_name, make) => {
    fc.assert(
      fc.property(mediaMessage, (text) => {
        parseOutcome(make(), text);
      }),
      { numRuns: 400 },
    );
  });
});

describe('fuzz: media messages through a real media socket', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ VAD_ENGINE: 'energy', MEDIA_MAX_MESSAGES_PER_SECOND: '100000', MEDIA_MAX_MESSAGE_BYTES: '4096' });
  });
  afterAll(async () => {
    await gw.close();
  });

  it.each(['twilio', 'telnyx'] as const)('%s: each rejected message is counted once and changes nothing', async (transport) => {
    const carrierCallId = transport === 'twilio' ? 'CAfuzz' : 'v3:fuzz';
    const target = await callWebhook({ transport, baseUrl: gw.baseUrl, carrierCallId, from: '+1', to: '+2' });
    const ws = await openSocket(target.url);
    const msgs = transport === 'twilio' ? twilioMessages('MZfuzz') : telnyxMessages('fuzz-stream');
    ws.send(msgs.connected());
    ws.send(msgs.start({ carrierCallId, streamId: 'fuzz-stream', codec: 'mulaw', customParameters: target.parameters }));
    const deadline = Date.now() + 5000;
    while (!gw.gateway.calls.list().some((c) => c.carrierCallId === carrierCallId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const call = gw.gateway.calls.list().find((c) => c.carrierCallId === carrierCallId)!;
    expect(call).toBeDefined();
    const callsBefore = gw.gateway.calls.size;
    const framesBefore = call.snapshot().framesIn;
    const rejectedBefore = await metricValue(gw.gateway, 'voice_gateway_media_rejected_total', { transport });

    // Only inputs the parser refuses (decided by the same parser, fresh): those must change nothing.
    const samples = fc.sample(mediaMessage.filter((t) => parseOutcome(transport === 'twilio' ? new TwilioProtocol() : new TelnyxProtocol(), t) === 'rejected'), { numRuns: 150, seed: 19 });
    for (const text of samples) ws.send(text);
    const expected = rejectedBefore + samples.length;
    const until = Date.now() + 10_000;
    while ((await metricValue(gw.gateway, 'voice_gateway_media_rejected_total', { transport })) < expected && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(await metricValue(gw.gateway, 'voice_gateway_media_rejected_total', { transport })).toBe(expected);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_rejected_total', { reason: 'internal' })).toBe(0);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    expect(gw.gateway.calls.size).toBe(callsBefore);
    expect(call.snapshot()).toMatchObject({ framesIn: framesBefore, state: 'active' });
    ws.close();
  });
});

describe('fuzz: webhooks, API and WebRTC offers (inject)', () => {
  let g: InjectGateway;
  beforeAll(async () => {
    g = await injectGateway({ TWILIO_AUTH_TOKEN: 'tok', TELNYX_PUBLIC_KEY: Buffer.alloc(32, 7).toString('base64'), API_TOKENS: 'k' });
  });
  afterAll(async () => {
    await g.gateway.close(0);
  });

  const formBody = fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 60 }), { maxKeys: 8 }).map((d) => new URLSearchParams(d).toString());
  const anyBody = fc.oneof(formBody, fc.json(), fc.string({ maxLength: 300 }));
  const contentType = fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', 'application/x-www-form-urlencoded; charset=utf-8');

  it('unsigned or badly signed webhooks: 4xx (never 5xx), counted, no token, no call', async () => {
    const run = fc.asyncProperty(
      fc.constantFrom('/twilio/voice', '/telnyx/texml', '/twilio/status', '/telnyx/call-control'),
      anyBody,
      contentType,
      fc.record({ 'x-twilio-signature': fc.string(), 'telnyx-signature-ed25519': fc.string(), 'telnyx-timestamp': fc.oneof(fc.string(), fc.integer().map(String)) }, { requiredKeys: [] }),
      async (url, payload, type, headers) => {
        const rejectedBefore = await metricValue(g.gateway, 'voice_gateway_http_rejected_total');
        const res = await g.gateway.app.inject({ method: 'POST', url, payload, headers: { 'content-type': type, ...headers } });
        expect(res.statusCode, `${url} ${payload.slice(0, 100)}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
        if (res.statusCode !== 404) expect(await metricValue(g.gateway, 'voice_gateway_http_rejected_total')).toBe(rejectedBefore + 1);
        expect(g.gateway.calls.size).toBe(0);
      },
    );
    await fc.assert(run, { numRuns: 60 });
  });

  it('API queries and bodies: 4xx or 2xx, never 5xx; every 4xx counted; no call placed', async () => {
    const query = fc.dictionary(fc.constantFrom('state', 'limit', 'cursor', '__proto__', 'constructor', 'x'), fc.string({ maxLength: 30 }), { maxKeys: 4 });
    const run = fc.asyncProperty(query, fc.oneof(fc.json(), fc.string({ maxLength: 200 })), async (q, body) => {
      const before = await metricValue(g.gateway, 'voice_gateway_http_rejected_total');
      const list = await g.gateway.app.inject({ method: 'GET', url: `/api/v1/calls?${new URLSearchParams(q).toString()}`, headers: { authorization: 'Bearer k' } });
      expect(list.statusCode, JSON.stringify(q)).not.toBeGreaterThanOrEqual(500);
      const place = await g.gateway.app.inject({ method: 'POST', url: '/api/v1/calls', payload: body, headers: { authorization: 'Bearer k', 'content-type': 'application/json' } });
      expect(place.statusCode, body.slice(0, 100)).toBeGreaterThanOrEqual(400);
      expect(place.statusCode).toBeLessThan(500);
      const rejected = (list.statusCode >= 400 ? 1 : 0) + 1;
      expect(await metricValue(g.gateway, 'voice_gateway_http_rejected_total')).toBe(before + rejected);
      expect(g.gateway.calls.size).toBe(0);
    });
    await fc.assert(run, { numRuns: 60 });
  });

  it('WebRTC offers with a valid session token and a fuzzed SDP: 400, counted, no session', async () => {
    const sdp = fc.oneof(
      fc.string({ maxLength: 400 }),
      fc.array(fc.constantFrom('v=0', 'o=- 1 1 IN IP4 0.0.0.0', 's=-', 't=0 0', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=rtpmap:111 opus/48000/2', 'a=fingerprint:sha-256 00', 'a=setup:actpass', 'a=ice-ufrag:x', 'c=IN IP4 0.0.0.0', 'm=video 0 RTP/AVP 0'), { maxLength: 12 }).map((l) => l.join('\r\n')),
      fc.anything(),
    );
    const run = fc.asyncProperty(sdp, async (offerSdp) => {
      const tokenRes = await g.gateway.app.inject({ method: 'POST', url: '/api/v1/sessions', headers: { authorization: 'Bearer k' }, payload: {} });
      const token = (tokenRes.json() as { token: string }).token;
      const before = await metricValue(g.gateway, 'voice_gateway_http_rejected_total');
      const res = await g.gateway.app.inject({ method: 'POST', url: '/webrtc/offer', payload: { sdp: offerSdp, type: 'offer', token } });
      // fc.anything() makes null-prototype objects, which String() cannot convert: name the type instead.
      expect(res.statusCode, typeof offerSdp === 'string' ? offerSdp.slice(0, 100) : typeof offerSdp).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
      expect(await metricValue(g.gateway, 'voice_gateway_http_rejected_total')).toBe(before + 1);
      expect(g.gateway.calls.size).toBe(0);
    });
    await fc.assert(run, { numRuns: 25 });
  });
});
