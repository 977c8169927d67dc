/**
 * One-time media stream tokens. A signed webhook issues one bound to the carrier's call id; the media
 * WebSocket must present it, for that same call, once, before it expires. This is what stops a
 * stranger who learns our media URL from streaming audio into the gateway.
 */
import { randomBytes } from 'node:crypto';

interface Grant {
  /** Undefined when the carrier's call id is not known when the token is issued (TeXML). */
  callId: string | undefined;
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

  issue(callId?: string): string {
    this.#prune();
    const token = randomBytes(24).toString('base64url');
    this.#grants.set(token, { callId, expiresAt: this.#now() + this.#ttlMs });
    return token;
  }

  /** True once for a live token issued for `callId` (or for no particular call). */
  consume(token: string | undefined, callId?: string): boolean {
    if (!token) return false;
    const grant = this.#grants.get(token);
    if (!grant) return false;
    this.#grants.delete(token);
    if (grant.expiresAt < this.#now()) return false;
    return grant.callId === undefined || grant.callId === callId;
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
