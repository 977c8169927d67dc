/** TwiML / TeXML documents that connect a call's media to our WebSocket. */
import type { TelnyxStreamSetup } from '../carriers/telnyx-call-control.js';

function xml(value: string): string {
  return value.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Twilio: no query string in the Stream url; values travel as <Parameter> into start.customParameters. */
export function twilioConnectStream(streamUrl: string, parameters: Record<string, string>): string {
  const params = Object.entries(parameters)
    .map(([name, value]) => `<Parameter name="${xml(name)}" value="${xml(value)}"/>`)
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="${xml(streamUrl)}">${params}</Stream></Connect></Response>`;
}

/**
 * Telnyx TeXML <Stream> (https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/stream):
 * `codec` is what Telnyx streams to us ("when transcoding is not possible, the codec from the call
 * will be used. Currently, transcoding is only supported between PCMU and PCMA"), `bidirectionalMode`
 * rtp lets us speak back, `bidirectionalCodec` is what it expects from us (default PCMU, so it is
 * always written), `bidirectionalSamplingRate` the rate of L16 we send.
 */
export function telnyxConnectStream(setup: TelnyxStreamSetup): string {
  const rate = setup.bidirectionalCodec === 'L16' && setup.bidirectionalSamplingRate ? ` bidirectionalSamplingRate="${String(setup.bidirectionalSamplingRate)}"` : '';
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="${xml(setup.streamUrl)}" codec="${xml(setup.codec)}" bidirectionalMode="rtp" bidirectionalCodec="${xml(setup.bidirectionalCodec)}"${rate}/></Connect></Response>`;
}
