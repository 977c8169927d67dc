/**
 * The carriers the gateway speaks, by name: the one place a new carrier's descriptor is added. Typed
 * by CARRIER_NAMES (./carrier-name.ts), so a name without a descriptor does not compile.
 */
import type { CarrierDescriptor } from './descriptor.js';
import { CARRIER_NAMES, type CarrierName } from './carrier-name.js';
import { telnyxCarrier } from './telnyx/index.js';
import { twilioCarrier } from './twilio/index.js';

export const CARRIERS: { readonly [N in CarrierName]: CarrierDescriptor<N> } = {
  twilio: twilioCarrier,
  telnyx: telnyxCarrier,
};

/** The descriptors in CARRIER_NAMES order. */
export const CARRIER_LIST: readonly CarrierDescriptor[] = CARRIER_NAMES.map((name) => CARRIERS[name]);
