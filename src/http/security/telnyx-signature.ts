/**
 * Telnyx webhook validation: Ed25519 over `timestamp|rawBody`, headers telnyx-signature-ed25519
 * (base64, 64 bytes) and telnyx-timestamp (Unix seconds). Timestamps outside the tolerance are
 * stale; a signature already seen inside the window is a replay. The replay memory is bounded by the
 * window itself: entries older than the tolerance can never verify again, so they are pruned.
 */
import nacl from 'tweetnacl';

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

  verify(signature: string | undefined, timestamp: string | undefined, rawBody: string): TelnyxVerdict {
    if (!signature || !timestamp) return { ok: false, reason: 'missing' };
    // A non-integer timestamp would turn the range check below into comparisons with NaN.
    if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
    const nowS = Math.floor(this.#now() / 1000);
    if (Math.abs(nowS - Number(timestamp)) > this.#toleranceS) return { ok: false, reason: 'stale' };
    const sig = Buffer.from(signature, 'base64');
    if (sig.length !== nacl.sign.signatureLength) return { ok: false, reason: 'bad_signature' };
    const message = Buffer.from(`${timestamp}|${rawBody}`, 'utf8');
    if (!nacl.sign.detached.verify(message, new Uint8Array(sig), this.#publicKey)) {
      return { ok: false, reason: 'bad_signature' };
    }
    this.#prune(nowS);
    if (this.#seen.has(signature)) return { ok: false, reason: 'replay' };
    this.#seen.set(signature, Number(timestamp));
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
