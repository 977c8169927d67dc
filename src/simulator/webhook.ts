/**
 * The carrier's first step: POST the voice webhook (signed like the carrier signs it) and read the
 * stream URL and parameters out of the TwiML / TeXML answer.
 */
import type { CarrierName } from '../carriers/carrier-name.js';
import { CARRIERS } from '../carriers/descriptors.js';
import type { WireCodec } from '../pipeline/frame.js';

export interface StreamTarget {
  url: string;
  parameters: Record<string, string>;
  /** Every attribute of the <Stream> (codec, bidirectionalMode, bidirectionalCodec, ...). */
  attributes: Record<string, string>;
  /**
   * What the carrier expects back: TeXML `bidirectionalCodec` (Telnyx's default is PCMU:
   * https://developers.telnyx.com/docs/voice/programmable-voice/texml-verbs/stream); Twilio <Connect>
   * audio is always mu-law.
   */
  egressCodec: Exclude<WireCodec, 'pcm16'>;
}

const TEXML_CODECS: Record<string, Exclude<WireCodec, 'pcm16'>> = { PCMU: 'mulaw', PCMA: 'alaw', L16: 'l16' };

export interface WebhookOptions {
  readonly transport: CarrierName;
  /** The gateway's public base URL (what it signs against). */
  readonly baseUrl: string;
  readonly carrierCallId: string;
  readonly from: string;
  readonly to: string;
  readonly twilioAuthToken?: string;
  /** Telnyx Ed25519 secret key (64 bytes), to sign as Telnyx does. */
  readonly telnyxSecretKey?: Uint8Array;
  readonly nowS?: () => number;
  /**
   * Deliver the webhook this many more times, as a carrier does when an answer is slow or lost
   * (Telnyx "retries webhook delivery if your application does not respond within a certain time
   * threshold": https://developers.telnyx.com/docs/voice/programmable-voice/receiving-webhooks).
   * The last answer is the one streamed to.
   */
  readonly retries?: number;
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e]!);
}

export function parseStreamTarget(xml: string): StreamTarget {
  const tag = /<Stream\b([^>]*?)\/?>/.exec(xml);
  const attributes: Record<string, string> = {};
  for (const m of (tag?.[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)) attributes[m[1]] = unescapeXml(m[2]);
  if (!attributes.url) throw new Error(`no <Stream url> in the webhook answer: ${xml.slice(0, 200)}`);
  const parameters: Record<string, string> = {};
  for (const m of xml.matchAll(/<Parameter\b[^>]*\bname="([^"]*)"[^>]*\bvalue="([^"]*)"/g)) {
    parameters[unescapeXml(m[1])] = unescapeXml(m[2]);
  }
  const egressCodec = TEXML_CODECS[attributes.bidirectionalCodec ?? 'PCMU'] ?? 'mulaw';
  return { url: attributes.url, parameters, attributes, egressCodec };
}

export async function callWebhook(opts: WebhookOptions): Promise<StreamTarget> {
  const carrier = CARRIERS[opts.transport];
  const path = carrier.paths.voice;
  const url = opts.baseUrl.replace(/\/+$/, '') + path;
  const params: Record<string, string> = {
    CallSid: opts.carrierCallId,
    AccountSid: carrier.network.accountSid,
    From: opts.from,
    To: opts.to,
    CallStatus: 'ringing',
    Direction: 'inbound',
  };
  const body = new URLSearchParams(params).toString();
  const nowS = Math.floor(opts.nowS?.() ?? Date.now() / 1000);
  let target: StreamTarget | undefined;
  for (let attempt = 0; attempt <= (opts.retries ?? 0); attempt++) {
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      // Signed as the carrier signs each delivery (src/carriers/<name>/index.ts).
      ...carrier.network.signWebhook(opts, { url, params, body, nowS, attempt }),
    };
    const res = await fetch(url, { method: 'POST', headers, body });
    const text = await res.text();
    if (!res.ok) throw new Error(`webhook ${path} answered ${String(res.status)}: ${text.slice(0, 300)}`);
    target = parseStreamTarget(text);
  }
  return target!;
}
