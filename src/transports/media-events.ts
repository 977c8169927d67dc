/**
 * What any telephony media stream says, once its wire format is parsed. Transports translate their
 * JSON to and from these; the call never sees carrier-specific shapes.
 */
import type { GatewayError } from '../errors.js';
import type { WireFormat } from '../pipeline/frame.js';

export type { WireCodec, WireFormat } from '../pipeline/frame.js';

// Defined where the call uses them (calls and pipeline sit below transports); re-exported for transports.
import type { TransportName } from '../calls/call-types.js';
export type { TransportName };
export { pcmFormatOf } from '../pipeline/codecs/wire-codec.js';

export interface StartEvent {
  type: 'start';
  /** The carrier's id for the call (Twilio CallSid, Telnyx call_control_id). */
  carrierCallId: string;
  streamId: string;
  /** What the caller's audio is in, or why we cannot decode it (refused after the token check). */
  format: WireFormat | GatewayError;
  customParameters: Record<string, string>;
  from?: string;
  to?: string;
  /** Telnyx: the stream auth token echoed in `start`/`connected` (x-telnyx-streaming-auth-token). */
  authToken?: string;
}

export type InboundMediaEvent =
  | { type: 'connected'; authToken?: string }
  | StartEvent
  /** `chunk`: the carrier's frame counter, when it gives a usable one (frames are put back in order by it). */
  | { type: 'media'; payload: Uint8Array; base64: string; timestampMs: number | undefined; chunk: number | undefined }
  /** A message the docs list that carries nothing for us (the outbound track, a Telnyx `error` report). */
  | { type: 'ignored'; what: string; detail?: string }
  | { type: 'dtmf'; digit: string }
  | { type: 'mark'; name: string }
  | { type: 'stop' };

/**
 * A transport's wire codec: parse inbound text, build outbound text. One per connection. `parse` is
 * pure (a rejected message changes nothing); only `started`, called once the socket accepted a
 * `start`, sets what outbound messages carry. Outbound messages are built with JSON.stringify, so no
 * carrier-given string can add or change a field.
 */
export interface MediaProtocol {
  readonly transport: TransportName;
  /** Throws GatewayError (GW_ERR_TRANSPORT_*) for anything it cannot accept. */
  parse(text: string): InboundMediaEvent;
  started(start: StartEvent): void;
  media(payload: Uint8Array): string;
  mark(name: string): string;
  clear(): string;
}

