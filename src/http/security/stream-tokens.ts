/**
 * One-time media stream tokens. A signed webhook issues one bound to the carrier's call id and to the
 * transport (twilio / telnyx) whose media route must present it; the media WebSocket must present it,
 * for that same call, on that same route, once, before it expires. This is what stops a stranger who
 * learns our media URL from streaming audio into the gateway, and a Twilio-issued token from skipping
 * Twilio's handshake signature on the Telnyx route.
 */
import { randomBytes } from 'node:crypto';
import type { MediaTransport, StreamGrantInfo } from '../../calls/stream-grant.js';

// The grant shapes live with the calls that use them (calls may not import http); re-exported here.
export type { MediaTransport, StreamGrantInfo } from '../../calls/stream-grant.js';

interface Grant {
  /** The carrier's call id; undefined when not known when the token is issued. */
  carrierCallId: string | undefined;
  info: StreamGrantInfo;
  expiresAt: number;
}

/** A token taken off the table at the WebSocket upgrade: spent, whatever the stream does next. */
export type TakeResult =
  | { ok: true; carrierCallId: string | undefined; info: StreamGrantInfo }
  | { ok: false; reason: 'missing' | 'unknown' | 'expired' | 'wrong_transport'; carrierCallId?: string; info?: StreamGrantInfo };

/** Query parameter and path forms a media URL carries a token in (redacted from logs). */
const TOKEN_IN_QUERY = /([?&]token=)[^&#]*/gi;
const TOKEN_IN_PATH = /(\/(?:twilio|telnyx)\/media\/)[^/?#]+/gi;

/** A URL as it may be logged: stream tokens (query or path) replaced by `[redacted]`. */
export function redactStreamTokens(url: string): string {
  return url.replace(TOKEN_IN_QUERY, '$1[redacted]').replace(TOKEN_IN_PATH, '$1[redacted]');
}

export class StreamTokens {
  readonly #grants = new Map<string, Grant>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(opts: { ttlMs: number; now?: () => number }) {
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now ?? Date.now;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  issue(carrierCallId?: string, info: StreamGrantInfo = {}): string {
    this.#prune();
    const token = randomBytes(24).toString('base64url');
    this.#grants.set(token, { carrierCallId, info, expiresAt: this.#now() + this.#ttlMs });
    return token;
  }

  /**
   * Spends a token: its grant info once for a live token issued for `carrierCallId` (or for no
   * particular call) and, when `transport` is given, for that transport; else undefined. A token
   * presented for the wrong call or route is spent too, so a guessed pairing gets no second try.
   */
  consume(token: string | undefined, carrierCallId?: string, transport?: MediaTransport): StreamGrantInfo | undefined {
    const taken = this.take(token, transport);
    if (!taken.ok) return undefined;
    return StreamTokens.fits(taken.carrierCallId, carrierCallId) ? taken.info : undefined;
  }

  /**
   * Spends a token at the WebSocket upgrade (before any message), so one token opens one socket.
   * The call id is checked later, against `start`, with `fits`.
   */
  take(token: string | undefined, transport?: MediaTransport): TakeResult {
    if (!token) return { ok: false, reason: 'missing' };
    const grant = this.#grants.get(token);
    if (!grant) return { ok: false, reason: 'unknown' };
    this.#grants.delete(token);
    if (grant.expiresAt < this.#now()) return { ok: false, reason: 'expired', carrierCallId: grant.carrierCallId, info: grant.info };
    if (transport !== undefined && grant.info.transport !== transport) return { ok: false, reason: 'wrong_transport' };
    return { ok: true, carrierCallId: grant.carrierCallId, info: grant.info };
  }

  /** Whether a grant issued for `granted` (undefined: any call) may open the call `presented`. */
  static fits(granted: string | undefined, presented: string | undefined): boolean {
    return granted === undefined || granted === presented;
  }

  /** Whether a token is live, without spending it. */
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
