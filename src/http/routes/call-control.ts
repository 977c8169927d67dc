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
import type { CallControl } from '../../carriers/call-control.js';
import { CarrierCallError } from '../../carriers/carrier-errors.js';
import { parseDtmfRequest, parseOutboundRequest } from '../../carriers/call-requests.js';
import type { RouteContext } from '../route-context.js';
import { forwardToOwner } from '../cluster-forward.js';

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
    const { digits, durationMs } = parseDtmfRequest(request.body);
    try {
      return await controlOf(ctx).sendDtmf(request.params.callId, digits, durationMs);
    } catch (err) {
      return sendError(reply, err, { callId: request.params.callId });
    }
  };
}
