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

/** What fastify's `trustProxy` option is given: its own mechanism (proxy-addr) does the walking. */
export type TrustProxyOption = false | string[] | ((address: string, hop: number) => boolean);

/** The proxies `TRUST_PROXY=true` trusts: ones on this host, never an arbitrary peer. */
export const LOOPBACK_PROXIES = ['loopback'];

/**
 * TRUST_PROXY as fastify's trustProxy. fastify (proxy-addr) walks X-Forwarded-For from the socket
 * towards the client while each address is trusted, and `request.ip` is the first untrusted one: the
 * address the last trusted proxy saw, never an entry the client wrote further left. `true` would make
 * fastify trust every hop (the leftmost, client-chosen entry wins), so it is read as loopback proxies
 * only; a hop count is a function trusting that many hops from the socket (fastify 5 ignores a bare
 * number, failing closed).
 */
export function trustProxyOption(setting: boolean | number | readonly string[]): TrustProxyOption {
  if (setting === false || setting === 0) return false;
  if (setting === true) return [...LOOPBACK_PROXIES];
  if (typeof setting === 'number') {
    const hops = setting;
    return (_address, hop) => hop < hops;
  }
  return setting.length === 0 ? false : [...setting];
}

/** True when the socket's own peer is on loopback (what an "only this host" decision must look at). */
export function isLoopbackAddress(ip: string | undefined): boolean {
  if (ip === undefined) return false;
  try {
    return ipaddr.process(ip).range() === 'loopback';
  } catch {
    return false;
  }
}
