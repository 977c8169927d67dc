/**
 * Scrubbing secrets out of text a provider, an SDK or a library produced before it reaches a log or
 * an error message. Error texts from ws and the SDKs can carry the key itself or the URL with the key
 * in its query string (Gemini's `?key=`, an `access_token`).
 */

const REDACTED = '[redacted]';

/** Every occurrence of `secret` replaced (no-op when there is no secret). */
export function redactSecret(text: string, secret: string | undefined): string {
  if (!secret) return text;
  return text.split(secret).join(REDACTED);
}

const KEY_PARAMS = /([?&](?:key|access_token)=)[^&\s]+/g;

/** Credential query parameters (`key=`, `access_token=`) of any URL in the text, whatever their value. */
export function redactKeyParams(text: string): string {
  return text.replace(KEY_PARAMS, `$1${REDACTED}`);
}
