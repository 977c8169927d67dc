/**
 * ICE servers for browser calls: the STUN and TURN URLs of ICE_SERVERS, with TURN credentials minted
 * per session from TURN_SECRET by the TURN REST API scheme that coturn implements (`use-auth-secret`,
 * `static-auth-secret`; draft-uberti-behave-turn-rest-00 section 2.2):
 *
 *   username   = "<unix expiry time>:<user>"
 *   credential = base64(HMAC-SHA1(secret, username))
 *
 * The TURN server recomputes the credential from its copy of the secret and refuses the username once
 * its timestamp has passed, so a leaked pair is useless after its lifetime and the secret never leaves
 * the gateway. The same list goes to the page (its RTCPeerConnection) and to werift (the gateway's side).
 */
import { createHmac, randomBytes } from 'node:crypto';

/** The W3C RTCIceServer shape (browsers and werift both take it). */
export interface IceServer {
  readonly urls: string[];
  readonly username?: string;
  readonly credential?: string;
}

export interface TurnCredential {
  readonly username: string;
  readonly credential: string;
  /** When the TURN server stops accepting it. */
  readonly expiresAt: Date;
}

/** One TURN REST credential: `expiresAtS` is a Unix time in seconds; `user` is optional. */
export function turnRestCredential(secret: string, expiresAtS: number, user?: string): TurnCredential {
  const username = user ? `${String(expiresAtS)}:${user}` : String(expiresAtS);
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential, expiresAt: new Date(expiresAtS * 1000) };
}

export function isTurnUrl(url: string): boolean {
  return /^turns?:/i.test(url);
}

export interface IceServerIssuerOptions {
  /** stun:, stuns:, turn:, turns: URLs (validated by src/config.ts). */
  readonly urls: readonly string[];
  /** Shared with the TURN server; required when any URL is a TURN URL. */
  readonly turnSecret?: string;
  /** Lifetime of a minted credential. A call that outlives it cannot refresh its relay. */
  readonly credentialTtlS: number;
  readonly now?: () => number;
}

export class IceServerIssuer {
  readonly #stun: string[];
  readonly #turn: string[];
  readonly #opts: IceServerIssuerOptions;

  constructor(opts: IceServerIssuerOptions) {
    this.#opts = opts;
    this.#stun = opts.urls.filter((u) => !isTurnUrl(u));
    this.#turn = opts.urls.filter((u) => isTurnUrl(u));
  }

  /** Whether any ICE server is configured (none: host candidates only, as before ICE_SERVERS). */
  get configured(): boolean {
    return this.#stun.length + this.#turn.length > 0;
  }

  /**
   * The ICE servers for one session, with a fresh TURN credential. `user` tags the credential in the
   * TURN server's logs (a random id by default; never a person's identity or address).
   */
  forSession(user: string = randomBytes(6).toString('hex')): IceServer[] {
    const out: IceServer[] = [];
    if (this.#stun.length > 0) out.push({ urls: [...this.#stun] });
    if (this.#turn.length > 0 && this.#opts.turnSecret) {
      const nowS = Math.floor((this.#opts.now ?? Date.now)() / 1000);
      const { username, credential } = turnRestCredential(this.#opts.turnSecret, nowS + this.#opts.credentialTtlS, user);
      out.push({ urls: [...this.#turn], username, credential });
    }
    return out;
  }
}
