/**
 * Twilio media streams: where our media WebSocket lives and the TwiML that connects a call to it.
 * The one place that builds the Twilio stream URL: the /twilio/voice webhook, the media route's
 * signature check and an outbound dial all take it from here.
 */
import { xmlAttr } from '../xml.js';

/** The route Twilio's <Stream> dials (and signs the handshake over, as wss://host/twilio/media). */
export const TWILIO_MEDIA_PATH = '/twilio/media';

/** The stream URL for a media base (see ../media-base.ts): no token in it, Twilio drops query strings. */
export function twilioMediaUrl(wsBase: string): string {
  return wsBase + TWILIO_MEDIA_PATH;
}

/** Twilio: no query string in the Stream url; values travel as <Parameter> into start.customParameters. */
export function twilioConnectStream(streamUrl: string, parameters: Record<string, string>): string {
  const params = Object.entries(parameters)
    .map(([name, value]) => `<Parameter name="${xmlAttr(name)}" value="${xmlAttr(value)}"/>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="${xmlAttr(streamUrl)}">${params}</Stream></Connect></Response>`;
}
