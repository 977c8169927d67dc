/** Telnyx as the gateway sees it (../descriptor.ts); everything else about Telnyx is in this folder. */
import type { CarrierDescriptor } from '../descriptor.js';
import { TELNYX_MEDIA_PATH } from './media-stream.js';
import { telnyxMessages } from './network-messages.js';
import { TelnyxProtocol } from './protocol.js';

export const telnyxCarrier: CarrierDescriptor<'telnyx'> = {
  name: 'telnyx',
  mediaPath: TELNYX_MEDIA_PATH,
  protocol: () => new TelnyxProtocol(),
  network: {
    // Call Control ids are v3: followed by an opaque string.
    callId: (hex) => `v3:${hex}`,
    messages: (unique) => telnyxMessages(unique),
  },
};
