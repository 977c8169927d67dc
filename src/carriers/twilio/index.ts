/** Twilio as the gateway sees it (../descriptor.ts); everything else about Twilio is in this folder. */
import type { CarrierDescriptor } from '../descriptor.js';
import { TWILIO_MEDIA_PATH } from './media-stream.js';
import { twilioMessages } from './network-messages.js';
import { TwilioProtocol } from './protocol.js';
import { TWILIO_SIGNATURE_HEADER, twilioSignature } from './signature.js';

export const twilioCarrier: CarrierDescriptor<'twilio'> = {
  name: 'twilio',
  paths: { voice: '/twilio/voice', status: '/twilio/status', media: TWILIO_MEDIA_PATH },
  protocol: () => new TwilioProtocol(),
  network: {
    callId: (hex) => `CA${hex}`,
    accountSid: 'AC00000000000000000000000000000000',
    // Twilio signs the URL and the form parameters, the same on every retry.
    signWebhook: ({ twilioAuthToken }, d): Record<string, string> => (twilioAuthToken ? { [TWILIO_SIGNATURE_HEADER]: twilioSignature(twilioAuthToken, d.url, d.params) } : {}),
    // The media handshake is signed over the wss:// URL without its query.
    signHandshake: ({ twilioAuthToken }, url): Record<string, string> => (twilioAuthToken ? { [TWILIO_SIGNATURE_HEADER]: twilioSignature(twilioAuthToken, url.split('?')[0]) } : {}),
    // Twilio stream SIDs are MZ followed by hex digits.
    messages: (unique) => twilioMessages(`MZ${unique.replace(/-/g, '')}`),
  },
};
