import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { TelnyxVerifier, telnyxSign } from '../../src/http/security/telnyx-signature.js';

const keys = nacl.sign.keyPair();
const publicKeyBase64 = Buffer.from(keys.publicKey).toString('base64');
const NOW_S = 1_800_000_000;

function verifier() {
  return new TelnyxVerifier({ publicKeyBase64, toleranceS: 300, now: () => NOW_S * 1000 });
}

describe('Telnyx Ed25519 signatures', () => {
  const body = '{"data":{"event_type":"call.initiated","payload":{"call_control_id":"v3:abc"}}}';

  it('accepts a fresh valid signature once', () => {
    const v = verifier();
    const ts = String(NOW_S - 10);
    const sig = telnyxSign(keys.secretKey, ts, body);
    expect(v.verify(sig, ts, body)).toEqual({ ok: true });
    expect(v.verify(sig, ts, body)).toEqual({ ok: false, reason: 'replay' });
  });

  it('rejects a signature from another key, a changed body, or a changed timestamp', () => {
    const v = verifier();
    const ts = String(NOW_S);
    const other = nacl.sign.keyPair();
    expect(v.verify(telnyxSign(other.secretKey, ts, body), ts, body)).toEqual({ ok: false, reason: 'bad_signature' });
    const sig = telnyxSign(keys.secretKey, ts, body);
    expect(v.verify(sig, ts, `${body} `)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(v.verify(sig, String(NOW_S - 1), body)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('rejects stale and future timestamps outside the tolerance', () => {
    const v = verifier();
    for (const ts of [String(NOW_S - 301), String(NOW_S + 301)]) {
      expect(v.verify(telnyxSign(keys.secretKey, ts, body), ts, body)).toEqual({ ok: false, reason: 'stale' });
    }
  });

  it('rejects missing headers and non-integer timestamps (no NaN slipping through)', () => {
    const v = verifier();
    const sig = telnyxSign(keys.secretKey, String(NOW_S), body);
    expect(v.verify(undefined, String(NOW_S), body)).toEqual({ ok: false, reason: 'missing' });
    expect(v.verify(sig, undefined, body)).toEqual({ ok: false, reason: 'missing' });
    for (const ts of ['abc', '1.8e9', `${String(NOW_S)}.5`, ' 1800000000', 'NaN']) {
      expect(v.verify(sig, ts, body)).toEqual({ ok: false, reason: 'bad_timestamp' });
    }
    expect(v.verify('not-base64-64-bytes', String(NOW_S), body)).toEqual({ ok: false, reason: 'bad_signature' });
  });
});
