/**
 * Twilio Media Streams: JSON text frames. Inbound: connected, start, media, dtmf, mark, stop.
 * Outbound (bidirectional <Connect><Stream>): media, mark, clear, each with the streamSid Twilio gave.
 */
import { GatewayError } from '../../errors.js';
import type { InboundMediaEvent, MediaProtocol, WireFormat } from '../media-events.js';
import {
  encodeBase64, inboundMedia, objectField, optionalString, parseJsonObject, stringField, stringRecord,
} from '../wire.js';

function formatOf(mediaFormat: Record<string, unknown>): WireFormat {
  const encoding = String(mediaFormat.encoding ?? 'audio/x-mulaw').toLowerCase();
  const sampleRate = Number(mediaFormat.sampleRate ?? 8000);
  if (encoding !== 'audio/x-mulaw') {
    throw new GatewayError('GW_ERR_AUDIO_UNSUPPORTED_CODEC', `Twilio media encoding '${encoding}'`);
  }
  if (sampleRate !== 8000) throw new GatewayError('GW_ERR_AUDIO_UNSUPPORTED_RATE', `Twilio media at ${String(sampleRate)} Hz`);
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
        this.#streamSid = optionalString(msg, 'streamSid') ?? stringField(start, 'streamSid', 'start');
        const mediaFormat = start.mediaFormat && typeof start.mediaFormat === 'object' ? start.mediaFormat : {};
        return {
          type: 'start',
          carrierCallId: stringField(start, 'callSid', 'start'),
          streamId: this.#streamSid,
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

  media(payload: Uint8Array): string {
    // Hand-built to skip JSON.stringify's object walk on the per-frame path; base64 needs no escaping.
    return `{"event":"media","streamSid":"${this.#streamSid}","media":{"payload":"${encodeBase64(payload)}"}}`;
  }

  mark(name: string): string {
    return JSON.stringify({ event: 'mark', streamSid: this.#streamSid, mark: { name } });
  }

  clear(): string {
    return JSON.stringify({ event: 'clear', streamSid: this.#streamSid });
  }
}
