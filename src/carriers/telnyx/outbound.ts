/**
 * Telnyx's part of call control (../outbound.ts): dial a Call Control leg with a bidirectional
 * stream to us, hang up (through the legs, ./legs.ts, so the socket closing after it sends no second
 * hangup), send DTMF with send_dtmf. A leg outlives our media socket, so one that never streamed is
 * hung up here too.
 */
import { GatewayError } from '../../errors.js';
import type { CarrierOutbound, OutboundAction, OutboundContext, PreparedCall } from '../outbound.js';
import { commandIdFor, type TelnyxCallControl } from './call-control.js';
import { telnyxCarrier } from './index.js';
import type { CarrierLegs } from './legs.js';
import { telnyxEgressFormat, telnyxStreamSetup } from './media-stream.js';

export class TelnyxOutbound implements CarrierOutbound {
  readonly grant;
  readonly #ctx: OutboundContext;
  readonly #client: TelnyxCallControl | undefined;
  readonly #legs: CarrierLegs | undefined;

  constructor(ctx: OutboundContext, client: TelnyxCallControl | undefined, legs: CarrierLegs | undefined) {
    this.#ctx = ctx;
    this.#client = client;
    this.#legs = legs;
    this.grant = { leg: 'call_control', egress: telnyxEgressFormat(ctx.config.telnyx.bidirectionalCodec) } as const;
  }

  get sendsDtmf(): boolean {
    return this.#client !== undefined;
  }

  check(action: OutboundAction): void {
    this.#require(action);
  }

  async dial(p: PreparedCall, token: string): Promise<string> {
    const client = this.#require('dial');
    const { config, publicUrl, wsBase, ringTimeoutS } = this.#ctx;
    const { callControlId } = await client.dial({
      connectionId: config.calls.telnyxConnectionId!,
      to: p.to,
      from: p.from,
      ...telnyxStreamSetup(config.telnyx, wsBase, token),
      clientState: Buffer.from(JSON.stringify({ callId: p.callId }), 'utf8').toString('base64'),
      // One dial per call of ours: a request repeated after a lost answer places no second call.
      commandId: commandIdFor('dial', p.callId),
      webhookUrl: config.calls.statusCallbacks ? `${publicUrl}${telnyxCarrier.paths.status}` : undefined,
      answeringMachineDetection: p.machineDetection === undefined ? undefined : p.machineDetection === 'detect' ? 'detect' : 'detect_beep',
      ringTimeoutS,
    });
    return callControlId;
  }

  async hangup(carrierCallId: string, opts: { readonly ringing: boolean; readonly reason: string }): Promise<'carrier' | 'media'> {
    const client = this.#require('hangup');
    // Through the legs when we have them, so the closing socket that follows sends no second hangup.
    if (this.#legs) await this.#legs.hangup(carrierCallId, opts.reason);
    else await client.hangup(carrierCallId);
    return 'carrier';
  }

  async sendDtmf(carrierCallId: string, digits: string, durationMs: number): Promise<void> {
    await this.#require('dtmf').sendDtmf(carrierCallId, digits, durationMs);
  }

  neverStreamed(carrierCallId: string): void {
    // A leg that never streamed would otherwise ring or sit answered in silence.
    this.#legs?.ended(carrierCallId, 'stream_not_opened');
  }

  #require(action: OutboundAction): TelnyxCallControl {
    const { config } = this.#ctx;
    if (this.#client && (action !== 'dial' || config.calls.telnyxConnectionId)) return this.#client;
    const missing = [!config.telnyx.apiKey && 'TELNYX_API_KEY', action === 'dial' && !config.calls.telnyxConnectionId && 'TELNYX_CONNECTION_ID'].filter(Boolean).join(' and ');
    throw new GatewayError('GW_ERR_CALL_CARRIER_NOT_CONFIGURED', `Telnyx ${action} needs ${missing}`);
  }
}
