/**
 * Twilio's part of call control (../outbound.ts): dial with TwiML that connects the media to us,
 * hang up through the Calls API. Without REST credentials an inbound call still ends when our media
 * stream closes (nothing follows our <Connect>). Twilio has no "send digits" on a live call except
 * a TwiML update, which replaces <Connect> and so drops the stream: digits are played in band.
 */
import { GatewayError } from '../../errors.js';
import type { CarrierOutbound, OutboundAction, OutboundContext, PreparedCall } from '../outbound.js';
import { twilioCarrier } from './index.js';
import { twilioConnectStream, twilioMediaUrl } from './media-stream.js';
import type { TwilioCalls } from './rest-client.js';

export class TwilioOutbound implements CarrierOutbound {
  readonly grant = { leg: 'stream_verb' } as const;
  readonly sendsDtmf = false;
  readonly #ctx: OutboundContext;
  readonly #client: TwilioCalls | undefined;

  constructor(ctx: OutboundContext, client: TwilioCalls | undefined) {
    this.#ctx = ctx;
    this.#client = client;
  }

  check(action: OutboundAction): void {
    this.#require(action);
  }

  async dial(p: PreparedCall, token: string): Promise<string> {
    const client = this.#require('dial');
    const { config, publicUrl, wsBase, ringTimeoutS } = this.#ctx;
    const status = config.calls.statusCallbacks ? `${publicUrl}${twilioCarrier.paths.status}?callId=${encodeURIComponent(p.callId)}` : undefined;
    const { sid } = await client.dial({
      to: p.to,
      from: p.from,
      twiml: twilioConnectStream(twilioMediaUrl(wsBase), { token }),
      statusCallback: status,
      machineDetection: p.machineDetection === undefined ? undefined : p.machineDetection === 'detect' ? 'Enable' : 'DetectMessageEnd',
      amdCallback: status,
      ringTimeoutS,
    });
    return sid;
  }

  /** Status=completed whatever the call's state: `canceled` leaves a call answered a moment ago (stream not open yet) running. */
  async hangup(carrierCallId: string, opts: { readonly ringing: boolean; readonly reason: string }): Promise<'carrier' | 'media'> {
    if (!this.#client) {
      if (opts.ringing) this.#require('hangup'); // no stream to close: REST is the only way
      return 'media';
    }
    await this.#client.hangup(carrierCallId, 'completed');
    return 'carrier';
  }

  sendDtmf(): Promise<void> {
    return Promise.reject(new Error('Twilio digits are played in band'));
  }

  neverStreamed(): void {
    // A <Connect><Stream> call that never streams ends at Twilio by itself.
  }

  #require(action: OutboundAction): TwilioCalls {
    if (this.#client) return this.#client;
    const { config } = this.#ctx;
    const missing = [!config.calls.twilioAccountSid && 'TWILIO_ACCOUNT_SID', !config.twilio.authToken && 'TWILIO_AUTH_TOKEN'].filter(Boolean).join(' and ');
    throw new GatewayError('GW_ERR_CALL_CARRIER_NOT_CONFIGURED', `Twilio ${action} needs ${missing || 'the Twilio REST client'}`);
  }
}
