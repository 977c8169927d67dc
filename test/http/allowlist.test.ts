import { afterEach, describe, expect, it } from 'vitest';
import { CidrAllowlist, trustProxyOption } from '../../src/http/security/allowlist.js';
import { injectGateway, type InjectGateway } from '../support/app.js';

describe('CIDR allowlist', () => {
  const list = new CidrAllowlist(['203.0.113.0/24', '2001:db8::/32', '198.51.100.7']);

  it('matches IPv4 ranges and single addresses', () => {
    expect(list.allows('203.0.113.9')).toBe(true);
    expect(list.allows('203.0.114.9')).toBe(false);
    expect(list.allows('198.51.100.7')).toBe(true);
    expect(list.allows('198.51.100.8')).toBe(false);
  });

  it('matches IPv6 ranges', () => {
    expect(list.allows('2001:db8:1::5')).toBe(true);
    expect(list.allows('2001:db9::5')).toBe(false);
  });

  it('matches IPv4-mapped IPv6 addresses as the IPv4 they carry', () => {
    expect(list.allows('::ffff:203.0.113.9')).toBe(true);
    expect(list.allows('::ffff:10.0.0.1')).toBe(false);
    const mappedRange = new CidrAllowlist(['::ffff:192.0.2.0/120']);
    expect(mappedRange.allows('192.0.2.77')).toBe(true);
    expect(mappedRange.allows('192.0.3.77')).toBe(false);
  });

  it('rejects garbage addresses and allows everything when empty', () => {
    expect(list.allows('not-an-ip')).toBe(false);
    expect(new CidrAllowlist([]).allows('1.2.3.4')).toBe(true);
  });

  it('refuses an invalid CIDR at start-up, naming the variable', () => {
    expect(() => new CidrAllowlist(['10.0.0.0/33'], 'TWILIO_ALLOWED_CIDRS')).toThrow(/TWILIO_ALLOWED_CIDRS/);
  });
});

describe('TRUST_PROXY: only configured proxies count (issue 19, item 2)', () => {
  let g: InjectGateway | undefined;
  afterEach(async () => {
    await g?.gateway.close(0);
    g = undefined;
  });
  const CALL = 'CallSid=CA123&From=%2B15550001111&To=%2B15550002222';
  const post = (remoteAddress: string, xff?: string) =>
    g!.gateway.app.inject({
      method: 'POST',
      url: '/twilio/voice',
      remoteAddress,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(xff ? { 'x-forwarded-for': xff } : {}) },
      payload: CALL,
    });

  it('a spoofed 10.1.2.3 cannot pass a 10.0.0.0/8 allowlist through a trusted proxy', async () => {
    g = await injectGateway({ TWILIO_ALLOWED_CIDRS: '10.0.0.0/8', TRUST_PROXY: '192.0.2.10' });
    // The proxy saw 198.51.100.1; what the client wrote to the left of it is not believed.
    expect((await post('192.0.2.10', '10.1.2.3, 198.51.100.1')).statusCode).toBe(403);
    // A client talking to us directly is not a proxy: its header is ignored.
    expect((await post('198.51.100.1', '10.1.2.3')).statusCode).toBe(403);
    // What the trusted proxy itself saw does count.
    expect((await post('192.0.2.10', '10.1.2.3')).statusCode).toBe(200);
  });

  it('TRUST_PROXY=true trusts loopback proxies only, and takes the rightmost untrusted address', async () => {
    g = await injectGateway({ TWILIO_ALLOWED_CIDRS: '10.0.0.0/8', TRUST_PROXY: 'true' });
    expect((await post('198.51.100.1', '10.1.2.3')).statusCode).toBe(403);
    expect((await post('127.0.0.1', '10.1.2.3, 198.51.100.1')).statusCode).toBe(403);
    expect((await post('127.0.0.1', '198.51.100.1, 10.1.2.3')).statusCode).toBe(200);
  });

  it('a hop count trusts exactly that many proxies', async () => {
    g = await injectGateway({ TWILIO_ALLOWED_CIDRS: '10.0.0.0/8', TRUST_PROXY: '2' });
    // socket <- proxy B (trusted hop 0) <- proxy A (trusted hop 1) <- client
    expect((await post('192.0.2.20', '10.1.2.3, 192.0.2.10')).statusCode).toBe(200);
    expect((await post('192.0.2.20', '10.1.2.3, 198.51.100.1, 192.0.2.10')).statusCode).toBe(403);
    g = (await g.gateway.close(0), await injectGateway({ TWILIO_ALLOWED_CIDRS: '10.0.0.0/8', TRUST_PROXY: '1' }));
    expect((await post('192.0.2.20', '10.1.2.3, 198.51.100.1')).statusCode).toBe(403);
    expect((await post('192.0.2.20', '198.51.100.1, 10.1.2.3')).statusCode).toBe(200);
  });

  it('trustProxyOption never hands fastify a trust-everything setting', () => {
    expect(trustProxyOption(false)).toBe(false);
    expect(trustProxyOption(true)).toEqual(['loopback']);
    const hops = trustProxyOption(2) as (a: string, i: number) => boolean;
    expect([0, 1, 2].map((i) => hops('x', i))).toEqual([true, true, false]);
    expect(trustProxyOption(['10.0.0.1'])).toEqual(['10.0.0.1']);
  });
});
