/** Offer checks and answer rewriting on SDP text, no peer connection. */
import { describe, expect, it } from 'vitest';
import { checkOffer, withOpusFmtp } from '../../src/transports/webrtc/sdp.js';

const OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=fingerprint:sha-256 AB:CD',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0',
  'c=IN IP4 0.0.0.0',
  'a=mid:0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:0123456789abcdef012345',
  'a=candidate:1 1 udp 2122260223 192.0.2.10 50000 typ host',
  'a=sendrecv',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');

describe('checkOffer', () => {
  it('accepts a browser-shaped audio offer (session-level fingerprint, CRLF) and finds Opus', () => {
    expect(checkOffer(OFFER)).toEqual({ opusPayloadType: 111, candidates: 1 });
    expect(checkOffer(OFFER.replaceAll('\r\n', '\n')).opusPayloadType).toBe(111);
  });

  it.each([
    ['Opus not on the m= line', OFFER.replace('SAVPF 111 0', 'SAVPF 0'), 'not listed on the m=audio line'],
    ['audio port 0', OFFER.replace('m=audio 9', 'm=audio 0'), 'disabled'],
    ['inactive', OFFER.replace('a=sendrecv', 'a=inactive'), 'inactive'],
    ['no ICE password', OFFER.replace(/a=ice-pwd:.*\r\n/, ''), 'no ICE credentials'],
    [
      'more candidates than a session takes',
      OFFER.replace(/(a=candidate:[^\r]*\r\n)/, (c: string) => Array.from({ length: 65 }, (_, i) => c.replace('candidate:', `candidate:${String(i)}`)).join('')),
      '65 ICE candidates',
    ],
  ])('refuses %s', (_name, sdp, reason) => {
    expect(() => checkOffer(sdp)).toThrow(expect.objectContaining({ code: 'GW_ERR_TRANSPORT_BAD_SDP', message: expect.stringContaining(reason) }));
  });
});

describe('withOpusFmtp', () => {
  it('replaces the echoed fmtp of the Opus payload type only', () => {
    const out = withOpusFmtp(OFFER.replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:0 PCMU/8000\r\na=fmtp:0 x=1'), 111, 'maxplaybackrate=16000');
    expect(out).toContain('a=rtpmap:111 opus/48000/2\r\na=fmtp:111 maxplaybackrate=16000\r\n');
    expect(out).not.toContain('useinbandfec');
    expect(out).toContain('a=fmtp:0 x=1');
    expect(out.split('a=fmtp:111').length).toBe(2);
  });

  it('adds one where there was none, and leaves SDP without that payload type alone', () => {
    const bare = OFFER.replace(/a=fmtp:111 .*\r\n/, '');
    expect(withOpusFmtp(bare, 111, 'a=1')).toContain('opus/48000/2\r\na=fmtp:111 a=1\r\n');
    expect(withOpusFmtp(bare, 96, 'a=1')).toBe(bare);
  });
});
