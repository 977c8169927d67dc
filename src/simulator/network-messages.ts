/** What the carrier sends on the media stream, per transport (the mirror of src/transports). */
import type { WireCodec } from '../pipeline/frame.js';

export interface NetworkMessages {
  connected(): string;
  start(p: { carrierCallId: string; streamId: string; codec: WireCodec; customParameters: Record<string, string>; from?: string; to?: string }): string;
  media(payloadBase64: string, timestampMs: number, chunk: number): string;
  dtmf(digit: string): string;
  mark(name: string): string;
  stop(carrierCallId: string): string;
}

export function twilioMessages(streamSid: string): NetworkMessages {
  let seq = 0;
  const next = () => String(++seq);
  return {
    connected: () => JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }),
    start: (p) =>
      JSON.stringify({
        event: 'start',
        sequenceNumber: next(),
        streamSid,
        start: {
          streamSid,
          accountSid: 'AC00000000000000000000000000000000',
          callSid: p.carrierCallId,
          tracks: ['inbound'],
          customParameters: p.customParameters,
          mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        },
      }),
    media: (payload, timestampMs, chunk) =>
      `{"event":"media","sequenceNumber":"${next()}","streamSid":"${streamSid}","media":{"track":"inbound","chunk":"${String(chunk)}","timestamp":"${String(Math.round(timestampMs))}","payload":"${payload}"}}`,
    dtmf: (digit) => JSON.stringify({ event: 'dtmf', sequenceNumber: next(), streamSid, dtmf: { track: 'inbound_track', digit } }),
    mark: (name) => JSON.stringify({ event: 'mark', sequenceNumber: next(), streamSid, mark: { name } }),
    stop: (callSid) => JSON.stringify({ event: 'stop', sequenceNumber: next(), streamSid, stop: { accountSid: 'AC00000000000000000000000000000000', callSid } }),
  };
}

const TELNYX_ENCODING: Record<WireCodec, string> = { mulaw: 'PCMU', alaw: 'PCMA', l16: 'L16', pcm16: 'L16' };

export function telnyxMessages(streamId: string): NetworkMessages {
  let seq = 0;
  const next = () => String(++seq);
  return {
    connected: () => JSON.stringify({ event: 'connected', version: '1.0.0' }),
    start: (p) =>
      JSON.stringify({
        event: 'start',
        sequence_number: next(),
        stream_id: streamId,
        start: {
          call_control_id: p.carrierCallId,
          call_session_id: `session-${p.carrierCallId}`,
          from: p.from ?? '+15550100',
          to: p.to ?? '+15550199',
          client_state: '',
          custom_parameters: p.customParameters,
          media_format: { encoding: TELNYX_ENCODING[p.codec], sample_rate: 8000, channels: 1 },
        },
      }),
    media: (payload, timestampMs, chunk) =>
      `{"event":"media","sequence_number":"${next()}","stream_id":"${streamId}","media":{"track":"inbound","chunk":"${String(chunk)}","timestamp":"${String(Math.round(timestampMs))}","payload":"${payload}"}}`,
    dtmf: (digit) => JSON.stringify({ event: 'dtmf', sequence_number: next(), stream_id: streamId, dtmf: { digit } }),
    mark: (name) => JSON.stringify({ event: 'mark', sequence_number: next(), stream_id: streamId, mark: { name } }),
    stop: () => JSON.stringify({ event: 'stop', sequence_number: next(), stream_id: streamId, stop: {} }),
  };
}
