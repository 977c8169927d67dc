/**
 * What Telnyx sends on a media streaming WebSocket (every message with stream_id and sequence_number),
 * shaped as https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket
 * documents it: the mirror of ./protocol.ts, for the simulator, the load driver and the tests.
 */
import type { WireCodec } from '../../pipeline/frame.js';
import type { NetworkMessages } from '../network-messages.js';

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
