/**
 * Manual failover: move a live call to another provider (`POST /api/v1/calls/:callId/provider`). A call
 * another node holds is forwarded to it (REDIS_URL); the owner answers with switchHandler too.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors.js';
import type { RouteContext } from '../route-context.js';
import { forwardToOwner } from '../cluster-forward.js';
import { requireApiToken } from './edge.js';

type SwitchRequest = FastifyRequest<{ Params: { callId: string }; Body: { provider?: unknown } }>;

export function registerSwitchRoute(app: FastifyInstance, ctx: RouteContext): void {
  const handler = switchHandler(ctx);
  app.post<{ Params: { callId: string }; Body: { provider?: unknown } }>(
    '/api/v1/calls/:callId/provider',
    { onRequest: requireApiToken(ctx) },
    async (request, reply) => (await forwardToOwner(ctx, reply, 'provider', request.params.callId, request.body)) ?? handler(request, reply),
  );
}

/** Switch a call this node holds. */
export function switchHandler(ctx: RouteContext) {
  return async (request: SwitchRequest, reply: FastifyReply) => {
    const call = ctx.calls.get(request.params.callId);
    if (!call) throw new GatewayError('GW_ERR_HTTP_NOT_FOUND', `no live call '${request.params.callId}'`);
    const name = (request.body as { provider?: unknown } | undefined)?.provider;
    if (typeof name !== 'string' || name === '') throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', "body must be { \"provider\": \"<name>\" }");
    ctx.calls.providerFor(name); // throws GW_ERR_PROVIDER_UNKNOWN naming the configured ones
    if (name === call.provider) throw new GatewayError('GW_ERR_CALL_SWITCH_CONFLICT', `call is already on '${name}'`);
    if (call.switching) throw new GatewayError('GW_ERR_CALL_SWITCH_CONFLICT', 'a switch is already in progress');
    const record = await call.switchProvider('manual', name);
    return reply.code(record.result === 'ok' ? 200 : 502).send({ callId: call.id, provider: call.provider, switch: record });
  };
}
