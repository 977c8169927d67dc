/**
 * JSON.parse for the shape the carriers stream fifty times a second per call: an object whose members
 * are strings, or objects of strings one level down, without escapes (`{"event":"media",
 * "sequenceNumber":"4","media":{"chunk":"3","timestamp":"60","payload":"..."},"streamSid":"MZ..."}`).
 *
 * Why not JSON.parse: V8 internalizes every JSON string value shorter than 10 characters
 * (src/json/json-parser.cc, kMaxInternalizedStringValueLength). A media message's sequence number,
 * chunk and timestamp are new strings each frame, so every frame paid string-table lookups and
 * inserts, in old space: the top userland symbol of the gateway's profile at 100 calls
 * (bench/results/2026-12-07-issue16-session16.md). Here they are plain slices.
 *
 * Anything else (numbers, arrays, escapes, control characters, deeper nesting, whitespace other than
 * spaces between tokens, `__proto__`) gives `undefined` and the caller uses JSON.parse, which also
 * reports the errors. For a text it accepts the result equals JSON.parse's; the tests hold it to that
 * on generated texts.
 */

/** Characters JSON forbids raw inside strings, and the backslash that starts an escape. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NOT_PLAIN = /[\u0000-\u001f\\]/;
const QUOTE = 0x22;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN = 0x7b;
const CLOSE = 0x7d;
const SPACE = 0x20;

export function parseFlatJsonObject(text: string): Record<string, unknown> | undefined {
  const end = text.length;
  if (end < 2 || text.charCodeAt(0) !== OPEN || NOT_PLAIN.test(text)) return undefined;
  const root: Record<string, unknown> = {};
  let obj = root;
  let nested = false;
  let i = skipSpaces(text, 1);
  for (;;) {
    // A member: "key": "value" or (at the top level) "key": { members }.
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    // With no backslash in the text, the next quote closes the string.
    const keyEnd = text.indexOf('"', i + 1);
    if (keyEnd < 0) return undefined;
    const key = keyAt(text, i + 1, keyEnd);
    // JSON.parse makes an own property of it; an assignment would set the prototype.
    if (key === '__proto__') return undefined;
    i = skipSpaces(text, keyEnd + 1);
    if (text.charCodeAt(i) !== COLON) return undefined;
    i = skipSpaces(text, i + 1);
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const valueEnd = text.indexOf('"', i + 1);
      if (valueEnd < 0) return undefined;
      obj[key] = text.slice(i + 1, valueEnd);
      i = skipSpaces(text, valueEnd + 1);
    } else if (c === OPEN && !nested) {
      const inner: Record<string, unknown> = {};
      obj[key] = inner;
      obj = inner;
      nested = true;
      i = skipSpaces(text, i + 1);
      continue;
    } else {
      return undefined;
    }
    // After a value: more members, or the end of its object (and maybe of the one around it).
    while (text.charCodeAt(i) === CLOSE) {
      if (!nested) return i === end - 1 ? root : undefined;
      nested = false;
      obj = root;
      i = skipSpaces(text, i + 1);
    }
    if (text.charCodeAt(i) !== COMMA) return undefined;
    i = skipSpaces(text, i + 1);
  }
}

/**
 * The carriers' media-message keys, as literals: V8 keeps literals internalized, so a property stored
 * under one is found in the inline caches, where a key sliced from the text first costs a string-table
 * lookup (as much as the internalizing this module avoids).
 */
const KNOWN_KEYS = [
  'event', 'media', 'track', 'chunk', 'payload', 'timestamp', 'streamSid', 'stream_id', 'sequenceNumber', 'sequence_number',
] as const;
const KEYS_BY_LENGTH: readonly (readonly string[])[] = (() => {
  const byLength: string[][] = [];
  for (const key of KNOWN_KEYS) (byLength[key.length] ??= []).push(key);
  return byLength;
})();

function keyAt(text: string, start: number, end: number): string {
  const candidates = KEYS_BY_LENGTH[end - start];
  if (candidates) {
    for (const key of candidates) if (text.startsWith(key, start)) return key;
  }
  return text.slice(start, end);
}

function skipSpaces(text: string, i: number): number {
  while (text.charCodeAt(i) === SPACE) i++;
  return i;
}
