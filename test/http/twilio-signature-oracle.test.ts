/**
 * Twilio signing checked against the official `twilio` package as the oracle (issue 19 item 10,
 * issue 12 item 8): repeated form parameters, JSON bodies with and without bodySHA256. Whatever
 * twilio-node's validateRequest / validateRequestWithBody accept or refuse, we accept or refuse.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import twilio from 'twilio';
import { describe, expect, it } from 'vitest';
import { twilioFormParams, twilioSignature, verifyTwilioRequest, type TwilioParams } from '../../src/carriers/twilio/signature.js';
import { injectGateway } from '../support/app.js';

const oracle = twilio as unknown as {
  getExpectedTwilioSignature(token: string, url: string, params: Record<string, string | string[]>): string;
  validateRequest(token: string, header: string, url: string, params: Record<string, string | string[]>): boolean;
  validateRequestWithBody(token: string, header: string, url: string, body: string): boolean;
};

const TOKEN = 'oracle-token';

describe('Twilio signatures agree with the twilio package', () => {
  it('repeated form parameters are signed as twilio-node signs them (each distinct value, sorted)', () => {
    const url = 'https://gw.example.com/twilio/voice';
    const params = { CallSid: 'CA1', To: ['+15550001', '+15550003', '+15550002', '+15550001'] };
    const expected = oracle.getExpectedTwilioSignature(TOKEN, url, params);
    expect(twilioSignature(TOKEN, url, params)).toBe(expected);
    expect(verifyTwilioRequest({ tokens: [TOKEN], signature: expected, url, params })).toEqual({ ok: true });
    // Keeping only the last value (what the old code did) does not verify.
    expect(verifyTwilioRequest({ tokens: [TOKEN], signature: expected, url, params: { CallSid: 'CA1', To: '+15550001' } })).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('a raw form body with repeated names parses to what twilio-node is given', () => {
    expect(twilioFormParams('a=1&b=2&a=3&a=1')).toEqual({ a: ['1', '3', '1'], b: '2' });
  });

  it('property: for any params (repeats included) we accept exactly what validateRequest accepts', () => {
    const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,8}$/);
    const value = fc.string({ maxLength: 12 });
    const params = fc.dictionary(name, fc.oneof(value, fc.array(value, { minLength: 1, maxLength: 4 })), { maxKeys: 6 });
    fc.assert(
      fc.property(params, fc.boolean(), (p, tamper) => {
        const url = 'https://gw.example.com/twilio/voice?x=1';
        let sig = oracle.getExpectedTwilioSignature(TOKEN, url, p);
        if (tamper) sig = sig.slice(0, -2) + (sig.endsWith('A=') ? 'B=' : 'A=');
        const theirs = oracle.validateRequest(TOKEN, sig, url, p);
        const ours = verifyTwilioRequest({ tokens: [TOKEN], signature: sig, url, params: p as TwilioParams }).ok;
        expect(ours).toBe(theirs);
      }),
      { numRuns: 200 },
    );
  });

  it('a JSON body without bodySHA256 is refused, as validateRequestWithBody refuses it', () => {
    const url = 'https://gw.example.com/twilio/status';
    const body = JSON.stringify({ CallSid: 'CA1' });
    const sig = oracle.getExpectedTwilioSignature(TOKEN, url, {});
    expect(oracle.validateRequestWithBody(TOKEN, sig, url, body)).toBe(false);
    expect(verifyTwilioRequest({ tokens: [TOKEN], signature: sig, url, json: true, rawBody: body }).ok).toBe(false);
  });

  it('a JSON body with the right bodySHA256 is accepted, a wrong one refused, as by validateRequestWithBody', () => {
    const body = JSON.stringify({ CallSid: 'CA1' });
    const hash = createHash('sha256').update(body).digest('hex');
    for (const [h, want] of [[hash, true], ['0'.repeat(64), false]] as const) {
      const url = `https://gw.example.com/twilio/status?bodySHA256=${h}`;
      const sig = oracle.getExpectedTwilioSignature(TOKEN, url, {});
      expect(oracle.validateRequestWithBody(TOKEN, sig, url, body)).toBe(want);
      expect(verifyTwilioRequest({ tokens: [TOKEN], signature: sig, url, json: true, rawBody: body }).ok).toBe(want);
    }
  });

  it('the voice webhook accepts repeated form parameters signed by twilio-node and refuses an unhashed JSON body', async () => {
    const g = await injectGateway({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_URL: 'https://gw.example.com' });
    try {
      const url = 'https://gw.example.com/twilio/voice';
      const body = 'CallSid=CA9&From=%2B15550100&Foo=b&Foo=a';
      const sig = oracle.getExpectedTwilioSignature(TOKEN, url, { CallSid: 'CA9', From: '+15550100', Foo: ['b', 'a'] });
      const ok = await g.gateway.app.inject({ method: 'POST', url: '/twilio/voice', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sig }, payload: body });
      expect(ok.statusCode).toBe(200);
      const json = JSON.stringify({ CallSid: 'CA9' });
      const jsonSig = oracle.getExpectedTwilioSignature(TOKEN, url, {});
      const refused = await g.gateway.app.inject({ method: 'POST', url: '/twilio/voice', headers: { 'content-type': 'application/json', 'x-twilio-signature': jsonSig }, payload: json });
      expect(refused.statusCode).toBe(403);
    } finally {
      await g.gateway.close(0);
    }
  });
});
