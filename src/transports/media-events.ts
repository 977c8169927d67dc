/**
 * What any telephony media stream says, once its wire format is parsed. Transports translate their
 * JSON to and from these; the call never sees carrier-specific shapes.
 */
import type { AudioFormat, WireFormat } from '../pipeline/frame.js';

export type { WireCodec, WireFormat } from '../pipeline/frame.js';

export type TransportName = 'twilio' | 'telnyx' | 'webrtc';

export type InboundMediaEvent =
  | { type: 'connected' }
  | {
      type: 'start';
      /** The carrier's id for the call (Twilio CallSid, Telnyx call_control_id). */
      carrierCallId: string;
      streamId: string;
      format: WireFormat;
      customParameters: Record<string, string>;
      from?: string;
      to?: string;
    }
  | { type: 'media'; payload: Uint8Array; timestampMs: number | undefined }
  | { type: 'dtmf'; digit: string }
  | { type: 'mark'; name: string }
  | { type: 'stop' };

/** A transport's wire codec: parse inbound text, build outbound text. Pure, one per connection. */
export interface MediaProtocol {
  readonly transport: TransportName;
  /** Throws GatewayError (GW_ERR_TRANSPORT_*) for anything it cannot accept. */
  parse(text: string): InboundMediaEvent;
  media(payload: Uint8Array): string;
  mark(name: string): string;
  clear(): string;
}

export function pcmFormatOf(format: WireFormat): AudioFormat {
  return { codec: format.codec === 'l16' ? 'pcm16' : format.codec, sampleRate: format.sampleRate };
}
