/**
 * Twilio request validation, as the official `twilio` package does it (twilio-node 6,
 * lib/webhooks/webhooks.js: getExpectedTwilioSignature, validateRequest, validateRequestWithBody):
 *
 * - X-Twilio-Signature is base64(HMAC-SHA1(authToken, url + each param's name and value, params
 *   sorted by name)). A name given several times contributes each distinct value, sorted, each as
 *   name + value (toFormUrlEncodedParam).
 * - JSON bodies: the URL carries `bodySHA256` (hex SHA-256 of the raw body); the signature covers
 *   the URL alone and the body must match the hash. A JSON body without `bodySHA256` is refused, as
 *   validateRequestWithBody refuses it (it compares the body's hash with an empty string).
 * - The URL is tried as received with and without its default port (removePort / addPort).
 *
 * Several tokens may be valid at once so an auth token can be rotated without dropping calls.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Form parameters; a name sent more than once keeps all its values. */
export type TwilioParams = Record<string, string | readonly string[]>;

function paramData(name: string, value: string | readonly string[]): string {
  if (typeof value === 'string') return name + value;
  return [...new Set(value)].sort().map((v) => name + v).join('');
}

export function twilioSignature(authToken: string, url: string, params: TwilioParams = {}): string {
  let data = url;
  for (const key of Object.keys(params).sort()) data += paramData(key, params[key]);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

/** A form body as Twilio signs it: every value of a repeated name kept (URLSearchParams order). */
export function twilioFormParams(rawBody: string): TwilioParams {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [k, v] of new URLSearchParams(rawBody)) {
    const had = out[k];
    if (had === undefined) out[k] = v;
    else if (typeof had === 'string') out[k] = [had, v];
    else had.push(v);
  }
  return out;
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
  /** Form params for x-www-form-urlencoded bodies. */
  params?: TwilioParams;
  /** A JSON body: checked against the URL's bodySHA256, which it must carry. */
  json?: boolean;
  /** Raw body, checked against the bodySHA256 query parameter. */
  rawBody?: string;
}): TwilioVerdict {
  if (!opts.signature) return { ok: false, reason: 'missing' };
  const bodyHash = new URL(opts.url, 'http://placeholder').searchParams.get('bodySHA256');
  // With bodySHA256 in the URL the params are not signed (getExpectedTwilioSignature: params = {}).
  const params = bodyHash === null && !opts.json ? (opts.params ?? {}) : {};
  let signed = false;
  for (const token of opts.tokens) {
    for (const variant of urlVariants(opts.url)) {
      if (safeEqual(twilioSignature(token, variant, params), opts.signature)) signed = true;
    }
  }
  if (!signed) return { ok: false, reason: 'mismatch' };
  if (bodyHash !== null || opts.json) {
    const actual = createHash('sha256').update(opts.rawBody ?? '', 'utf8').digest('hex');
    if (!safeEqual(actual, bodyHash ?? '')) return { ok: false, reason: 'body_hash' };
  }
  return { ok: true };
}

/** Request headers as node gives them. */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** Where Twilio puts its signature, on webhooks and on the media WebSocket's handshake alike. */
export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';

/**
 * A request as it reached us, checked the way Twilio signs it: the signature header, the URL Twilio
 * used, and a body (when there is one) signed as form parameters (every value of a repeated name; a
 * parsed body keeps only the last) or, for a JSON content type, through the URL's bodySHA256. With
 * no token configured nothing is checked.
 */
export function verifyTwilioWebhook(
  tokens: readonly string[],
  request: { readonly headers: RequestHeaders; readonly url: string; readonly body?: { readonly contentType: string | undefined; readonly raw: string | undefined } },
): TwilioVerdict {
  if (tokens.length === 0) return { ok: true };
  const header = request.headers[TWILIO_SIGNATURE_HEADER];
  const json = request.body ? (request.body.contentType ?? '').includes('json') : undefined;
  return verifyTwilioRequest({
    tokens,
    signature: Array.isArray(header) ? header[0] : header,
    url: request.url,
    params: request.body && !json ? twilioFormParams(request.body.raw ?? '') : undefined,
    json,
    rawBody: request.body?.raw,
  });
}
