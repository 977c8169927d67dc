import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { TelnyxVerifier, telnyxSign } from '../../src/carriers/telnyx/signature.js';

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

describe('Telnyx replay protection against re-encoded signatures (issue 19, item 1)', () => {
  const body = '{"data":{"event_type":"call.initiated","payload":{"call_control_id":"v3:replayed"}}}';
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;

  /** The same 64 signature bytes (or an equivalent S), spelled the ways a lenient decoder accepts. */
  function respellings(sig: string): Record<string, string> {
    const bytes = Buffer.from(sig, 'base64');
    // S + L: the same point equation holds, so a verifier that does not reduce S accepts it.
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(bytes[i]);
    const malleated = Buffer.from(bytes);
    let t = s + L;
    for (let i = 32; i < 64; i++) {
      malleated[i] = Number(t & 0xffn);
      t >>= 8n;
    }
    // The last base64 digit carries 2 data bits and 4 padding bits: set a padding bit.
    const lastDigit = sig[85];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const trailing = sig.slice(0, 85) + alphabet[alphabet.indexOf(lastDigit) | 1] + '==';
    return {
      unpadded: sig.replace(/=+$/, ''),
      'one pad': sig.slice(0, -1),
      'trailing garbage': `${sig}AAAA`,
      'embedded whitespace': `${sig.slice(0, 40)} \n${sig.slice(40)}`,
      'url-safe alphabet': sig.replace(/\+/g, '-').replace(/\//g, '_'),
      'non-zero trailing bits': trailing,
      'S + L (non-canonical S)': malleated.toString('base64'),
    };
  }

  it('a captured signature re-encoded several ways never verifies twice', () => {
    const v = verifier();
    const ts = String(NOW_S);
    // Pick a signature where the variants really differ from the original header.
    const sig = telnyxSign(keys.secretKey, ts, body);
    expect(v.verify(sig, ts, body)).toEqual({ ok: true });
    const variants = respellings(sig);
    for (const [name, variant] of Object.entries(variants)) {
      if (variant === sig) continue; // e.g. no '+' or '/' to make url-safe
      expect({ name, verdict: v.verify(variant, ts, body) }).toEqual({ name, verdict: { ok: false, reason: expect.stringMatching(/^(bad_signature|replay)$/) } });
    }
    // The malleated S really is accepted by the bare Ed25519 check: the S < L rule is what stops it.
    const malleated = Buffer.from(variants['S + L (non-canonical S)'], 'base64');
    expect(nacl.sign.detached.verify(Buffer.from(`${ts}|${body}`), new Uint8Array(malleated), keys.publicKey)).toBe(true);
    // And the lenient decoder maps every spelling but S + L to the same bytes the cache now keys on.
    expect(Buffer.from(variants.unpadded, 'base64').equals(Buffer.from(sig, 'base64'))).toBe(true);
  });

  it('a re-encoded signature presented first is refused, and the canonical one still verifies once', () => {
    const v = verifier();
    const ts = String(NOW_S);
    const sig = telnyxSign(keys.secretKey, ts, body);
    for (const variant of Object.values(respellings(sig))) {
      if (variant !== sig) expect(v.verify(variant, ts, body)).toEqual({ ok: false, reason: 'bad_signature' });
    }
    expect(v.verify(sig, ts, body)).toEqual({ ok: true });
    expect(v.verify(sig, ts, body)).toEqual({ ok: false, reason: 'replay' });
  });
});
