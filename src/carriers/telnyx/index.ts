/** Telnyx as the gateway sees it (../descriptor.ts); everything else about Telnyx is in this folder. */
import type { CarrierDescriptor } from '../descriptor.js';
import { TELNYX_MEDIA_PATH } from './media-stream.js';
import { telnyxMessages } from './network-messages.js';
import { TelnyxProtocol } from './protocol.js';
import { TELNYX_SIGNATURE_HEADER, TELNYX_TIMESTAMP_HEADER, telnyxSign } from './signature.js';

export const telnyxCarrier: CarrierDescriptor<'telnyx'> = {
  name: 'telnyx',
  // TeXML calls the voice webhook; Call Control events (ours and the calls we place) come to /telnyx/webhook.
  paths: { voice: '/telnyx/texml', status: '/telnyx/webhook', media: TELNYX_MEDIA_PATH },
  protocol: () => new TelnyxProtocol(),
  network: {
    // Call Control ids are v3: followed by an opaque string.
    callId: (hex) => `v3:${hex}`,
    accountSid: 'simulated',
    signWebhook: ({ telnyxSecretKey }, d): Record<string, string> => {
      if (!telnyxSecretKey) return {};
      // Each delivery is signed when it is sent, over its own timestamp and the raw body.
      const ts = String(d.nowS + d.attempt);
      return { [TELNYX_TIMESTAMP_HEADER]: ts, [TELNYX_SIGNATURE_HEADER]: telnyxSign(telnyxSecretKey, ts, d.body) };
    },
    // The media socket is authenticated by the token in its path, not by a signature.
    signHandshake: () => ({}),
    messages: (unique) => telnyxMessages(unique),
  },
};
