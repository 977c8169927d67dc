/**
 * Twilio request validation: X-Twilio-Signature is base64(HMAC-SHA1(authToken, url + sorted params)).
 * JSON bodies carry a `bodySHA256` query parameter (hex SHA-256 of the raw body) instead of form
 * params; the signature then covers the URL alone and the body hash is checked on its own.
 * Several tokens may be valid at once so an auth token can be rotated without dropping calls.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export function twilioSignature(authToken: string, url: string, params: Record<string, string> = {}): string {
  let data = url;
  for (const key of Object.keys(params).sort()) data += key + params[key];
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Twilio signs the URL as it dialled it; proxies and SDKs disagree on whether a default port is
 * written, so both spellings are tried (as Twilio's own helpers do).
 */
function urlVariants(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [url];
  }
  const defaultPort = parsed.protocol === 'https:' || parsed.protocol === 'wss:' ? '443' : '80';
  if (parsed.port === '') {
    // URL normalises a default port away, so splice it in by hand.
    const explicit = url.replace(parsed.host, `${parsed.hostname}:${defaultPort}`);
    return [url, explicit];
  }
  if (parsed.port === defaultPort) return [url, url.replace(`:${defaultPort}`, '')];
  return [url];
}

export type TwilioVerdict = { ok: true } | { ok: false; reason: 'missing' | 'mismatch' | 'body_hash' };

export function verifyTwilioRequest(opts: {
  tokens: readonly string[];
  signature: string | undefined;
  url: string;
  /** Form params for x-www-form-urlencoded bodies; omit for JSON bodies. */
  params?: Record<string, string>;
  /** Raw body, checked against the bodySHA256 query parameter when the URL carries one. */
  rawBody?: string;
}): TwilioVerdict {
  if (!opts.signature) return { ok: false, reason: 'missing' };
  const bodyHash = new URL(opts.url, 'http://placeholder').searchParams.get('bodySHA256');
  const params = bodyHash === null ? (opts.params ?? {}) : {};
  let signed = false;
  for (const token of opts.tokens) {
    for (const variant of urlVariants(opts.url)) {
      if (safeEqual(twilioSignature(token, variant, params), opts.signature)) signed = true;
    }
  }
  if (!signed) return { ok: false, reason: 'mismatch' };
  if (bodyHash !== null) {
    const actual = createHash('sha256').update(opts.rawBody ?? '', 'utf8').digest('hex');
    if (!safeEqual(actual, bodyHash)) return { ok: false, reason: 'body_hash' };
  }
  return { ok: true };
}
