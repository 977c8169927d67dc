import { describe, expect, it } from 'vitest';
import { parseFlatJsonObject } from '../../src/transports/flat-json.js';
import { parseJsonObject } from '../../src/transports/wire.js';
import { twilioMessages } from '../../src/carriers/twilio/network-messages.js';
import { telnyxMessages } from '../../src/carriers/telnyx/network-messages.js';
// Seeded: the same texts on every run, so a failure names a case that comes back.
import { prng as rng } from '../../src/bench/stats.js';

const PAYLOAD = Buffer.from(Uint8Array.from({ length: 160 }, (_, i) => (i * 37) & 0xff)).toString('base64');
const PLAIN_CHARS = ['a', 'Z', '0', '9', ' ', '+', '/', '=', '{', '}', ':', ',', '[', 'é', '\u2028', '\ud83d', '\u007f'];
/** Escaped by JSON.stringify: a string with one is outside the fast path. */
const ESCAPED_CHARS = ['"', '\\', '\n', '\t', '\u0001'];
const MUTATION_CHARS = ['{', '}', '[', ']', '"', ':', ',', ' ', '\\', '\t', '\n', '0', '1', '-', '.', 'e', 'a', 't', 'r', 'u', 'n', 'l'];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function randomString(r: () => number, max: number): string {
  let s = '';
  const n = Math.floor(r() * max);
  for (let i = 0; i < n; i++) s += r() < 0.02 ? pick(r, ESCAPED_CHARS) : pick(r, PLAIN_CHARS);
  return s;
}

/** An object of the flat shape (strings, one level of nested objects), sometimes with other values. */
function randomObject(r: () => number, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const n = Math.floor(r() * 6) + (depth === 0 ? 1 : 0);
  for (let i = 0; i < n; i++) {
    const key = r() < 0.2 ? pick(r, ['event', 'media', 'payload', '0', '', 'a b', 'constructor']) : randomString(r, 8);
    const kind = r();
    if (kind < 0.75) out[key] = r() < 0.3 ? PAYLOAD : randomString(r, 12);
    else if (kind < 0.95 && depth < 2) out[key] = randomObject(r, depth + 1);
    else out[key] = pick(r, [1, true, null, ['x'], -2.5]);
  }
  return out;
}

/** JSON.stringify's text with spaces (and now and then other whitespace) after some tokens. */
function spaced(r: () => number, text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    out += c;
    if (c === '"' && text[i - 1] !== '\\') inString = !inString;
    if (!inString && (c === ':' || c === ',' || c === '{') && r() < 0.3) out += r() < 0.9 ? ' ' : '\n';
  }
  return out;
}

function mutate(r: () => number, text: string): string {
  const chars = [...text];
  const edits = 1 + Math.floor(r() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * (chars.length + 1));
    const op = r();
    if (op < 0.33) chars.splice(at, 0, pick(r, MUTATION_CHARS));
    else if (op < 0.66) chars.splice(at, 1);
    else chars[at] = pick(r, MUTATION_CHARS);
  }
  return chars.join('');
}

function jsonParse(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** The fast path either declines or gives what JSON.parse gives: same values, same key order, plain objects. */
function expectAgreement(text: string): 'taken' | 'declined' {
  const flat = parseFlatJsonObject(text);
  if (flat === undefined) return 'declined';
  const reference = jsonParse(text);
  expect(reference.ok, `accepted what JSON.parse rejects: ${JSON.stringify(text)}`).toBe(true);
  if (!reference.ok) return 'taken';
  // A tree of plain objects and strings: its JSON text says values and key order; prototypes apart.
  expect(JSON.stringify(flat), JSON.stringify(text)).toBe(JSON.stringify(reference.value));
  expect(plainObjects(flat)).toBe(true);
  return 'taken';
}

describe('parseFlatJsonObject', () => {
  it("takes the carriers' media messages as their simulators send them", () => {
    const twilio = twilioMessages('MZ18ad3ab5a668481ce02b83e7395059f0').media(PAYLOAD, 40, 3);
    const telnyx = telnyxMessages('32de0dea-53cb-4b21-89a4-9e1819c043bc').media(PAYLOAD, 40, 3);
    for (const text of [twilio, telnyx]) {
      expect(expectAgreement(text)).toBe('taken');
      const msg = parseFlatJsonObject(text);
      expect(msg?.event).toBe('media');
      expect(msg?.media).toEqual({ track: 'inbound', chunk: '3', timestamp: '40', payload: PAYLOAD });
    }
  });

  it("takes Twilio's documented media example with spaces between the tokens", () => {
    // https://www.twilio.com/docs/voice/media-streams/websocket-messages#media-message, on one line.
    const text = '{ "event": "media", "sequenceNumber": "3", "media": { "track": "outbound", "chunk": "1", "timestamp": "5", "payload": "no+JhoaJjpzSHxAKBgYJ" }, "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0" }';
    expect(expectAgreement(text)).toBe('taken');
  });

  it('declines what it does not cover, and JSON.parse decides', () => {
    for (const text of [
      '{"event":"media","n":1}',
      '{"a":"\\u0041"}',
      '{"a":["x"]}',
      '{"a":{"b":{"c":"d"}}}',
      // Missing a brace: closing the deepest object must not land at the top level.
      '{"a":{"b":{"c":"d"},"e":"f"}',
      '{"a":"b",}',
      '{"a":"b"}}',
      '{"a":{"b":"c"}',
      '{"a":"b"} ',
      ' {"a":"b"}',
      '{\n"a":"b"}',
      '{"a":"tab\there"}',
      '{}',
      '{"a":{}}',
      '{"__proto__":"x"}',
      '{"a" "b"}',
      '{"a":"b"',
      '{"a":"b',
      '',
    ]) {
      expect(parseFlatJsonObject(text), text).toBeUndefined();
    }
  });

  it('leaves __proto__ to JSON.parse, which makes it an own property', () => {
    const msg = parseJsonObject('{"__proto__":"x","event":"media"}');
    expect(Object.getPrototypeOf(msg)).toBe(Object.prototype);
    expect(Object.keys(msg)).toEqual(['__proto__', 'event']);
  });

  it('agrees with JSON.parse on generated objects, and takes every one of the flat shape', () => {
    const r = rng(16);
    let taken = 0;
    for (let n = 0; n < 3000; n++) {
      const obj = randomObject(r);
      const compact = JSON.stringify(obj);
      const text = r() < 0.5 ? compact : spaced(r, compact);
      const outcome = expectAgreement(text);
      if (outcome === 'taken') taken++;
      // Strings without escapes or control characters, one level of objects, spaces only: always taken.
      // eslint-disable-next-line no-control-regex -- control characters put a text outside the fast path
      const flatShape = /^[^\\\u0000-\u001f]*$/.test(text) && !/[[\]]|:[-\dtfn]|: [-\dtfn]|\{\s*\}|"__proto__"/.test(text) && depthOf(obj) <= 2;
      if (flatShape) expect(outcome, text).toBe('taken');
    }
    expect(taken, `${String(taken)} taken`).toBeGreaterThan(300);
  });

  it('never accepts what JSON.parse rejects, nor disagrees, on mutated texts', () => {
    const r = rng(61);
    let rejected = 0;
    for (let n = 0; n < 20000; n++) {
      const base = r() < 0.5 ? twilioMessages('MZ1').media(PAYLOAD.slice(0, 8), n, n) : JSON.stringify(randomObject(r));
      const text = mutate(r, base);
      if (!jsonParse(text).ok) rejected++;
      expectAgreement(text);
    }
    expect(rejected).toBeGreaterThan(5000);
  });
});

function plainObjects(value: unknown): boolean {
  if (typeof value === 'string') return true;
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.values(value as Record<string, unknown>).every(plainObjects);
}

function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 0;
  const values = Object.values(value as Record<string, unknown>);
  return 1 + (values.length === 0 ? 0 : Math.max(...values.map(depthOf)));
}
