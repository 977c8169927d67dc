/**
 * What the rest of the gateway needs to know about one carrier without knowing which: its name, the
 * routes it calls us on, the wire protocol of its media stream, and how to play the carrier's side
 * (the simulator, the load driver, the tests). Each carrier folder's index.ts exports one;
 * ./descriptors.ts lists them. The carrier's webhook handling and REST call control stay its own
 * (its route plugin in src/http/routes/ and src/carriers/call-control.ts use them by name).
 */
import type { MediaProtocol } from '../transports/media-events.js';
import type { CarrierName } from './carrier-name.js';
import type { NetworkMessages } from './network-messages.js';

/** The secrets a simulated carrier signs with (what `callerCredentials()` in src/config.ts reads). */
export interface NetworkCredentials {
  readonly twilioAuthToken?: string;
  /** Ed25519 secret key, 64 bytes. */
  readonly telnyxSecretKey?: Uint8Array;
}

/** One delivery of the simulated voice webhook, to be signed. */
export interface WebhookDelivery {
  readonly url: string;
  readonly params: Readonly<Record<string, string>>;
  /** The form body sent (`params` URL-encoded). */
  readonly body: string;
  /** Seconds since the epoch at the first delivery. */
  readonly nowS: number;
  /** 0 for the first delivery, then 1, 2... for the carrier's retries. */
  readonly attempt: number;
}

export interface CarrierDescriptor<N extends CarrierName = CarrierName> {
  readonly name: N;
  /** The routes the carrier calls us on (one place for the HTTP routes, call control and the simulator). */
  readonly paths: {
    /** The inbound-call webhook, answered with markup that connects the media stream (TwiML, TeXML). */
    readonly voice: string;
    /** Progress and status events of calls we placed. */
    readonly status: string;
    /** The media WebSocket; a one-time token may follow it in the path (redacted from logs). */
    readonly media: string;
  };
  /** The media stream's wire protocol: one per connection (it remembers what `start` said). */
  protocol(): MediaProtocol;
  /** Playing the carrier's side. */
  readonly network: {
    /** A call id shaped like the carrier's (Twilio CA..., Telnyx v3:...), from 32 hex digits. */
    callId(hex: string): string;
    /** The account field of its voice webhook. */
    readonly accountSid: string;
    /** The headers that sign a voice webhook delivery as the carrier does (none without credentials). */
    signWebhook(credentials: NetworkCredentials, delivery: WebhookDelivery): Record<string, string>;
    /** The headers that sign the media WebSocket's handshake (none when the carrier signs none). */
    signHandshake(credentials: NetworkCredentials, url: string): Record<string, string>;
    /** The messages of one media stream; `unique` is any text unique to the stream (a UUID, hex). */
    messages(unique: string): NetworkMessages;
  };
}
