/**
 * Twilio request validation through the official `twilio` package's own helpers (twilio-node 6,
 * lib/webhooks/webhooks.js: getExpectedTwilioSignature, validateRequest, validateBody), which Twilio
 * asks for rather than a custom implementation (error 57012, https://www.twilio.com/docs/api/errors/57012).
 * Only that module is imported: the whole SDK is the REST client's (rest-client.ts), loaded when calls
 * are placed.
 *
 * - X-Twilio-Signature is base64(HMAC(secret, url + each param's name and value, params sorted by
 *   name)); a name given several times contributes each distinct value, sorted. The SDK tries the URL
 *   as received with and without its default port, then as `new URL()` normalises it.
 * - The secret is the auth token (HMAC-SHA1), unless a Webhook Rule signs with a SharedKey: then
 *   X-Twilio-Webhooks-Signature-Settings names the algorithm (`key=...,algorithm=HMAC_SHA256`) and the
 *   SharedKey's secret signs (https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys).
 * - JSON bodies: the URL carries `bodySHA256` (hex SHA-256 of the raw body); the signature covers the
 *   URL alone and the body must match the hash. A JSON body without `bodySHA256` is refused, as
 *   validateRequestWithBody refuses it (it compares the body's hash with an empty string).
 *
 * Several secrets of each kind may be valid at once, so a token or key can be rotated without
 * dropping calls.
 */
import { createRequire } from 'node:module';
import type * as TwilioWebhooks from 'twilio/lib/webhooks/webhooks.js';

// CommonJS inside the twilio package (no `exports` map): required directly, about 8 ms, no network.
const webhooks = createRequire(import.meta.url)('twilio/lib/webhooks/webhooks.js') as typeof TwilioWebhooks;

/** Form parameters; a name sent more than once keeps all its values. */
export type TwilioParams = Record<string, string | readonly string[]>;

/** The signature Twilio sends for `url` and `params` (HMAC-SHA1 with an auth token unless `algorithm` says otherwise). */
export function twilioSignature(secret: string, url: string, params: TwilioParams = {}, algorithm?: string): string {
  return webhooks.getExpectedTwilioSignature(secret, url, params, algorithm);
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

export type TwilioVerdict = { ok: true } | { ok: false; reason: 'missing' | 'mismatch' | 'body_hash' | 'no_secret' | 'algorithm' };

/** The algorithms the SDK signs with; anything else is refused here, before the SDK would warn on the console. */
const ALGORITHMS: ReadonlySet<string> = new Set([webhooks.HMAC_SHA1, webhooks.HMAC_SHA256]);

export function verifyTwilioRequest(opts: {
  /** Auth tokens (current, previous): the secrets of requests without a signature-settings header. */
  tokens: readonly string[];
  /** SharedKey secrets (current, previous): the secrets of requests with one. */
  sharedKeySecrets?: readonly string[];
  signature: string | undefined;
  /** X-Twilio-Webhooks-Signature-Settings, when Twilio sent it. */
  signatureSettings?: string;
  url: string;
  /** Form params for x-www-form-urlencoded bodies. */
  params?: TwilioParams;
  /** A JSON body: checked against the URL's bodySHA256, which it must carry. */
  json?: boolean;
  /** Raw body, checked against the bodySHA256 query parameter. */
  rawBody?: string;
}): TwilioVerdict {
  if (!opts.signature) return { ok: false, reason: 'missing' };
  const shared = opts.signatureSettings !== undefined && opts.signatureSettings !== '';
  const secrets = shared ? (opts.sharedKeySecrets ?? []) : opts.tokens;
  // Signed with a SharedKey we were not given (or, with only SharedKeys configured, with the auth token).
  if (secrets.length === 0) return { ok: false, reason: 'no_secret' };
  const algorithm = webhooks.getSignatureAlgorithm(opts.signatureSettings);
  if (!ALGORITHMS.has(algorithm.toUpperCase())) return { ok: false, reason: 'algorithm' };
  let bodyHash: string | null;
  try {
    bodyHash = new URL(opts.url).searchParams.get('bodySHA256');
  } catch {
    return { ok: false, reason: 'mismatch' };
  }
  // With bodySHA256 in the URL the params are not signed (validateRequestWithBody: params = {}).
  const withBody = bodyHash !== null || opts.json === true;
  const params = withBody ? {} : (opts.params ?? {});
  const signature = opts.signature;
  if (!secrets.some((secret) => webhooks.validateRequest(secret, signature, opts.url, params, algorithm))) return { ok: false, reason: 'mismatch' };
  if (withBody && !webhooks.validateBody(opts.rawBody ?? '', bodyHash ?? '')) return { ok: false, reason: 'body_hash' };
  return { ok: true };
}

/** Request headers as node gives them. */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** Where Twilio puts its signature, on webhooks and on the media WebSocket's handshake alike. */
export const TWILIO_SIGNATURE_HEADER = 'x-twilio-signature';
/** Present when a Webhook Rule signs with a SharedKey: names the key and the algorithm. */
export const TWILIO_SIGNATURE_SETTINGS_HEADER = 'x-twilio-webhooks-signature-settings';

function header(headers: RequestHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * A request as it reached us, checked the way Twilio signs it: the signature header (and the
 * signature-settings header, if any), the URL Twilio used, and a body (when there is one) signed as
 * form parameters (every value of a repeated name; a parsed body keeps only the last) or, for a JSON
 * content type, through the URL's bodySHA256. With no auth token and no SharedKey secret configured
 * nothing is checked.
 */
export function verifyTwilioWebhook(
  secrets: { readonly tokens: readonly string[]; readonly sharedKeySecrets?: readonly string[] },
  request: { readonly headers: RequestHeaders; readonly url: string; readonly body?: { readonly contentType: string | undefined; readonly raw: string | undefined } },
): TwilioVerdict {
  if (secrets.tokens.length === 0 && (secrets.sharedKeySecrets?.length ?? 0) === 0) return { ok: true };
  const json = request.body ? (request.body.contentType ?? '').includes('json') : undefined;
  return verifyTwilioRequest({
    tokens: secrets.tokens,
    sharedKeySecrets: secrets.sharedKeySecrets,
    signature: header(request.headers, TWILIO_SIGNATURE_HEADER),
    signatureSettings: header(request.headers, TWILIO_SIGNATURE_SETTINGS_HEADER),
    url: request.url,
    params: request.body && !json ? twilioFormParams(request.body.raw ?? '') : undefined,
    json,
    rawBody: request.body?.raw,
  });
}
