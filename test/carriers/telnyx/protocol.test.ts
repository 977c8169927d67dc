import { describe, expect, it } from 'vitest';
import { TelnyxProtocol } from '../../../src/carriers/telnyx/protocol.js';

const payload = Buffer.from(Uint8Array.from({ length: 160 }, (_, i) => i)).toString('base64');

describe('Telnyx media protocol', () => {
  const start = (encoding: string, rate = 8000) =>
    JSON.stringify({
      event: 'start',
      sequence_number: '1',
      stream_id: 'S1',
      start: { call_control_id: 'v3:cc', call_session_id: 's', from: '+1', to: '+2', media_format: { encoding, sample_rate: rate, channels: 1 } },
    });

  it.each([
    ['PCMU', 'mulaw'],
    ['audio/x-mulaw', 'mulaw'],
    ['PCMA', 'alaw'],
    ['audio/x-alaw', 'alaw'],
    ['L16', 'l16'],
  ])('accepts %s', (encoding, codec) => {
    const ev = new TelnyxProtocol().parse(start(encoding));
    expect(ev).toMatchObject({ type: 'start', carrierCallId: 'v3:cc', streamId: 'S1', format: { codec, sampleRate: 8000 } });
  });

  it.each(['G722', 'OPUS', 'AMR-WB'])('reports %s (documented, not decoded here) as a refusal, never as silence', (encoding) => {
    expect(new TelnyxProtocol().parse(start(encoding))).toMatchObject({ type: 'start', format: expect.objectContaining({ code: 'GW_ERR_AUDIO_UNSUPPORTED_CODEC' }) });
  });

  it('reports G.711 at a rate Telnyx does not send as a refusal', () => {
    expect(new TelnyxProtocol().parse(start('PCMU', 16000))).toMatchObject({ format: expect.objectContaining({ code: 'GW_ERR_AUDIO_UNSUPPORTED_RATE' }) });
    expect(new TelnyxProtocol().parse(start('__proto__'))).toMatchObject({ format: expect.objectContaining({ code: 'GW_ERR_AUDIO_UNSUPPORTED_CODEC' }) });
  });

  it.each([
    ['inbound', 'media'],
    ['inbound_track', 'media'],
    ['outbound', 'ignored'],
    ['outbound_track', 'ignored'],
  ])('accepts track %s', (track, type) => {
    const ev = new TelnyxProtocol().parse(JSON.stringify({ event: 'media', sequence_number: '4', stream_id: 'S1', media: { track, chunk: '2', timestamp: '5', payload } }));
    expect(ev.type).toBe(type);
  });

  it('never rejects a message over a field it does not use, and logs an error frame without failing', () => {
    const p = new TelnyxProtocol();
    const ev = p.parse(JSON.stringify({ event: 'media', sequence_number: 'x', stream_id: 7, extra: { any: 1 }, media: { chunk: 'not-a-number', timestamp: null, payload } }));
    expect(ev).toMatchObject({ type: 'media', chunk: undefined, timestampMs: undefined });
    expect(p.parse(JSON.stringify({ event: 'error', sequence_number: '9', stream_id: 'S1', payload: { code: 100003, title: 'malformed_frame', detail: 'x' } }))).toMatchObject({ type: 'ignored', what: 'carrier_error' });
    expect(p.parse(JSON.stringify({ event: 'connected', version: '1.0.0', 'x-telnyx-streaming-auth-token': 'tok' }))).toEqual({ type: 'connected', authToken: 'tok' });
  });

  it('builds outbound messages without a stream id', () => {
    const p = new TelnyxProtocol();
    expect(JSON.parse(p.media(Uint8Array.of(1, 2, 3)))).toEqual({ event: 'media', media: { payload: 'AQID' } });
    expect(JSON.parse(p.clear())).toEqual({ event: 'clear' });
    expect(JSON.parse(p.mark('m'))).toEqual({ event: 'mark', mark: { name: 'm' } });
  });
});
