/**
 * The bodies of the call control API (POST /api/v1/calls, .../dtmf), checked field by field before
 * anything reaches a carrier: unknown fields, wrong types and oversized metadata are refused with a
 * GW_ERR_CALL_* error naming the field. The HTTP route parses with these and hands the result to
 * CallControl (call-control.ts).
 */
import { GatewayError } from '../errors.js';
import type { OutboundCallRequest } from './call-control.js';
import { CARRIER_NAMES, isCarrierName } from './carrier-name.js';

const MAX_METADATA_BYTES = 4096;
const OUTBOUND_FIELDS = new Set(['transport', 'to', 'from', 'provider', 'metadata', 'machineDetection']);

function bad(detail: string): GatewayError {
  return new GatewayError('GW_ERR_CALL_BAD_REQUEST', detail);
}

function asObject(body: unknown, what: string): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw bad(`${what} must be a JSON object`);
  return body as Record<string, unknown>;
}

/** POST /api/v1/calls: {transport, to, from, provider?, metadata?, machineDetection?}. */
export function parseOutboundRequest(body: unknown, correlationId: string): OutboundCallRequest {
  const b = asObject(body, 'the body');
  const unknown = Object.keys(b).filter((k) => !OUTBOUND_FIELDS.has(k));
  if (unknown.length > 0) throw bad(`unknown field(s) ${unknown.map((k) => `'${k.slice(0, 40)}'`).join(', ')}; expected ${[...OUTBOUND_FIELDS].join(', ')}`);
  if (!isCarrierName(b.transport)) throw bad(`'transport' must be ${CARRIER_NAMES.map((n) => `"${n}"`).join(' or ')}`);
  for (const field of ['to', 'from'] as const) {
    if (typeof b[field] !== 'string') throw new GatewayError('GW_ERR_CALL_BAD_NUMBER', `'${field}' is missing or not a string`);
  }
  if (b.provider !== undefined && typeof b.provider !== 'string') throw bad(`'provider' must be a string`);
  let metadata: Record<string, unknown> | undefined;
  if (b.metadata !== undefined) {
    if (typeof b.metadata !== 'object' || b.metadata === null || Array.isArray(b.metadata)) throw bad(`'metadata' must be a JSON object`);
    const size = Buffer.byteLength(JSON.stringify(b.metadata));
    if (size > MAX_METADATA_BYTES) throw bad(`'metadata' is ${String(size)} bytes; at most ${String(MAX_METADATA_BYTES)}`);
    metadata = b.metadata as Record<string, unknown>;
  }
  if (b.machineDetection !== undefined && b.machineDetection !== 'detect' && b.machineDetection !== 'detect_message_end') {
    throw bad(`'machineDetection' must be "detect" or "detect_message_end"`);
  }
  return {
    transport: b.transport,
    to: b.to as string,
    from: b.from as string,
    provider: b.provider as string | undefined,
    metadata,
    machineDetection: b.machineDetection as OutboundCallRequest['machineDetection'],
    correlationId,
  };
}

/** POST /api/v1/calls/:callId/dtmf: {digits, durationMs?}; the digits themselves are checked by CallControl. */
export function parseDtmfRequest(body: unknown): { digits: string; durationMs: number | undefined } {
  const b = asObject(body, 'the body');
  if (typeof b.digits !== 'string') throw new GatewayError('GW_ERR_CALL_BAD_DIGITS', `'digits' is missing or not a string`);
  if (b.durationMs !== undefined && typeof b.durationMs !== 'number') throw bad(`'durationMs' must be a number`);
  return { digits: b.digits, durationMs: b.durationMs as number | undefined };
}
