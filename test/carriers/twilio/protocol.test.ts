import { describe, expect, it } from 'vitest';
import { TwilioProtocol } from '../../../src/carriers/twilio/protocol.js';
import type { StartEvent } from '../../../src/transports/media-events.js';

const payload = Buffer.from(Uint8Array.from({ length: 160 }, (_, i) => i)).toString('base64');

describe('Twilio media protocol', () => {
  const start = {
    event: 'start',
    sequenceNumber: '1',
    streamSid: 'MZ1',
    start: {
      streamSid: 'MZ1',
      accountSid: 'AC1',
      callSid: 'CA1',
      tracks: ['inbound'],
      customParameters: { token: 'tok' },
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
    },
  };

  it('parses the inbound events', () => {
    const p = new TwilioProtocol();
    expect(p.parse(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }))).toEqual({ type: 'connected' });
    expect(p.parse(JSON.stringify(start))).toEqual({
      type: 'start',
      carrierCallId: 'CA1',
      streamId: 'MZ1',
      format: { codec: 'mulaw', sampleRate: 8000 },
      customParameters: { token: 'tok' },
    });
    const media = p.parse(JSON.stringify({ event: 'media', streamSid: 'MZ1', sequenceNumber: '2', media: { track: 'inbound', chunk: '1', timestamp: '20', payload } }));
    expect(media.type).toBe('media');
    if (media.type === 'media') {
      expect(media.payload.length).toBe(160);
      expect(media.payload[5]).toBe(5);
      expect(media.timestampMs).toBe(20);
    }
    expect(p.parse(JSON.stringify({ event: 'dtmf', streamSid: 'MZ1', dtmf: { track: 'inbound_track', digit: '5' } }))).toEqual({ type: 'dtmf', digit: '5' });
    expect(p.parse(JSON.stringify({ event: 'mark', streamSid: 'MZ1', mark: { name: 'm1' } }))).toEqual({ type: 'mark', name: 'm1' });
    expect(p.parse(JSON.stringify({ event: 'stop', streamSid: 'MZ1', stop: { callSid: 'CA1' } }))).toEqual({ type: 'stop' });
  });

  it('builds outbound messages with the streamSid of the accepted start', () => {
    const p = new TwilioProtocol();
    p.started(p.parse(JSON.stringify(start)) as StartEvent);
    expect(JSON.parse(p.media(Uint8Array.of(1, 2, 3)))).toEqual({ event: 'media', streamSid: 'MZ1', media: { payload: 'AQID' } });
    expect(JSON.parse(p.mark('end:1'))).toEqual({ event: 'mark', streamSid: 'MZ1', mark: { name: 'end:1' } });
    expect(JSON.parse(p.clear())).toEqual({ event: 'clear', streamSid: 'MZ1' });
  });

  it.each([
    ['malformed JSON', '{"event":', 'GW_ERR_TRANSPORT_BAD_JSON'],
    ['a JSON array', '[1,2]', 'GW_ERR_TRANSPORT_BAD_JSON'],
    ['bad base64', JSON.stringify({ event: 'media', media: { payload: 'not base64!!' } }), 'GW_ERR_TRANSPORT_BAD_BASE64'],
    ['base64 with junk inside', JSON.stringify({ event: 'media', media: { payload: `${payload.slice(0, 8)}*${payload.slice(9)}` } }), 'GW_ERR_TRANSPORT_BAD_BASE64'],
    ['empty payload', JSON.stringify({ event: 'media', media: { payload: '' } }), 'GW_ERR_TRANSPORT_BAD_BASE64'],
    ['media without media', JSON.stringify({ event: 'media' }), 'GW_ERR_TRANSPORT_BAD_MESSAGE'],
    ['an unknown event', JSON.stringify({ event: 'teleport' }), 'GW_ERR_TRANSPORT_UNKNOWN_EVENT'],
    ['a start without callSid', JSON.stringify({ event: 'start', streamSid: 'MZ', start: { streamSid: 'MZ' } }), 'GW_ERR_TRANSPORT_BAD_MESSAGE'],
    ['media on a track Twilio does not name', JSON.stringify({ event: 'media', media: { track: 'sideways', payload } }), 'GW_ERR_TRANSPORT_BAD_MESSAGE'],
  ])('rejects %s with a typed error', (_name, text, code) => {
    expect(() => new TwilioProtocol().parse(text)).toThrow(expect.objectContaining({ code }));
  });

  it('reports a start in another codec as a refusal, for the socket to refuse after the token check', () => {
    const ev = new TwilioProtocol().parse(JSON.stringify({ ...start, start: { ...start.start, mediaFormat: { encoding: 'audio/opus', sampleRate: 48000 } } }));
    expect(ev).toMatchObject({ type: 'start', format: expect.objectContaining({ code: 'GW_ERR_AUDIO_UNSUPPORTED_CODEC' }) });
  });

  it('parsing changes nothing: a start not accepted leaves outbound messages as they were', () => {
    const p = new TwilioProtocol();
    p.started(p.parse(JSON.stringify(start)) as StartEvent);
    p.parse(JSON.stringify({ ...start, streamSid: 'MZ2', start: { ...start.start, streamSid: 'MZ2' } }));
    expect(JSON.parse(p.clear())).toEqual({ event: 'clear', streamSid: 'MZ1' });
  });

  it('a crafted stream id cannot add or change a field of an outbound message (serialized, not spliced)', () => {
    const p = new TwilioProtocol();
    const crafted = 'MZ1","event":"clear","x":"';
    p.started(p.parse(JSON.stringify({ ...start, streamSid: crafted, start: { ...start.start, streamSid: crafted } })) as StartEvent);
    const media = JSON.parse(p.media(Uint8Array.of(1, 2, 3))) as Record<string, unknown>;
    expect(media).toEqual({ event: 'media', streamSid: crafted, media: { payload: 'AQID' } });
    expect(JSON.parse(p.mark('m'))).toEqual({ event: 'mark', streamSid: crafted, mark: { name: 'm' } });
    expect(JSON.parse(p.clear())).toEqual({ event: 'clear', streamSid: crafted });
  });

  it('ignores the outbound track and reads the chunk number', () => {
    const p = new TwilioProtocol();
    expect(p.parse(JSON.stringify({ event: 'media', media: { track: 'outbound', chunk: '3', payload } }))).toEqual({ type: 'ignored', what: 'outbound_track' });
    expect(p.parse(JSON.stringify({ event: 'media', media: { track: 'inbound', chunk: '7', payload } }))).toMatchObject({ type: 'media', chunk: 7 });
  });
});
