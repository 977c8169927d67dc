/** Helpers shared by the JSON media protocols: strict base64 and field access that names what is wrong. */
import { GatewayError } from '../errors.js';
import { decodeBase64Exact } from '../util/base64.js';
import type { InboundMediaEvent } from './media-events.js';
import { parseFlatJsonObject } from './flat-json.js';
import { chunkNumber } from './media-reorder.js';

// Node's base64 decoder skips characters it does not know; a payload with any is corrupt, not "mostly fine".
export function decodeBase64Strict(text: unknown, what: string): Uint8Array {
  const buf = typeof text === 'string' ? decodeBase64Exact(text) : undefined;
  if (!buf) throw new GatewayError('GW_ERR_TRANSPORT_BAD_BASE64', what);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function parseJsonObject(text: string): Record<string, unknown> {
  // Media messages take the fast path (see flat-json.ts); the rest, and every error, JSON.parse.
  const flat = parseFlatJsonObject(text);
  if (flat) return flat;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new GatewayError('GW_ERR_TRANSPORT_BAD_JSON', (err as Error).message, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new GatewayError('GW_ERR_TRANSPORT_BAD_JSON', 'expected a JSON object');
  }
  return value as Record<string, unknown>;
}

export function objectField(obj: Record<string, unknown>, key: string, context: string): Record<string, unknown> {
  const v = obj[key];
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new GatewayError('GW_ERR_TRANSPORT_BAD_MESSAGE', `${context}: '${key}' must be an object`);
  }
  return v as Record<string, unknown>;
}

export function stringField(obj: Record<string, unknown>, key: string, context: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || v === '') {
    throw new GatewayError('GW_ERR_TRANSPORT_BAD_MESSAGE', `${context}: '${key}' must be a non-empty string`);
  }
  return v;
}

export function optionalString(obj: Record<string, unknown>, key: string): string | undefined {
  const v = obj[key];
  return typeof v === 'string' ? v : undefined;
}

export function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

export function optionalTimestampMs(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value : NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/**
 * Track values the carriers document for `media.track`. Twilio: "inbound" | "outbound"
 * (https://www.twilio.com/docs/voice/media-streams/websocket-messages#media-message); Telnyx streams
 * the tracks named by stream_track (inbound_track, outbound_track, both_tracks) and labels frames
 * "inbound" / "outbound" (https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket).
 * Only the caller's track is audio for us; the other is ignored, not rejected.
 */
const INBOUND_TRACKS = new Set(['inbound', 'inbound_track']);
const OUTBOUND_TRACKS = new Set(['outbound', 'outbound_track']);

/**
 * The `media` message both carriers send, alike on the wire: `{ media: { track?, chunk?, payload,
 * timestamp? } }` with base64 audio.
 */
export function inboundMedia(msg: Record<string, unknown>): Extract<InboundMediaEvent, { type: 'media' | 'ignored' }> {
  const media = objectField(msg, 'media', 'media');
  if (typeof media.track === 'string' && OUTBOUND_TRACKS.has(media.track)) return { type: 'ignored', what: 'outbound_track' };
  if (media.track !== undefined && !(typeof media.track === 'string' && INBOUND_TRACKS.has(media.track))) {
    throw new GatewayError('GW_ERR_TRANSPORT_BAD_MESSAGE', `media: unexpected track '${String(media.track).slice(0, 40)}'`);
  }
  const payload = decodeBase64Strict(media.payload, 'media.payload');
  return {
    type: 'media',
    payload,
    // Checked above: exactly the text the bytes came from, forwarded as it is to a provider taking the same codec.
    base64: media.payload as string,
    timestampMs: optionalTimestampMs(media.timestamp),
    chunk: chunkNumber(media.chunk),
  };
}
