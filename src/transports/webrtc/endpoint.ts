/**
 * The gateway's WebRTC endpoint: answers offers, tracks the sessions it made with a per-client and a
 * total limit, ends one on request and all of them on shutdown. Limits are counted from the moment an
 * offer is accepted for negotiation, so a client cannot get around them by offering in parallel.
 */
import { randomUUID } from 'node:crypto';
import type { CallManager } from '../../calls/call-manager.js';
import { GatewayError, isGatewayError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import type { IceServerIssuer } from './ice-servers.js';
import { checkOffer } from './sdp.js';
import { WebRtcSession, type RemoteCandidate, type SessionStats, type SessionTimeouts } from './session.js';

export interface WebRtcLimits {
  readonly perClient: number;
  readonly total: number;
}

/**
 * Defaults until they are configurable: a person rarely needs more than a tab or two per address
 * (4 leaves room for a NAT'd office), and 200 calls is well inside this process's CPU budget
 * (bench/webrtc.bench.ts: about 1 ms of CPU per call-second for the WebRTC path).
 */
export const DEFAULT_LIMITS: WebRtcLimits = { perClient: 4, total: 200 };

export interface WebRtcEndpointOptions {
  readonly calls: CallManager;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly limits?: WebRtcLimits;
  /** STUN/TURN (ICE_SERVERS) for the gateway's side, TURN credentials minted per session; none: host candidates. */
  readonly ice?: IceServerIssuer;
  readonly timeouts?: Partial<SessionTimeouts>;
}

export interface OfferAnswer {
  readonly sdp: string;
  readonly type: 'answer';
  readonly sessionId: string;
  readonly callId: string;
  readonly provider: string;
  /** The gateway takes the offerer's candidates trickled to POST /webrtc/sessions/:sessionId/candidates. */
  readonly trickle: true;
}

export class WebRtcEndpoint {
  readonly #opts: WebRtcEndpointOptions;
  readonly #limits: WebRtcLimits;
  readonly #sessions = new Map<string, WebRtcSession>();
  readonly #perClient = new Map<string, number>();
  #closed = false;

  constructor(opts: WebRtcEndpointOptions) {
    this.#opts = opts;
    this.#limits = opts.limits ?? DEFAULT_LIMITS;
  }

  get size(): number {
    return this.#sessions.size;
  }

  get(id: string): WebRtcSession | undefined {
    return this.#sessions.get(id);
  }

  list(): SessionStats[] {
    return [...this.#sessions.values()].map((s) => s.stats());
  }

  /**
   * An offer as this endpoint takes it (sdp.ts checkOffer), a refusal counted in
   * voice_gateway_media_rejected_total. open() checks it; the offer route checks it first too, before
   * the one-time token is spent on it.
   */
  checkOffer(sdp: unknown, trickle = false): void {
    this.#counted(() => checkOffer(sdp, { trickle }));
  }

  /** Runs `check`, counting the GatewayError it throws as a rejected WebRTC media request. */
  #counted(check: () => void): void {
    try {
      check();
    } catch (err) {
      if (isGatewayError(err)) this.#opts.metrics.mediaRejectedTotal.inc({ transport: 'webrtc', reason: err.code });
      throw err;
    }
  }

  /**
   * Check, answer and start a call for one offer. Throws a GatewayError with an HTTP status. With
   * `trickle`, the offer may come before the offerer's candidates, which follow through addCandidates().
   */
  async open(args: { sdp: unknown; clientIp: string; correlationId: string; trickle?: boolean }): Promise<OfferAnswer> {
    const { metrics } = this.#opts;
    this.checkOffer(args.sdp, args.trickle);
    this.#counted(() => {
      if (this.#closed || this.#opts.calls.draining) throw new GatewayError('GW_ERR_HTTP_NOT_READY', 'gateway is shutting down');
      this.#admit(args.clientIp);
    });
    const startedAt = performance.now();
    const session = new WebRtcSession({
      id: randomUUID(),
      clientIp: args.clientIp,
      correlationId: args.correlationId,
      calls: this.#opts.calls,
      logger: this.#opts.logger,
      metrics,
      iceServers: this.#opts.ice?.forSession(),
      timeouts: this.#opts.timeouts,
      onClosed: (s) => this.#forget(s),
    });
    this.#sessions.set(session.id, session);
    this.#perClient.set(args.clientIp, (this.#perClient.get(args.clientIp) ?? 0) + 1);
    metrics.webrtcSessionsActive.inc();
    try {
      const answer = await session.answer(args.sdp as string);
      metrics.webrtcNegotiationSeconds.observe((performance.now() - startedAt) / 1000);
      return { sdp: answer.sdp, type: 'answer', sessionId: session.id, callId: answer.callId, provider: answer.provider, trickle: true };
    } catch (err) {
      await session.close('negotiation_failed');
      const gw = isGatewayError(err) ? err : new GatewayError('GW_ERR_TRANSPORT_NEGOTIATION_FAILED', (err as Error).message, { cause: err });
      metrics.mediaRejectedTotal.inc({ transport: 'webrtc', reason: gw.code });
      throw gw;
    }
  }

  /**
   * Trickled candidates for one session (checked by the caller). False if there is no such session;
   * throws GW_ERR_HTTP_BAD_REQUEST (counted) when the session has had its fill of candidates.
   */
  async addCandidates(id: string, candidates: readonly RemoteCandidate[], done: boolean): Promise<boolean> {
    const session = this.#sessions.get(id);
    if (!session) return false;
    try {
      await session.addCandidates(candidates, done);
    } catch (err) {
      if (isGatewayError(err)) this.#opts.metrics.mediaRejectedTotal.inc({ transport: 'webrtc', reason: err.code });
      throw err;
    }
    return true;
  }

  /** End one session (the page's "End call"). False if there is no such session. */
  async hangup(id: string): Promise<boolean> {
    const session = this.#sessions.get(id);
    if (!session) return false;
    await session.close('caller_hangup');
    return true;
  }

  /** Refuse new offers and close every session. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#sessions.values()].map((s) => s.close('shutdown')));
  }

  #admit(clientIp: string): void {
    const mine = this.#perClient.get(clientIp) ?? 0;
    if (mine >= this.#limits.perClient) {
      throw new GatewayError(
        'GW_ERR_TRANSPORT_TOO_MANY_SESSIONS',
        `this client already has ${String(mine)} open sessions (limit ${String(this.#limits.perClient)}); end one first`,
      );
    }
    if (this.#sessions.size >= this.#limits.total) {
      throw new GatewayError('GW_ERR_TRANSPORT_TOO_MANY_SESSIONS', `the gateway is at its limit of ${String(this.#limits.total)} sessions; try again later`);
    }
  }

  #forget(session: WebRtcSession): void {
    if (this.#sessions.get(session.id) !== session) return;
    this.#sessions.delete(session.id);
    const left = (this.#perClient.get(session.clientIp) ?? 1) - 1;
    if (left > 0) this.#perClient.set(session.clientIp, left);
    else this.#perClient.delete(session.clientIp);
    this.#opts.metrics.webrtcSessionsActive.dec();
  }
}
