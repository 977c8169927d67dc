/** TwiML / TeXML documents that connect a call's media to our WebSocket. */

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

/** Telnyx TeXML: bidirectional RTP mode so we can speak back in the call's codec. */
export function telnyxConnectStream(streamUrl: string, codec: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="${xml(streamUrl)}" bidirectionalMode="rtp" bidirectionalCodec="${xml(codec)}"/></Connect></Response>`;
}
