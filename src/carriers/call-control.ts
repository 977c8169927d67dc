/**
 * Call control: place outbound calls, hang up, send DTMF, and fold the carriers' status callbacks into
 * the call log. The HTTP routes are thin over this, and anything else that must end a call (a
 * provider's goodbye) calls `hangup(callId, reason)` here, so every hangup takes the same path: the
 * carrier's REST hangup first, then our media side closes cleanly.
 *
 * Outbound: the call gets our id up front and a one-time stream token whose grant carries it, so the
 * Call created when the carrier opens the media stream adopts the id. The record is written 'dialing'
 * (durably) before the carrier is asked; a carrier error marks it 'failed' and revokes the token, and
 * a dial that never streams is ended when its token expires, so no row is left dialing or live.
 *
 * DTMF: Telnyx plays digits with send_dtmf. Twilio has no "send digits" on a live call except a TwiML
 * update, which replaces <Connect> and so drops the media stream; we play the tones in band instead
 * (dtmfTones through the call's egress, encoded in the call's own G.711 codec).
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { CallManager } from '../calls/call-manager.js';
import type { Call } from '../calls/call.js';
import type { StreamGrantIssuer } from '../calls/stream-grant.js';
import { wsBase } from './media-base.js';
import { DTMF_DIGITS, dtmfTones } from '../pipeline/dtmf.js';
import type { CallRecords } from '../store/call-records.js';
import type { CarrierUpdate } from '../store/call-store.js';
import { telnyxEventUpdate } from './telnyx/status.js';
import { twilioStatusUpdate } from './twilio/status.js';
import { CarrierCallError, carrierErrorOutcome, type CarrierName } from './carrier-errors.js';
import { CARRIER_NAMES } from './carrier-name.js';
import type { CarrierOutbound, OutboundCallRequest, PreparedCall } from './outbound.js';
import type { CarrierLegs } from './telnyx/legs.js';
import type { TelnyxCallControl } from './telnyx/call-control.js';
import { TelnyxOutbound } from './telnyx/outbound.js';
import { createTwilioCalls, type TwilioCalls } from './twilio/rest-client.js';
import { TwilioOutbound } from './twilio/outbound.js';
import { untilAborted } from '../util/abort.js';

/** How long a placed call's answer waits for its record to reach the shared call log. */
const DURABLE_WAIT_MS = 2000;

export const E164 = /^\+[1-9]\d{1,14}$/;

export type { OutboundCallRequest, PreparedCall };

export interface PlacedCall {
  callId: string;
  carrierCallId: string;
  state: 'dialing' | 'live';
  transport: CarrierName;
  direction: 'outbound';
  from: string;
  to: string;
  provider: string;
}

export interface CallControlDeps {
  readonly config: Config;
  readonly calls: CallManager;
  readonly tokens: StreamGrantIssuer;
  readonly records: CallRecords;
  readonly twilio?: TwilioCalls;
  readonly telnyx?: TelnyxCallControl;
  /** Telnyx Call Control legs: one hangup per leg, whichever path ends the call. */
  readonly legs?: CarrierLegs;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** After the carrier says a call is over, give the media stream this long to stop on its own. */
const CARRIER_END_GRACE_MS = 2000;

/** The `outcome` label of a failed call-control action (../carrier-errors.ts has the one mapping). */
const outcomeOf = carrierErrorOutcome;

/** The carrier no longer has the call (Twilio 404, Telnyx 90018 "call has already ended"). */
function goneAtCarrier(err: unknown): boolean {
  return err instanceof CarrierCallError && (err.carrier.status === 404 || err.carrier.code === '90018');
}

export class CallControl {
  readonly #d: CallControlDeps;
  /** Each carrier's dial, hangup and DTMF (./outbound.ts); a carrier without one does not compile. */
  readonly #outbound: { readonly [N in CarrierName]: CarrierOutbound };
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #publicUrl: string;
  readonly #wsBase: string;
  /** Outbound calls not yet streaming: their token (to revoke) and the expiry watchdog. */
  readonly #dialing = new Map<string, { token: string; timer: NodeJS.Timeout }>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #ringTimeoutS: number;

  constructor(deps: CallControlDeps) {
    this.#d = deps;
    this.#log = deps.logger.child({ component: 'call_control' });
    this.#now = deps.now ?? Date.now;
    this.#publicUrl = deps.config.publicUrl;
    this.#wsBase = wsBase(deps.config.publicUrl);
    // An outbound call's stream token must outlive its ringing: ring no longer than the token lives.
    const { ringTimeoutS } = deps.config.calls;
    const fitS = Math.max(5, Math.floor((deps.config.media.streamTokenTtlMs - 5000) / 1000));
    this.#ringTimeoutS = Math.min(ringTimeoutS, fitS);
    const ctx = { config: deps.config, publicUrl: this.#publicUrl, wsBase: this.#wsBase, ringTimeoutS: this.#ringTimeoutS };
    this.#outbound = {
      twilio: new TwilioOutbound(ctx, deps.twilio),
      telnyx: new TelnyxOutbound(ctx, deps.telnyx, deps.legs),
    };
    if (this.#ringTimeoutS < ringTimeoutS) {
      this.#log.warn(
        { event: 'ring_timeout_clamped', ringTimeoutS, streamTokenTtlMs: deps.config.media.streamTokenTtlMs, effectiveS: this.#ringTimeoutS },
        'CALL_RING_TIMEOUT_S is longer than STREAM_TOKEN_TTL_MS allows; outbound calls ring for less',
      );
    }
  }

  // ---- outbound -------------------------------------------------------------------------------

  /** Validate a request and give it an id. Throws 4xx/503 GatewayErrors; writes and sends nothing. */
  prepare(req: OutboundCallRequest): PreparedCall {
    for (const field of ['to', 'from'] as const) {
      if (!E164.test(req[field])) {
        throw new GatewayError('GW_ERR_CALL_BAD_NUMBER', `'${field}' is '${req[field].slice(0, 40)}'; expected + then 2 to 15 digits, e.g. +15551234567`);
      }
    }
    if (this.#d.calls.draining) throw new GatewayError('GW_ERR_HTTP_NOT_READY', 'gateway is shutting down');
    this.#carrierFor(req.transport, 'dial');
    const provider = this.#d.calls.providerFor(req.provider).name;
    return { ...req, provider, callId: randomUUID() };
  }

  /** The carrier's outbound side, checked for `action`; throws naming what is missing. */
  #carrierFor(transport: string, action: 'dial' | 'hangup'): CarrierOutbound {
    const outbound = this.#outboundOf(transport);
    if (!outbound) throw new GatewayError('GW_ERR_CALL_BAD_REQUEST', `'transport' must be ${CARRIER_NAMES.join(' or ')}, got '${transport}'`);
    outbound.check(action);
    return outbound;
  }

  /** undefined for a transport that is no carrier (a WebRTC call). */
  #outboundOf(transport: string): CarrierOutbound | undefined {
    return Object.hasOwn(this.#outbound, transport) ? this.#outbound[transport as CarrierName] : undefined;
  }

  /**
   * Record the call as dialing, then ask the carrier. Resolves when the carrier has accepted the call
   * (not when it is answered). On failure the record is 'failed' and the error says why.
   */
  async place(p: PreparedCall): Promise<PlacedCall> {
    const { config, tokens, records } = this.#d;
    const outbound = this.#outbound[p.transport];
    const carrier = { transport: p.transport, ...outbound.grant };
    const token = tokens.issue(undefined, { callId: p.callId, direction: 'outbound', from: p.from, to: p.to, provider: p.provider, metadata: p.metadata, ...carrier });
    // With a shared grant store (REDIS_URL) the carrier may open its stream on another node: never
    // dial with a token that node cannot find.
    await tokens.issued(token);
    try {
      records.store.insertDialing({ callId: p.callId, correlationId: p.correlationId, transport: p.transport, from: p.from, to: p.to, provider: p.provider, metadata: p.metadata });
    } catch (err) {
      tokens.consume(token);
      throw err;
    }
    const t0 = performance.now();
    let carrierCallId: string;
    try {
      carrierCallId = await outbound.dial(p, token);
    } catch (err) {
      const live = this.#d.calls.get(p.callId);
      if (!live) return this.#dialFailed(p, token, err);
      // The carrier's answer was lost or late, but the call reached us: it is placed after all.
      this.#log.warn({ event: 'dial_answer_lost', callId: p.callId, err }, 'carrier request failed but the call is streaming');
      carrierCallId = live.carrierCallId;
    } finally {
      this.#d.metrics.carrierApiSeconds.observe({ carrier: p.transport, op: 'dial' }, (performance.now() - t0) / 1000);
    }
    records.store.setCarrierCallId(p.callId, carrierCallId);
    const timer = setTimeout(() => this.#dialExpired(p.callId), config.media.streamTokenTtlMs + 1000);
    timer.unref();
    this.#dialing.set(p.callId, { token, timer });
    this.#d.metrics.callControlTotal.inc({ action: 'dial', transport: p.transport, outcome: 'ok' });
    // Read your writes across nodes: a hangup sent to another node right after this answer finds the
    // carrier's call id in the shared log (DATABASE_URL), not a call "still being placed".
    // A shared log that is slow or down never holds the answer up for long (its writes are counted).
    await untilAborted(records.durable(), AbortSignal.timeout(DURABLE_WAIT_MS)).catch((err: unknown) =>
      this.#log.warn({ event: 'call_record_not_shared_yet', callId: p.callId, err }, 'placed call not yet in the shared call log'),
    );
    this.#log.info({ event: 'call_placed', callId: p.callId, carrierCallId, transport: p.transport, provider: p.provider }, 'outbound call placed');
    const live = this.#d.calls.get(p.callId);
    return { callId: p.callId, carrierCallId, state: live ? 'live' : 'dialing', transport: p.transport, direction: 'outbound', from: p.from, to: p.to, provider: p.provider };
  }

  #dialFailed(p: PreparedCall, token: string, err: unknown): never {
    this.#d.tokens.consume(token);
    const gw = isGatewayError(err) ? err : new CarrierCallError('GW_ERR_CALL_CARRIER_UNREACHABLE', { name: p.transport, op: 'dial', message: String((err as Error).message ?? err) }, { cause: err });
    try {
      this.#d.records.store.markFailed(p.callId, { code: gw.code, message: gw.message });
    } catch (storeErr) {
      this.#log.error({ event: 'record_failed', callId: p.callId, err: storeErr }, 'could not mark the failed call');
    }
    this.#d.metrics.callControlTotal.inc({ action: 'dial', transport: p.transport, outcome: outcomeOf(gw) });
    this.#log.warn({ event: 'call_place_failed', callId: p.callId, transport: p.transport, code: gw.code, err: gw }, 'outbound call failed');
    throw gw;
  }

  #dialExpired(callId: string): void {
    const entry = this.#dialing.get(callId);
    this.#dialing.delete(callId);
    if (entry) this.#d.tokens.consume(entry.token);
    if (this.#d.calls.get(callId)) return;
    try {
      const rec = this.#d.records.store.get(callId);
      if (rec?.carrierCallId) this.#outboundOf(rec.transport)?.neverStreamed(rec.carrierCallId);
      if (this.#d.records.store.endDialing(callId, 'not_connected')) {
        this.#log.warn({ event: 'call_not_connected', callId }, 'outbound call never opened its media stream');
      }
    } catch (err) {
      this.#log.error({ event: 'record_failed', callId, err }, 'could not end the unconnected call');
    }
  }

  #settleDialing(callId: string): void {
    const entry = this.#dialing.get(callId);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.#dialing.delete(callId);
    this.#d.tokens.consume(entry.token);
  }

  // ---- hangup ---------------------------------------------------------------------------------

  /**
   * End a call: the carrier's REST hangup, then our media side. `reason` is what the record says
   * ('api_hangup', or e.g. 'provider_goodbye' when a provider ends the call).
   */
  async hangup(callId: string, reason = 'api_hangup'): Promise<{ callId: string; state: 'ended'; endReason: string; via: 'carrier' | 'media' }> {
    const call = this.#d.calls.get(callId);
    if (call) return this.#hangupLive(call, reason);
    // Another node may have placed it (DATABASE_URL): the shared log has it, and any node can cancel
    // a ringing call at the carrier, whose REST API does not care which node asks.
    const rec = this.#d.records.store.get(callId) ?? (await this.#d.records.get(callId));
    if (!rec) throw new GatewayError('GW_ERR_CALL_NOT_FOUND', `'${callId}'`);
    if (rec.state !== 'dialing') throw new GatewayError('GW_ERR_CALL_NOT_LIVE', `'${callId}' is ${rec.state}${rec.endReason ? ` (${rec.endReason})` : ''}`);
    if (!rec.carrierCallId) throw new GatewayError('GW_ERR_CALL_NOT_LIVE', `'${callId}' is still being placed; try again in a moment`);
    // Ringing: cancel it at the carrier, then the record ends and the token is revoked.
    await this.#carrierHangup(rec.transport, rec.carrierCallId, callId, { ringing: true, reason });
    this.#settleDialing(callId);
    this.#d.records.store.endDialing(callId, reason);
    this.#log.info({ event: 'call_hangup', callId, reason, dialing: true }, 'ringing call cancelled');
    return { callId, state: 'ended', endReason: reason, via: 'carrier' };
  }

  async #hangupLive(call: Call, reason: string) {
    const s = call.snapshot();
    if (s.state === 'ending' || s.state === 'ended') throw new GatewayError('GW_ERR_CALL_NOT_LIVE', `'${call.id}' is already ending (${s.endReason ?? 'unknown'})`);
    const withdraw = this.#d.records.expectEnd(call.id, reason);
    let via: 'carrier' | 'media';
    try {
      via = await this.#carrierHangup(s.transport, call.carrierCallId, call.id, { reason });
    } catch (err) {
      if (!goneAtCarrier(err)) {
        withdraw();
        throw err;
      }
      via = 'media';
      this.#log.info({ event: 'call_gone_at_carrier', callId: call.id }, 'carrier no longer has the call; ending the media side');
    }
    await call.end(reason);
    this.#log.info({ event: 'call_hangup', callId: call.id, reason, via }, 'call hung up');
    return { callId: call.id, state: 'ended' as const, endReason: reason, via };
  }

  /**
   * 'carrier' when the carrier's REST API hung up; 'media' when closing our stream is the hangup.
   * Twilio gets Status=completed whatever the call's state: `canceled` leaves a call that was
   * answered a moment ago (stream not open yet) running, `completed` ends it in any state.
   */
  async #carrierHangup(transport: string, carrierCallId: string, callId: string, opts: { ringing?: boolean; reason?: string } = {}): Promise<'carrier' | 'media'> {
    const reason = opts.reason ?? 'api_hangup';
    const t0 = performance.now();
    const done = (outcome: string) => {
      this.#d.metrics.callControlTotal.inc({ action: 'hangup', transport, outcome });
      this.#d.metrics.carrierApiSeconds.observe({ carrier: transport, op: 'hangup' }, (performance.now() - t0) / 1000);
    };
    try {
      const outbound = this.#outboundOf(transport);
      const via = outbound ? await outbound.hangup(carrierCallId, { ringing: opts.ringing ?? false, reason }) : 'media';
      if (via === 'media') {
        // Closing our stream is the hangup: nothing was asked of the carrier.
        this.#d.metrics.callControlTotal.inc({ action: 'hangup', transport, outcome: 'ok' });
        return 'media';
      }
      done('ok');
      return 'carrier';
    } catch (err) {
      done(outcomeOf(err));
      this.#log.warn({ event: 'call_hangup_failed', callId, transport, code: isGatewayError(err) ? err.code : undefined, err }, 'carrier hangup failed');
      throw err;
    }
  }

  // ---- DTMF -----------------------------------------------------------------------------------

  async sendDtmf(callId: string, digitsIn: string, durationMs = 100): Promise<{ callId: string; digits: string; via: 'carrier' | 'inband'; durationMs: number }> {
    const digits = digitsIn.replace(/[a-d]/g, (c) => c.toUpperCase());
    if (digits.length === 0 || digits.length > 64 || !DTMF_DIGITS.test(digits)) {
      throw new GatewayError('GW_ERR_CALL_BAD_DIGITS', `'${digitsIn.slice(0, 70)}': use 1 to 64 of 0-9 A-D * # (w = 0.5 s pause, W = 1 s)`);
    }
    if (!Number.isInteger(durationMs) || durationMs < 100 || durationMs > 500) {
      throw new GatewayError('GW_ERR_CALL_BAD_REQUEST', `'durationMs' must be a whole number from 100 to 500, got ${String(durationMs)}`);
    }
    const call = this.#d.calls.get(callId);
    if (!call) {
      const rec = this.#d.records.store.get(callId);
      if (!rec) throw new GatewayError('GW_ERR_CALL_NOT_FOUND', `'${callId}'`);
      throw new GatewayError('GW_ERR_CALL_NOT_LIVE', `'${callId}' is ${rec.state}; digits need a live media stream`);
    }
    const s = call.snapshot();
    if (s.state === 'ending' || s.state === 'ended') throw new GatewayError('GW_ERR_CALL_NOT_LIVE', `'${callId}' is ending`);
    let via: 'carrier' | 'inband' = 'inband';
    const outbound = this.#outboundOf(s.transport);
    if (outbound?.sendsDtmf) {
      const t0 = performance.now();
      try {
        await outbound.sendDtmf(call.carrierCallId, digits, durationMs);
      } catch (err) {
        this.#d.metrics.callControlTotal.inc({ action: 'dtmf', transport: s.transport, outcome: outcomeOf(err) });
        throw err;
      } finally {
        this.#d.metrics.carrierApiSeconds.observe({ carrier: s.transport, op: 'send_dtmf' }, (performance.now() - t0) / 1000);
      }
      via = 'carrier';
    } else {
      const samples = dtmfTones(digits, { sampleRate: s.sampleRate, toneMs: durationMs, gapMs: 80 });
      call.playAudio({ samples, sampleRate: s.sampleRate, seq: 0, timestampMs: 0 }, 'dtmf');
    }
    call.recordDtmfOut(digits.replace(/[wW]/g, ''));
    this.#d.metrics.callControlTotal.inc({ action: 'dtmf', transport: s.transport, outcome: 'ok' });
    this.#log.info({ event: 'dtmf_sent', callId, count: digits.length, via }, 'DTMF sent');
    return { callId, digits, via, durationMs };
  }

  // ---- status callbacks -----------------------------------------------------------------------

  /** A verified Twilio status callback (or async AMD result). `callIdHint` comes from our callback URL. */
  foldTwilioStatus(params: Record<string, string>, callIdHint: string | undefined): 'folded' | 'unknown_call' | 'ignored' {
    const update = twilioStatusUpdate(params, callIdHint, this.#now());
    return update ? this.#fold('twilio', update) : 'ignored';
  }

  /** A verified Telnyx Call Control event. */
  foldTelnyxEvent(eventType: string, payload: Record<string, unknown>, occurredAt: string | undefined): 'folded' | 'unknown_call' | 'ignored' {
    const update = telnyxEventUpdate(eventType, payload, occurredAt, this.#now());
    return update ? this.#fold('telnyx', update) : 'ignored';
  }

  #fold(carrier: CarrierName, u: CarrierUpdate): 'folded' | 'unknown_call' {
    const found = this.#d.records.store.applyCarrierEvent(u);
    this.#d.metrics.carrierCallbacksTotal.inc({ carrier, outcome: found ? 'folded' : 'unknown_call' });
    if (!found) {
      this.#log.debug({ event: 'carrier_status_unknown_call', carrier, carrierCallId: u.carrierCallId, status: u.event.status }, 'status for a call we have no record of');
      return 'unknown_call';
    }
    this.#log.debug({ event: 'carrier_status', carrier, callId: found.callId, status: u.event.status }, 'carrier status folded into the record');
    if (u.endReason !== undefined) {
      this.#settleDialing(found.callId);
      const call = this.#d.calls.get(found.callId);
      if (call) {
        // The carrier says it is over; normally the stream stops too. If it has not soon, end it.
        const t = setTimeout(() => {
          this.#timers.delete(t);
          if (this.#d.calls.get(found.callId) === call) void call.end('carrier_hangup');
        }, CARRIER_END_GRACE_MS);
        t.unref();
        this.#timers.add(t);
      }
    }
    return 'folded';
  }

  /**
   * Shutting down: calls still ringing can no longer stream to us (new streams are refused while
   * draining), so cancel them at the carrier (best effort, bounded) and end their records.
   */
  async close(waitMs = 2000): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const ringing = [...this.#dialing.keys()];
    const cancels = ringing.map(async (callId) => {
      this.#settleDialing(callId);
      if (this.#d.calls.get(callId)) return;
      const rec = this.#d.records.store.get(callId);
      if (rec?.state !== 'dialing') return;
      this.#d.records.store.endDialing(callId, 'shutdown');
      if (rec.carrierCallId) await this.#carrierHangup(rec.transport, rec.carrierCallId, callId, { ringing: true, reason: 'shutdown' });
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(cancels), new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }
}

/** The Calls API's credentials, when the config has both: outbound Twilio calls can be placed. */
export function twilioCredentials(config: Config): { accountSid: string; authToken: string } | undefined {
  const accountSid = config.calls.twilioAccountSid;
  const authToken = config.twilio.authToken;
  return accountSid && authToken ? { accountSid, authToken } : undefined;
}

/** Call control with the carrier clients the config has credentials for. */
export function createCallControl(
  config: Config,
  deps: Omit<CallControlDeps, 'config' | 'twilio'> & { twilio?: TwilioCalls },
): CallControl {
  const credentials = twilioCredentials(config);
  const twilio =
    deps.twilio ??
    (credentials
      ? createTwilioCalls({ ...credentials, baseUrl: config.calls.twilioApiBaseUrl, timeoutMs: config.calls.carrierTimeoutMs, commands: deps.metrics.carrierCommandsTotal })
      : undefined);
  return new CallControl({ ...deps, config, twilio });
}
