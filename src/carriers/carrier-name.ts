/**
 * The carriers whose media streams and webhooks the gateway speaks: the one list of their names.
 * What is keyed by carrier (the descriptors in ./descriptors.ts, the route table in
 * http/routes/carriers.ts, the API's `transport` field, `--transport` of the CLI, the simulator and
 * the load driver) is typed by it, so a name added here makes the type checker point at every table
 * that still lacks it.
 */
import type { TransportName } from '../calls/call-types.js';
import type { MediaTransport } from '../calls/stream-grant.js';

export const CARRIER_NAMES = ['twilio', 'telnyx'] as const;

export type CarrierName = (typeof CARRIER_NAMES)[number];

export function isCarrierName(value: unknown): value is CarrierName {
  return typeof value === 'string' && (CARRIER_NAMES as readonly string[]).includes(value);
}

// calls/ sits below carriers and names the media transports itself (TransportName, MediaTransport):
// these two types stop compiling when those unions and the list above disagree.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Holds<T extends true> = T;
export type CarrierNamesMatchGrants = Holds<Same<CarrierName, MediaTransport>>;
export type CarrierNamesMatchTransports = Holds<Same<CarrierName, Exclude<TransportName, 'webrtc'>>>;
