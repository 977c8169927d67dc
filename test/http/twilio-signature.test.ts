import { createHash } from 'node:crypto';
import twilio from 'twilio';
import { describe, expect, it } from 'vitest';
import { twilioSignature, verifyTwilioRequest } from '../../src/carriers/twilio/signature.js';

// Twilio's own helper is the oracle: our signer and verifier must agree with it.
const { getExpectedTwilioSignature, getExpectedBodyHash } = twilio as unknown as {
  getExpectedTwilioSignature(token: string, url: string, params: Record<string, string>): string;
  getExpectedBodyHash(body: string): string;
};

const PARAMS = {
  CallSid: 'CA1234567890ABCDE',
  Caller: '+14158675309',
  Digits: '1234',
  From: '+14158675309',
  To: '+18005551212',
};

describe('Twilio signatures', () => {
  it('reproduces the published test vector', () => {
    expect(twilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', PARAMS)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
  });

  it('agrees with the twilio package on URLs and params of all kinds', () => {
    const cases: [string, Record<string, string>][] = [
      ['https://example.com/twilio/voice', { CallSid: 'CAx', From: '+1 (555) 010', Body: 'ünïcödé & <xml>' }],
      ['https://example.com:8443/twilio/voice?x=1', {}],
      ['wss://example.com/twilio/media', {}],
    ];
    for (const [url, params] of cases) expect(twilioSignature('tok', url, params)).toBe(getExpectedTwilioSignature('tok', url, params));
  });

  it('accepts a valid form signature and rejects wrong, missing and tampered ones', () => {
    const url = 'https://gw.example.com/twilio/voice';
    const signature = getExpectedTwilioSignature('secret', url, PARAMS);
    expect(verifyTwilioRequest({ tokens: ['secret'], signature, url, params: PARAMS })).toEqual({ ok: true });
    expect(verifyTwilioRequest({ tokens: ['other'], signature, url, params: PARAMS })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyTwilioRequest({ tokens: ['secret'], signature: undefined, url, params: PARAMS })).toEqual({ ok: false, reason: 'missing' });
    expect(verifyTwilioRequest({ tokens: ['secret'], signature, url, params: { ...PARAMS, To: '+19999999999' } }).ok).toBe(false);
    expect(verifyTwilioRequest({ tokens: ['secret'], signature, url: `${url}?evil=1`, params: PARAMS }).ok).toBe(false);
  });

  it('accepts the previous token during a rotation window', () => {
    const url = 'https://gw.example.com/twilio/voice';
    const oldSig = getExpectedTwilioSignature('old-token', url, PARAMS);
    expect(verifyTwilioRequest({ tokens: ['new-token', 'old-token'], signature: oldSig, url, params: PARAMS }).ok).toBe(true);
    expect(verifyTwilioRequest({ tokens: ['new-token'], signature: oldSig, url, params: PARAMS }).ok).toBe(false);
  });

  it('checks JSON bodies through bodySHA256', () => {
    const body = JSON.stringify({ CallSid: 'CA1', event: 'x' });
    const hash = getExpectedBodyHash(body);
    expect(hash).toBe(createHash('sha256').update(body).digest('hex'));
    const url = `https://gw.example.com/twilio/voice?bodySHA256=${hash}`;
    const signature = getExpectedTwilioSignature('secret', url, {});
    expect(verifyTwilioRequest({ tokens: ['secret'], signature, url, rawBody: body })).toEqual({ ok: true });
    expect(verifyTwilioRequest({ tokens: ['secret'], signature, url, rawBody: `${body} ` })).toEqual({ ok: false, reason: 'body_hash' });
  });

  it('accepts a URL signed with an explicit default port', () => {
    const signature = getExpectedTwilioSignature('secret', 'https://gw.example.com:443/twilio/voice', PARAMS);
    expect(verifyTwilioRequest({ tokens: ['secret'], signature, url: 'https://gw.example.com/twilio/voice', params: PARAMS }).ok).toBe(true);
  });
});
