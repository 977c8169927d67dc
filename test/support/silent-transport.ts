/** A Twilio-shaped call transport that sends nowhere: for a Call driven by hand (tests, benches). */
import type { CallTransport } from '../../src/calls/call.js';

export function silentTwilioTransport(): CallTransport {
  return {
    name: 'twilio',
    format: { codec: 'mulaw', sampleRate: 8000 },
    sendMedia: () => undefined,
    sendMark: () => undefined,
    sendClear: () => undefined,
    close: () => undefined,
  };
}
