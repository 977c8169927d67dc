/**
 * What Twilio sends on a Media Streams WebSocket (connected, start, media, dtmf, mark, stop), shaped as
 * https://www.twilio.com/docs/voice/media-streams/websocket-messages documents it: the mirror of
 * ./protocol.ts, for the simulator, the load driver and the tests.
 */
import type { NetworkMessages } from '../network-messages.js';

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
