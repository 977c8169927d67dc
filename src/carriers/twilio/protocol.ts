/**
 * Twilio Media Streams: JSON text frames. Inbound: connected, start, media, dtmf, mark, stop.
 * Outbound (bidirectional <Connect><Stream>): media, mark, clear, each with the streamSid Twilio gave
 * (https://www.twilio.com/docs/voice/media-streams/websocket-messages).
 */
import { GatewayError } from '../../errors.js';
import type { InboundMediaEvent, MediaProtocol, StartEvent, WireFormat } from '../../transports/media-events.js';
import {
  encodeBase64, inboundMedia, objectField, optionalString, parseJsonObject, stringField, stringRecord,
} from '../../transports/wire.js';

/** <Connect><Stream> audio is always 8 kHz mu-law ("audio/x-mulaw", sampleRate 8000, channels 1). */
function formatOf(mediaFormat: Record<string, unknown>): WireFormat | GatewayError {
  const encoding = String(mediaFormat.encoding ?? 'audio/x-mulaw').toLowerCase();
  const sampleRate = Number(mediaFormat.sampleRate ?? 8000);
  if (encoding !== 'audio/x-mulaw') return new GatewayError('GW_ERR_AUDIO_UNSUPPORTED_CODEC', `Twilio media encoding '${encoding.slice(0, 40)}'`);
  if (sampleRate !== 8000) return new GatewayError('GW_ERR_AUDIO_UNSUPPORTED_RATE', `Twilio media at ${String(sampleRate).slice(0, 20)} Hz`);
  return { codec: 'mulaw', sampleRate };
}

export class TwilioProtocol implements MediaProtocol {
  readonly transport = 'twilio' as const;
  #streamSid = '';

  get streamSid(): string {
    return this.#streamSid;
  }

  parse(text: string): InboundMediaEvent {
    const msg = parseJsonObject(text);
    switch (msg.event) {
      case 'media':
        return inboundMedia(msg);
      case 'connected':
        return { type: 'connected' };
      case 'start': {
        const start = objectField(msg, 'start', 'start');
        const mediaFormat = start.mediaFormat && typeof start.mediaFormat === 'object' ? start.mediaFormat : {};
        return {
          type: 'start',
          carrierCallId: stringField(start, 'callSid', 'start'),
          streamId: optionalString(msg, 'streamSid') ?? stringField(start, 'streamSid', 'start'),
          format: formatOf(mediaFormat as Record<string, unknown>),
          customParameters: stringRecord(start.customParameters),
        };
      }
      case 'dtmf':
        return { type: 'dtmf', digit: stringField(objectField(msg, 'dtmf', 'dtmf'), 'digit', 'dtmf') };
      case 'mark':
        return { type: 'mark', name: stringField(objectField(msg, 'mark', 'mark'), 'name', 'mark') };
      case 'stop':
        return { type: 'stop' };
      default:
        throw new GatewayError('GW_ERR_TRANSPORT_UNKNOWN_EVENT', `'${String(msg.event).slice(0, 40)}'`);
    }
  }

  started(start: StartEvent): void {
    this.#streamSid = start.streamId;
  }

  media(payload: Uint8Array): string {
    return JSON.stringify({ event: 'media', streamSid: this.#streamSid, media: { payload: encodeBase64(payload) } });
  }

  mark(name: string): string {
    return JSON.stringify({ event: 'mark', streamSid: this.#streamSid, mark: { name } });
  }

  clear(): string {
    return JSON.stringify({ event: 'clear', streamSid: this.#streamSid });
  }
}
