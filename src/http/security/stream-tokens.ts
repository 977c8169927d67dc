/**
 * One-time media stream tokens. A signed webhook issues one bound to the carrier's call id; the media
 * WebSocket must present it, for that same call, once, before it expires. This is what stops a
 * stranger who learns our media URL from streaming audio into the gateway.
 */
import { randomBytes } from 'node:crypto';

/** What a webhook (or an outbound call request) knew about the call when it issued the token. */
export interface StreamGrantInfo {
  /** Our call id when it was assigned before the stream (outbound calls), else the call gets a new one. */
  readonly callId?: string;
  readonly direction?: 'inbound' | 'outbound';
  readonly from?: string;
  readonly to?: string;
  /** A provider asked for by name (outbound request), else PROVIDERS order. */
  readonly provider?: string;
  readonly metadata?: Record<string, unknown>;
}

interface Grant {
  /** The carrier's call id; undefined when not known when the token is issued (TeXML). */
  carrierCallId: string | undefined;
  info: StreamGrantInfo;
  expiresAt: number;
}

export class StreamTokens {
  readonly #grants = new Map<string, Grant>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(opts: { ttlMs: number; now?: () => number }) {
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now ?? Date.now;
  }

  issue(carrierCallId?: string, info: StreamGrantInfo = {}): string {
    this.#prune();
    const token = randomBytes(24).toString('base64url');
    this.#grants.set(token, { carrierCallId, info, expiresAt: this.#now() + this.#ttlMs });
    return token;
  }

  /**
   * Spends a token: its grant info once for a live token issued for `carrierCallId` (or for no
   * particular call), else undefined. A token presented for the wrong call is spent too, so a guessed
   * pairing gets no second try.
   */
  consume(token: string | undefined, carrierCallId?: string): StreamGrantInfo | undefined {
    if (!token) return undefined;
    const grant = this.#grants.get(token);
    if (!grant) return undefined;
    this.#grants.delete(token);
    if (grant.expiresAt < this.#now()) return undefined;
    return grant.carrierCallId === undefined || grant.carrierCallId === carrierCallId ? grant.info : undefined;
  }

  /** Whether a token is live, without spending it (to refuse a WebSocket upgrade early). */
  peek(token: string | undefined): boolean {
    if (!token) return false;
    const grant = this.#grants.get(token);
    return grant !== undefined && grant.expiresAt >= this.#now();
  }

  get size(): number {
    return this.#grants.size;
  }

  #prune(): void {
    const now = this.#now();
    for (const [token, grant] of this.#grants) if (grant.expiresAt < now) this.#grants.delete(token);
  }
}
