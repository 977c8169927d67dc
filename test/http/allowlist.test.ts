import { describe, expect, it } from 'vitest';
import { CidrAllowlist } from '../../src/http/security/allowlist.js';

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
