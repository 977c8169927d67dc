/**
 * One-time media stream tokens. A signed webhook issues one bound to the carrier's call id and to the
 * transport (twilio / telnyx) whose media route must present it; the media WebSocket must present it,
 * for that same call, on that same route, once, before it expires. This is what stops a stranger who
 * learns our media URL from streaming audio into the gateway, and a Twilio-issued token from skipping
 * Twilio's handshake signature on the Telnyx route.
 */
import { randomBytes } from 'node:crypto';
import type { MediaTransport, StreamGrantInfo } from '../../calls/stream-grant.js';
import type { Logger } from '../../observability/logger.js';
import type { GrantStore } from '../../store/grant-store.js';
import { CARRIER_LIST } from '../../carriers/descriptors.js';

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
  | { ok: false; reason: 'missing' | 'unknown' | 'expired' | 'wrong_transport' | 'unavailable'; carrierCallId?: string; info?: StreamGrantInfo };

/** Query parameter and path forms a media URL carries a token in (redacted from logs). */
const TOKEN_IN_QUERY = /([?&]token=)[^&#]*/gi;
// Every carrier's media path (Telnyx takes its token in the path; the others are redacted alike, should they ever).
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const TOKEN_IN_PATH = new RegExp(`((?:${CARRIER_LIST.map((c) => escapeRegExp(c.paths.media)).join('|')})/)[^/?#]+`, 'gi');

/** A URL as it may be logged: stream tokens (query or path) replaced by `[redacted]`. */
export function redactStreamTokens(url: string): string {
  return url.replace(TOKEN_IN_QUERY, '$1[redacted]').replace(TOKEN_IN_PATH, '$1[redacted]');
}

/** A grant as the shared store holds it (JSON; `null` for no particular call). */
interface StoredGrant {
  c: string | null;
  i: StreamGrantInfo;
  e: number;
}

export class StreamTokens {
  readonly #grants = new Map<string, Grant>();
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** REDIS_URL: grants every node can spend; without it, the Map above (one node). */
  readonly #shared: GrantStore | undefined;
  readonly #log: Logger | undefined;
  /** Shared writes not yet acknowledged, so a webhook can wait for its grant before answering. */
  readonly #writes = new Map<string, Promise<void>>();

  constructor(opts: { ttlMs: number; now?: () => number; shared?: GrantStore; logger?: Logger }) {
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now ?? Date.now;
    this.#shared = opts.shared;
    this.#log = opts.logger;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /** Whether grants are shared across nodes (spend them with claim/redeem, which may wait on the store). */
  get shared(): boolean {
    return this.#shared !== undefined;
  }

  issue(carrierCallId?: string, info: StreamGrantInfo = {}): string {
    this.#prune();
    const token = randomBytes(24).toString('base64url');
    const grant = { carrierCallId, info, expiresAt: this.#now() + this.#ttlMs };
    if (!this.#shared) {
      this.#grants.set(token, grant);
      return token;
    }
    const stored: StoredGrant = { c: carrierCallId ?? null, i: info, e: grant.expiresAt };
    const write = this.#shared.put(token, JSON.stringify(stored), this.#ttlMs);
    // A stored grant needs no more tracking; a failed one is kept until issued() (or consume) reads
    // it, so a caller that asks late still learns the token is worthless. The store logged and counted it.
    write.then(() => this.#writes.delete(token), () => undefined);
    this.#writes.set(token, write);
    return token;
  }

  /**
   * Resolves when the grant is where every node can find it (at once without a shared store);
   * rejects (GW_ERR_GRANTS_UNAVAILABLE) when it could not be stored: hand the token to no carrier.
   */
  async issued(token: string): Promise<void> {
    const write = this.#writes.get(token);
    if (!write) return;
    try {
      await write;
    } finally {
      this.#writes.delete(token);
    }
  }

  /** take(), wherever the grant is: through the shared store when there is one. */
  async claim(token: string | undefined, transport?: MediaTransport): Promise<TakeResult> {
    if (!this.#shared) return this.take(token, transport);
    if (!token) return { ok: false, reason: 'missing' };
    let text: string | undefined;
    try {
      await this.#writes.get(token)?.catch(() => undefined);
      text = await this.#shared.take(token);
    } catch {
      // Never an unverified stream: a store we cannot ask refuses it (logged and counted by the store).
      return { ok: false, reason: 'unavailable' };
    }
    if (text === undefined) return { ok: false, reason: 'unknown' };
    let g: StoredGrant;
    try {
      g = JSON.parse(text) as StoredGrant;
    } catch {
      return { ok: false, reason: 'unknown' };
    }
    return this.#check({ carrierCallId: g.c ?? undefined, info: g.i, expiresAt: g.e }, transport);
  }

  /** consume(), wherever the grant is: synchronous without a shared store, else after the store answers. */
  redeem(token: string | undefined, carrierCallId?: string, transport?: MediaTransport): StreamGrantInfo | undefined | Promise<StreamGrantInfo | undefined> {
    if (!this.#shared) return this.consume(token, carrierCallId, transport);
    return this.claim(token, transport).then((taken) => (taken.ok && StreamTokens.fits(taken.carrierCallId, carrierCallId) ? taken.info : undefined));
  }

  /** peek(), wherever the grant is. */
  async isLive(token: string | undefined): Promise<boolean> {
    if (!this.#shared) return this.peek(token);
    if (!token) return false;
    try {
      await this.#writes.get(token)?.catch(() => undefined);
      const text = await this.#shared.peek(token);
      return text !== undefined && (JSON.parse(text) as StoredGrant).e >= this.#now();
    } catch {
      return false;
    }
  }

  /**
   * Spends a token: its grant info once for a live token issued for `carrierCallId` (or for no
   * particular call) and, when `transport` is given, for that transport; else undefined. A token
   * presented for the wrong call or route is spent too, so a guessed pairing gets no second try.
   */
  consume(token: string | undefined, carrierCallId?: string, transport?: MediaTransport): StreamGrantInfo | undefined {
    if (this.#shared && token) {
      // Shared grants are spent with redeem(); here (withdrawing an outbound call's grant) the
      // token is deleted wherever it is, and nothing is granted.
      this.#writes.delete(token);
      void this.#shared.revoke(token).catch((err: unknown) => this.#log?.warn({ event: 'stream_grant_revoke_failed', err }, 'could not withdraw a stream grant'));
      return undefined;
    }
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
    return this.#check(grant, transport);
  }

  #check(grant: Grant, transport: MediaTransport | undefined): TakeResult {
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
