/**
 * The carrier descriptors (src/carriers/descriptors.ts): one per name, each one's network side and
 * protocol agree (what the simulator sends as the carrier, the gateway parses), and every table keyed
 * by carrier covers every name.
 */
import { describe, expect, it } from 'vitest';
import { CARRIER_NAMES, isCarrierName } from '../../src/carriers/carrier-name.js';
import { CARRIER_LIST, CARRIERS } from '../../src/carriers/descriptors.js';
import { parseOutboundRequest } from '../../src/carriers/call-requests.js';
import { CARRIER_ROUTES } from '../../src/http/routes/carriers.js';
import { redactStreamTokens } from '../../src/http/security/stream-tokens.js';
import { TelnyxVerifier } from '../../src/carriers/telnyx/signature.js';
import { verifyTwilioWebhook } from '../../src/carriers/twilio/signature.js';
import nacl from 'tweetnacl';

const HEX = '0123456789abcdef0123456789abcdef';

describe('carrier descriptors', () => {
  it('list every carrier name once, in CARRIER_NAMES order, each under its own name', () => {
    expect(CARRIER_LIST.map((c) => c.name)).toEqual([...CARRIER_NAMES]);
    for (const name of CARRIER_NAMES) expect(CARRIERS[name].name).toBe(name);
    expect(Object.keys(CARRIER_ROUTES).sort()).toEqual([...CARRIER_NAMES].sort());
  });

  it('give distinct media paths', () => {
    const paths = CARRIER_LIST.map((c) => c.paths.media);
    expect(new Set(paths).size).toBe(paths.length);
    for (const p of paths) expect(p).toMatch(/^\/[a-z0-9/-]+$/);
  });

  it.each(CARRIER_NAMES)('%s: its protocol parses what its network side sends, start to stop', (name) => {
    const carrier = CARRIERS[name];
    const callId = carrier.network.callId(HEX);
    expect(callId).toContain(HEX);
    const msgs = carrier.network.messages('6f1c2b7e-0d1a-4a55-9c8e-2f3b4c5d6e7f');
    const protocol = carrier.protocol();
    expect(protocol.transport).toBe(name);
    expect(protocol.parse(msgs.connected())).toMatchObject({ type: 'connected' });
    const start = protocol.parse(msgs.start({ carrierCallId: callId, streamId: '', codec: 'mulaw', customParameters: { token: 't' } }));
    expect(start).toMatchObject({ type: 'start', carrierCallId: callId, format: { codec: 'mulaw', sampleRate: 8000 }, customParameters: { token: 't' } });
    expect(protocol.parse(msgs.media(Buffer.from([1, 2, 3]).toString('base64'), 40, 3))).toMatchObject({ type: 'media', payload: Uint8Array.of(1, 2, 3), timestampMs: 40, chunk: 3 });
    expect(protocol.parse(msgs.dtmf('7'))).toEqual({ type: 'dtmf', digit: '7' });
    expect(protocol.parse(msgs.mark('m1'))).toEqual({ type: 'mark', name: 'm1' });
    expect(protocol.parse(msgs.stop(callId))).toEqual({ type: 'stop' });
  });

  it.each(CARRIER_NAMES)('%s: a token in its media path never reaches a log line', (name) => {
    const url = `wss://gw.example${CARRIERS[name].paths.media}/secret-token?x=1`;
    expect(redactStreamTokens(url)).toBe(`wss://gw.example${CARRIERS[name].paths.media}/[redacted]?x=1`);
  });

  it('the API takes exactly the carrier names as transport, and names them when refusing another', () => {
    for (const name of CARRIER_NAMES) {
      expect(isCarrierName(name)).toBe(true);
      expect(parseOutboundRequest({ transport: name, to: '+15550100', from: '+15550199' }, 'c').transport).toBe(name);
    }
    for (const other of ['webrtc', 'TWILIO', '', undefined, 1, '__proto__']) expect(isCarrierName(other)).toBe(false);
    expect(() => parseOutboundRequest({ transport: 'webrtc', to: '+15550100', from: '+15550199' }, 'c')).toThrow('\'transport\' must be "twilio" or "telnyx"');
  });

  it("sign the simulated webhooks and handshakes so that the gateway's own verifiers accept them", () => {
    const keys = nacl.sign.keyPair();
    const creds = { twilioAuthToken: 'tw-token', telnyxSecretKey: keys.secretKey };
    const params = { CallSid: 'CA1', From: '+15550100' };
    const body = new URLSearchParams(params).toString();
    const nowS = 1_800_000_000;
    for (const attempt of [0, 1]) {
      const tw = CARRIERS.twilio.network.signWebhook(creds, { url: 'https://gw.example/twilio/voice', params, body, nowS, attempt });
      expect(verifyTwilioWebhook({ tokens: ['tw-token'] }, { headers: tw, url: 'https://gw.example/twilio/voice', body: { contentType: 'application/x-www-form-urlencoded', raw: body } })).toEqual({ ok: true });
      expect(verifyTwilioWebhook({ tokens: ['other'] }, { headers: tw, url: 'https://gw.example/twilio/voice', body: { contentType: 'application/x-www-form-urlencoded', raw: body } }).ok).toBe(false);
    }
    const verifier = new TelnyxVerifier({ publicKeyBase64: Buffer.from(keys.publicKey).toString('base64'), now: () => nowS * 1000 });
    const first = CARRIERS.telnyx.network.signWebhook(creds, { url: 'https://gw.example/telnyx/texml', params, body, nowS, attempt: 0 });
    const retry = CARRIERS.telnyx.network.signWebhook(creds, { url: 'https://gw.example/telnyx/texml', params, body, nowS, attempt: 1 });
    // A retry is a new delivery, signed anew: not refused as a replay of the first.
    expect(verifier.verifyRequest(first, body)).toEqual({ ok: true });
    expect(verifier.verifyRequest(retry, body)).toEqual({ ok: true });
    const url = 'wss://gw.example/twilio/media?x=1';
    expect(verifyTwilioWebhook({ tokens: ['tw-token'] }, { headers: CARRIERS.twilio.network.signHandshake(creds, url), url: 'wss://gw.example/twilio/media' })).toEqual({ ok: true });
    expect(CARRIERS.telnyx.network.signHandshake(creds, 'wss://gw.example/telnyx/media/t')).toEqual({});
    for (const name of CARRIER_NAMES) expect(CARRIERS[name].network.signWebhook({}, { url: 'u', params, body, nowS, attempt: 0 })).toEqual({});
  });
});
