/**
 * One carrier's part of call control (./call-control.ts): how it places a call whose media streams
 * to us, hangs one up, plays digits, and what becomes of a placed call that never streamed.
 * CallControl owns the rest (records, stream tokens, metrics, the order of things) and picks the
 * carrier's CarrierOutbound by name; each carrier folder has one (twilio/outbound.ts,
 * telnyx/outbound.ts).
 */
import type { Config } from '../config.js';
import type { WireFormat } from '../pipeline/frame.js';
import type { CarrierName } from './carrier-name.js';

export interface OutboundCallRequest {
  readonly transport: CarrierName;
  readonly to: string;
  readonly from: string;
  readonly provider?: string;
  readonly metadata?: Record<string, unknown>;
  /** Answering-machine detection, passed to the carrier (Twilio async AMD, Telnyx detect / detect_beep). */
  readonly machineDetection?: 'detect' | 'detect_message_end';
  readonly correlationId: string;
}

/** A request that passed validation: it has an id, nothing has been written or sent yet. */
export interface PreparedCall extends OutboundCallRequest {
  readonly callId: string;
  readonly provider: string;
}

/** What every carrier's outbound side is built with. */
export interface OutboundContext {
  readonly config: Config;
  /** The public http(s) base (status callback URLs) and its ws(s) twin (media URLs, ./media-base.ts). */
  readonly publicUrl: string;
  readonly wsBase: string;
  /** How long a placed call may ring (already fitted to the stream token's life). */
  readonly ringTimeoutS: number;
}

export type OutboundAction = 'dial' | 'hangup' | 'dtmf';

export interface CarrierOutbound {
  /** What the stream grant of a call it places carries: its leg kind, and what we send when not its default. */
  readonly grant: { readonly leg: 'stream_verb' | 'call_control'; readonly egress?: WireFormat };
  /** Throws GW_ERR_CALL_CARRIER_NOT_CONFIGURED, naming the missing settings, when `action` cannot be done here. */
  check(action: OutboundAction): void;
  /** Place the call; resolves with the carrier's id for it once the carrier has accepted it. */
  dial(p: PreparedCall, token: string): Promise<string>;
  /**
   * End the call at the carrier: 'carrier' when its REST API did, 'media' when closing our media
   * stream is the hangup (nothing was sent). `ringing`: no stream is open yet.
   */
  hangup(carrierCallId: string, opts: { readonly ringing: boolean; readonly reason: string }): Promise<'carrier' | 'media'>;
  /** Whether digits go through the carrier (sendDtmf); otherwise the call plays them in band. */
  readonly sendsDtmf: boolean;
  sendDtmf(carrierCallId: string, digits: string, durationMs: number): Promise<void>;
  /** A call it placed never opened its media stream (its token ran out). */
  neverStreamed(carrierCallId: string): void;
}
