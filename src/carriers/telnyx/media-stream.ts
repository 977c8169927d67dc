/**
 * Telnyx media streams: where our media WebSocket lives, the stream settings a TeXML answer or a
 * Call Control answer/dial carries, and the TeXML document. The one place that builds the Telnyx
 * stream URL: the webhooks and an outbound dial all take it from here.
 *
 * Media credentials ride in the URL path (/telnyx/media/<token>), which Telnyx dials as given; never
 * in a query string, which nothing promises to keep.
 */
import type { WireFormat } from '../../pipeline/frame.js';
import type { TelnyxCodec, TelnyxStreamSetup } from './call-control.js';
import { xmlAttr } from '../xml.js';

export const TELNYX_MEDIA_PATH = '/telnyx/media';

/** The media URL for a token: in the path. */
export function telnyxStreamUrl(wsBase: string, token: string): string {
  return `${wsBase}${TELNYX_MEDIA_PATH}/${encodeURIComponent(token)}`;
}

/**
 * The stream auth header Telnyx sends on the media WebSocket when stream_auth_token is set
 * (https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket).
 */
export const TELNYX_STREAM_AUTH_HEADER = 'x-telnyx-streaming-auth-token';

/**
 * The token a media socket's upgrade carries: in the path (the URLs we give out, telnyxStreamUrl),
 * else in the stream auth header, else in ?token= (URLs issued by older versions).
 */
export function telnyxStreamToken(upgrade: {
  readonly pathToken: string | undefined;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly query: Readonly<Record<string, string | undefined>>;
}): string | undefined {
  const header = upgrade.headers[TELNYX_STREAM_AUTH_HEADER];
  return upgrade.pathToken ?? (Array.isArray(header) ? header[0] : header) ?? upgrade.query.token;
}

/** What we send Telnyx, as the carrier was told to expect it (L16 at 16 kHz: the rate we ask for). */
export function telnyxEgressFormat(codec: TelnyxCodec): WireFormat {
  if (codec === 'PCMA') return { codec: 'alaw', sampleRate: 8000 };
  if (codec === 'L16') return { codec: 'l16', sampleRate: 16000 };
  return { codec: 'mulaw', sampleRate: 8000 };
}

/** The configured codecs (TELNYX_CODEC, TELNYX_BIDIRECTIONAL_CODEC). */
export interface TelnyxStreamCodecs {
  readonly codec: TelnyxCodec;
  readonly bidirectionalCodec: TelnyxCodec;
}

/**
 * The codecs a TeXML <Stream> is answered with. TeXML takes PCMU, PCMA or G722 for what we send back
 * (BidirectionalCodec of the TeXML stream parameters, CallStreamsJsonParams in telnyx-node 7,
 * resources/texml/accounts/calls/calls.d.ts), never L16, which only Call Control's answer, dial and
 * streaming_start take. With TELNYX_BIDIRECTIONAL_CODEC=L16 a TeXML call's replies go out in PCMU
 * (serve warns at start); what Telnyx streams to us is decoded as its start message says.
 */
export function texmlStreamCodecs(codecs: TelnyxStreamCodecs): TelnyxStreamCodecs {
  return codecs.bidirectionalCodec === 'L16' ? { codec: codecs.codec, bidirectionalCodec: 'PCMU' } : codecs;
}

/** The stream settings an answer or a dial carries for `token`, in the given codecs (L16 back at 16 kHz). */
export function telnyxStreamSetup(codecs: TelnyxStreamCodecs, wsBase: string, token: string): TelnyxStreamSetup {
  const { codec, bidirectionalCodec } = codecs;
  return { streamUrl: telnyxStreamUrl(wsBase, token), codec, bidirectionalCodec, bidirectionalSamplingRate: bidirectionalCodec === 'L16' ? 16000 : undefined };
}

/**
 * Telnyx TeXML <Stream> (https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/stream):
 * `codec` is what Telnyx streams to us ("when transcoding is not possible, the codec from the call
 * will be used. Currently, transcoding is only supported between PCMU and PCMA"), `bidirectionalMode`
 * rtp lets us speak back, `bidirectionalCodec` is what it expects from us (default PCMU, so it is
 * always written; never L16 here, see texmlStreamCodecs).
 */
export function telnyxConnectStream(setup: TelnyxStreamSetup): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="${xmlAttr(setup.streamUrl)}" codec="${xmlAttr(setup.codec)}" bidirectionalMode="rtp" bidirectionalCodec="${xmlAttr(setup.bidirectionalCodec)}"/></Connect></Response>`;
}
