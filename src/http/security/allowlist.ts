/**
 * CIDR allowlists with ipaddr.js. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack
 * socket reports for IPv4 peers) are matched as the IPv4 address they carry.
 */
import ipaddr from 'ipaddr.js';
import { GatewayError } from '../../errors.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

export class CidrAllowlist {
  readonly #ranges: Range[];

  constructor(cidrs: readonly string[], variable = 'allowlist') {
    this.#ranges = cidrs.map((cidr) => {
      try {
        if (cidr.includes('/')) {
          const [addr, bits] = ipaddr.parseCIDR(cidr);
          return [normalise(addr), addr.kind() === 'ipv6' && normalise(addr).kind() === 'ipv4' ? bits - 96 : bits];
        }
        const addr = normalise(ipaddr.parse(cidr));
        return [addr, addr.kind() === 'ipv4' ? 32 : 128];
      } catch (err) {
        throw new GatewayError('GW_ERR_CONFIG_INVALID', `${variable} has an invalid CIDR '${cidr}'`, { cause: err });
      }
    });
  }

  get enabled(): boolean {
    return this.#ranges.length > 0;
  }

  allows(ip: string): boolean {
    if (!this.enabled) return true;
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      addr = normalise(ipaddr.parse(ip));
    } catch {
      return false;
    }
    return this.#ranges.some(([range, bits]) => range.kind() === addr.kind() && addr.match(range, bits));
  }
}

function normalise(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()
    ? (addr as ipaddr.IPv6).toIPv4Address()
    : addr;
}
