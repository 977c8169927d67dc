/**
 * What a signed webhook or an outbound call request knew about a call when it let a media stream in:
 * the grant behind a one-time stream token. The token table lives in http/security/stream-tokens.ts;
 * the shapes live here so calls and carriers can use them without importing http (issue 15:
 * nothing outside http imports http).
 */
import type { WireFormat } from '../pipeline/frame.js';

export type MediaTransport = 'twilio' | 'telnyx';

/** What a webhook (or an outbound call request) knew about the call when it issued the token. */
export interface StreamGrantInfo {
  /** Our call id when it was assigned before the stream (outbound calls), else the call gets a new one. */
  readonly callId?: string;
  readonly direction?: 'inbound' | 'outbound';
  readonly from?: string;
  readonly to?: string;
  /** A provider asked for by name (outbound request), else PROVIDERS order. */
  readonly provider?: string;
  readonly metadata?: Record<string, unknown>;
  /** The media route that must present the token; a grant without one opens no carrier media socket. */
  readonly transport?: MediaTransport;
  /**
   * A Telnyx Call Control leg lives on after our socket closes until it gets a `hangup` command;
   * TwiML <Connect> and TeXML calls end (or move on) when the socket closes.
   */
  readonly leg?: 'call_control' | 'stream_verb';
  /** The codec the carrier was told to expect from us (TeXML bidirectionalCodec, stream_bidirectional_codec). */
  readonly egress?: WireFormat;
}

/**
 * The part of the token table an outbound dial needs: issue a token for the stream the carrier will
 * open, and spend it when the dial fails or expires. http/security/stream-tokens.ts implements it.
 */
export interface StreamGrantIssuer {
  issue(carrierCallId?: string, info?: StreamGrantInfo): string;
  /** Resolves once every node can find the grant; rejects (GW_ERR_GRANTS_UNAVAILABLE) when it could not be stored. */
  issued(token: string): Promise<void>;
  consume(token: string | undefined, carrierCallId?: string, transport?: MediaTransport): StreamGrantInfo | undefined;
}
