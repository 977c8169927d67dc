/**
 * Call control over HTTP (under requireApiToken, registered by calls-api.ts):
 *
 * POST /api/v1/calls                 {transport, to, from, provider?, metadata?, machineDetection?}
 *   -> 201 {callId, carrierCallId, state: 'dialing', ...} once the carrier has accepted the call.
 * POST /api/v1/calls/:callId/hangup  -> 200 {callId, state: 'ended', endReason, via}
 * POST /api/v1/calls/:callId/dtmf    {digits, durationMs?} -> 200 {callId, digits, via, durationMs}
 *
 * Errors answer {error: {code, message, callId?, carrier?}}: `carrier` carries the carrier's own
 * status, code and message when its API refused.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { GatewayError, isGatewayError } from '../../errors.js';
import type { CallControl, OutboundCallRequest } from '../../carriers/call-control.js';
import { CarrierCallError } from '../../carriers/carrier-errors.js';
import type { RouteContext } from '../route-context.js';
import { forwardToOwner } from '../cluster-forward.js';

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

export function parseOutboundRequest(body: unknown, correlationId: string): OutboundCallRequest {
  const b = asObject(body, 'the body');
  const unknown = Object.keys(b).filter((k) => !OUTBOUND_FIELDS.has(k));
  if (unknown.length > 0) throw bad(`unknown field(s) ${unknown.map((k) => `'${k.slice(0, 40)}'`).join(', ')}; expected ${[...OUTBOUND_FIELDS].join(', ')}`);
  if (b.transport !== 'twilio' && b.transport !== 'telnyx') throw bad(`'transport' must be "twilio" or "telnyx"`);
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

/** Answer a GatewayError with its status and a body naming the problem (and the carrier's reason). */
function sendError(reply: FastifyReply, err: unknown, extra: Record<string, unknown> = {}): FastifyReply {
  if (!isGatewayError(err)) throw err;
  const status = err.statusCode ?? 500;
  const carrier = err instanceof CarrierCallError ? { carrier: err.carrier } : {};
  if (status >= 500) reply.log.warn({ event: 'call_control_failed', code: err.code, ...extra }, err.message);
  return reply.code(status).send({ error: { code: err.code, message: err.message, ...extra, ...carrier } });
}

export function registerCallControlRoutes(app: FastifyInstance, ctx: RouteContext, onRequest: onRequestHookHandler): void {
  const control = (): CallControl => {
    if (!ctx.callControl) throw new GatewayError('GW_ERR_CALL_CARRIER_NOT_CONFIGURED', 'call control is not set up in this gateway');
    return ctx.callControl;
  };

  app.post('/api/v1/calls', { onRequest }, async (request, reply) => {
    const prepared = control().prepare(parseOutboundRequest(request.body, request.id));
    try {
      const placed = await control().place(prepared);
      return await reply.code(201).header('location', `/api/v1/calls/${placed.callId}`).send(placed);
    } catch (err) {
      return sendError(reply, err, { callId: prepared.callId });
    }
  });

  const hangup = hangupHandler(ctx);
  const dtmf = dtmfHandler(ctx);
  // A call another node holds is forwarded to it (REDIS_URL); the owner runs the same handlers.
  app.post<{ Params: { callId: string } }>('/api/v1/calls/:callId/hangup', { onRequest }, async (request, reply) =>
    (await forwardToOwner(ctx, reply, 'hangup', request.params.callId, request.body)) ?? hangup(request, reply));
  app.post<{ Params: { callId: string } }>('/api/v1/calls/:callId/dtmf', { onRequest }, async (request, reply) =>
    (await forwardToOwner(ctx, reply, 'dtmf', request.params.callId, request.body)) ?? dtmf(request, reply));
}

type CallRequest = FastifyRequest<{ Params: { callId: string } }>;

function controlOf(ctx: RouteContext): CallControl {
  if (!ctx.callControl) throw new GatewayError('GW_ERR_CALL_CARRIER_NOT_CONFIGURED', 'call control is not set up in this gateway');
  return ctx.callControl;
}

/** Hang up a call this node holds (the public route and the internal one both answer with it). */
export function hangupHandler(ctx: RouteContext) {
  return async (request: CallRequest, reply: FastifyReply) => {
    try {
      return await controlOf(ctx).hangup(request.params.callId, 'api_hangup');
    } catch (err) {
      return sendError(reply, err, { callId: request.params.callId });
    }
  };
}

/** Send DTMF on a call this node holds. */
export function dtmfHandler(ctx: RouteContext) {
  return async (request: CallRequest, reply: FastifyReply) => {
    const b = asObject(request.body, 'the body');
    if (typeof b.digits !== 'string') throw new GatewayError('GW_ERR_CALL_BAD_DIGITS', `'digits' is missing or not a string`);
    if (b.durationMs !== undefined && typeof b.durationMs !== 'number') throw bad(`'durationMs' must be a number`);
    try {
      return await controlOf(ctx).sendDtmf(request.params.callId, b.digits, b.durationMs as number | undefined);
    } catch (err) {
      return sendError(reply, err, { callId: request.params.callId });
    }
  };
}
