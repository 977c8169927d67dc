/** Twilio as the gateway sees it (../descriptor.ts); everything else about Twilio is in this folder. */
import type { CarrierDescriptor } from '../descriptor.js';
import { TWILIO_MEDIA_PATH } from './media-stream.js';
import { twilioMessages } from './network-messages.js';
import { TwilioProtocol } from './protocol.js';

export const twilioCarrier: CarrierDescriptor<'twilio'> = {
  name: 'twilio',
  mediaPath: TWILIO_MEDIA_PATH,
  protocol: () => new TwilioProtocol(),
  network: {
    callId: (hex) => `CA${hex}`,
    // Twilio stream SIDs are MZ followed by hex digits.
    messages: (unique) => twilioMessages(`MZ${unique.replace(/-/g, '')}`),
  },
};
