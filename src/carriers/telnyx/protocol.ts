/**
 * Telnyx media streaming: JSON text frames, every message with `stream_id` and `sequence_number`
 * (https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket).
 * Encodings appear as PCMU/PCMA/L16 in current docs and audio/x-mulaw / audio/x-alaw in older ones;
 * G722, OPUS and AMR-WB are documented too but we do not decode them, so `start` reports them as a
 * refusal (the socket then refuses the call and hangs the leg up) rather than taking silence.
 * Outbound messages carry no stream id.
 */
import { GatewayError } from '../../errors.js';
import type { InboundMediaEvent, MediaProtocol, StartEvent, WireFormat } from '../../transports/media-events.js';
import {
  encodeBase64, inboundMedia, objectField, optionalString, parseJsonObject, stringField, stringRecord,
} from '../../transports/wire.js';

const ENCODINGS: Record<string, WireFormat['codec']> = {
  pcmu: 'mulaw',
  'audio/x-mulaw': 'mulaw',
  pcma: 'alaw',
  'audio/x-alaw': 'alaw',
  l16: 'l16',
  'audio/l16': 'l16',
};

export function telnyxFormat(mediaFormat: Record<string, unknown>): WireFormat {
  const encoding = String(mediaFormat.encoding ?? 'PCMU').toLowerCase();
  const codec = Object.hasOwn(ENCODINGS, encoding) ? ENCODINGS[encoding] : undefined;
  if (!codec) throw new GatewayError('GW_ERR_AUDIO_UNSUPPORTED_CODEC', `Telnyx media encoding '${encoding.slice(0, 40)}'`);
  const sampleRate = Number(mediaFormat.sample_rate ?? 8000);
  const allowed = codec === 'l16' ? [8000, 16000] : [8000];
  if (!allowed.includes(sampleRate)) {
    throw new GatewayError('GW_ERR_AUDIO_UNSUPPORTED_RATE', `Telnyx ${encoding} at ${String(sampleRate).slice(0, 20)} Hz`);
  }
  return { codec, sampleRate };
}

function formatOrRefusal(mediaFormat: Record<string, unknown>): WireFormat | GatewayError {
  try {
    return telnyxFormat(mediaFormat);
  } catch (err) {
    return err as GatewayError;
  }
}

export class TelnyxProtocol implements MediaProtocol {
  readonly transport = 'telnyx' as const;

  parse(text: string): InboundMediaEvent {
    const msg = parseJsonObject(text);
    switch (msg.event) {
      case 'media':
        return inboundMedia(msg);
      case 'connected':
        return { type: 'connected', authToken: optionalString(msg, 'x-telnyx-streaming-auth-token') };
      case 'start': {
        const start = objectField(msg, 'start', 'start');
        const mediaFormat = start.media_format && typeof start.media_format === 'object' ? start.media_format : {};
        return {
          type: 'start',
          carrierCallId: stringField(start, 'call_control_id', 'start'),
          streamId: optionalString(msg, 'stream_id') ?? '',
          format: formatOrRefusal(mediaFormat as Record<string, unknown>),
          customParameters: stringRecord(start.custom_parameters),
          from: optionalString(start, 'from'),
          to: optionalString(start, 'to'),
        };
      }
      case 'dtmf':
        return { type: 'dtmf', digit: stringField(objectField(msg, 'dtmf', 'dtmf'), 'digit', 'dtmf') };
      case 'mark':
        return { type: 'mark', name: stringField(objectField(msg, 'mark', 'mark'), 'name', 'mark') };
      case 'stop':
        return { type: 'stop' };
      case 'error':
        // Telnyx reports a problem with something we sent; logged, the stream goes on.
        return { type: 'ignored', what: 'carrier_error', detail: JSON.stringify(msg).slice(0, 300) };
      default:
        throw new GatewayError('GW_ERR_TRANSPORT_UNKNOWN_EVENT', `'${String(msg.event).slice(0, 40)}'`);
    }
  }

  started(_start: StartEvent): void {
    // Outbound Telnyx messages carry no stream id: nothing to remember.
  }

  media(payload: Uint8Array): string {
    return JSON.stringify({ event: 'media', media: { payload: encodeBase64(payload) } });
  }

  mark(name: string): string {
    return JSON.stringify({ event: 'mark', mark: { name } });
  }

  clear(): string {
    return JSON.stringify({ event: 'clear' });
  }
}
