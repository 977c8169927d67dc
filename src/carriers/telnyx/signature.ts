/**
 * Telnyx webhook validation: Ed25519 over `timestamp|rawBody`, headers telnyx-signature-ed25519
 * (base64, 64 bytes) and telnyx-timestamp (Unix seconds). Timestamps outside the tolerance are
 * stale; a signature already seen inside the window is a replay. The replay memory is bounded by the
 * window itself: entries older than the tolerance can never verify again, so they are pruned.
 *
 * Replay protection keys on what was signed, not on how the header spells it. A lenient base64
 * decoder takes many spellings of one signature (no padding, stray characters, non-zero trailing
 * bits), and Ed25519 as tweetnacl checks it also accepts S + L for S: each variant would be a "new"
 * signature to a cache keyed on the header string. So the header must be the one canonical padded
 * base64 of exactly 64 bytes (what the official SDK's strict decoder takes: node_modules/telnyx/lib/
 * webhooks.js decodeBase64), S must be below the group order L (RFC 8032 section 5.1.7: "If S >= L,
 * reject"), and the cache is keyed on the decoded bytes.
 */
import nacl from 'tweetnacl';

/** The Ed25519 group order L = 2^252 + 27742317777372353535851937790883648493 (RFC 8032). */
const ED25519_L = (1n << 252n) + 27742317777372353535851937790883648493n;
const SIGNATURE_BASE64 = /^[A-Za-z0-9+/]{86}==$/;

/** The 64 signature bytes if `header` is their canonical padded base64, else undefined. */
export function decodeCanonicalSignature(header: string): Buffer | undefined {
  if (!SIGNATURE_BASE64.test(header)) return undefined;
  const bytes = Buffer.from(header, 'base64');
  // Re-encoding catches non-zero trailing bits (two spellings of one byte string).
  if (bytes.length !== nacl.sign.signatureLength || bytes.toString('base64') !== header) return undefined;
  return bytes;
}

/** S (the signature's second half, little-endian) must be reduced: S >= L is a malleated signature. */
export function hasCanonicalS(signature: Uint8Array): boolean {
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]);
  return s < ED25519_L;
}

/** Telnyx's webhook signing headers (what they carry: the comment at the top). */
export const TELNYX_SIGNATURE_HEADER = 'telnyx-signature-ed25519';
export const TELNYX_TIMESTAMP_HEADER = 'telnyx-timestamp';

export type TelnyxVerdict =
  | { ok: true }
  | { ok: false; reason: 'missing' | 'bad_timestamp' | 'stale' | 'bad_signature' | 'replay' };

export class TelnyxVerifier {
  readonly #publicKey: Uint8Array;
  readonly #toleranceS: number;
  readonly #seen = new Map<string, number>();
  readonly #now: () => number;

  constructor(opts: { publicKeyBase64: string; toleranceS?: number; now?: () => number }) {
    this.#publicKey = new Uint8Array(Buffer.from(opts.publicKeyBase64, 'base64'));
    this.#toleranceS = opts.toleranceS ?? 300;
    this.#now = opts.now ?? Date.now;
  }

  /** A webhook as it reached us: Telnyx's signature and timestamp headers over the raw body. */
  verifyRequest(headers: Readonly<Record<string, string | string[] | undefined>>, rawBody: string | undefined): TelnyxVerdict {
    const first = (name: string) => {
      const v = headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    return this.verify(first(TELNYX_SIGNATURE_HEADER), first(TELNYX_TIMESTAMP_HEADER), rawBody ?? '');
  }

  verify(signature: string | undefined, timestamp: string | undefined, rawBody: string): TelnyxVerdict {
    if (!signature || !timestamp) return { ok: false, reason: 'missing' };
    // A non-integer timestamp would turn the range check below into comparisons with NaN.
    if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
    const nowS = Math.floor(this.#now() / 1000);
    if (Math.abs(nowS - Number(timestamp)) > this.#toleranceS) return { ok: false, reason: 'stale' };
    const sig = decodeCanonicalSignature(signature);
    if (!sig || !hasCanonicalS(sig)) return { ok: false, reason: 'bad_signature' };
    const message = Buffer.from(`${timestamp}|${rawBody}`, 'utf8');
    if (!nacl.sign.detached.verify(message, new Uint8Array(sig), this.#publicKey)) {
      return { ok: false, reason: 'bad_signature' };
    }
    this.#prune(nowS);
    const key = sig.toString('hex');
    if (this.#seen.has(key)) return { ok: false, reason: 'replay' };
    this.#seen.set(key, Number(timestamp));
    return { ok: true };
  }

  #prune(nowS: number): void {
    for (const [sig, ts] of this.#seen) {
      if (nowS - ts > this.#toleranceS) this.#seen.delete(sig);
    }
  }
}

/** Sign as Telnyx does; for the simulated caller and tests. */
export function telnyxSign(secretKey: Uint8Array, timestamp: string, rawBody: string): string {
  const message = Buffer.from(`${timestamp}|${rawBody}`, 'utf8');
  return Buffer.from(nacl.sign.detached(message, secretKey)).toString('base64');
}
