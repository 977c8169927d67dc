/**
 * What the rest of the gateway needs to know about one carrier without knowing which: its name, the
 * route its media WebSocket dials, the wire protocol spoken there, and how to play the carrier's
 * side of a stream (the simulator, the load driver, the tests). Each carrier folder's index.ts
 * exports one; ./descriptors.ts lists them. The carrier's webhooks and REST call control stay its own
 * (its route plugin in src/http/routes/ and src/carriers/call-control.ts use them by name).
 */
import type { MediaProtocol } from '../transports/media-events.js';
import type { CarrierName } from './carrier-name.js';
import type { NetworkMessages } from './network-messages.js';

export interface CarrierDescriptor<N extends CarrierName = CarrierName> {
  readonly name: N;
  /** The route the carrier's media WebSocket dials; a one-time token may follow it in the path (redacted from logs). */
  readonly mediaPath: string;
  /** The media stream's wire protocol: one per connection (it remembers what `start` said). */
  protocol(): MediaProtocol;
  /** Playing the carrier's side. */
  readonly network: {
    /** A call id shaped like the carrier's (Twilio CA..., Telnyx v3:...), from 32 hex digits. */
    callId(hex: string): string;
    /** The messages of one media stream; `unique` is any text unique to the stream (a UUID, hex). */
    messages(unique: string): NetworkMessages;
  };
}
