/** Manual failover: move a live call to another provider (`POST /api/v1/calls/:callId/provider`). */
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors.js';
import type { RouteContext } from '../route-context.js';
import { requireApiToken } from './edge.js';

export function registerSwitchRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.post<{ Params: { callId: string }; Body: { provider?: unknown } }>(
    '/api/v1/calls/:callId/provider',
    { onRequest: requireApiToken(ctx) },
    async (request, reply) => {
      const call = ctx.calls.get(request.params.callId);
      if (!call) throw new GatewayError('GW_ERR_HTTP_NOT_FOUND', `no live call '${request.params.callId}'`);
      const name = request.body?.provider;
      if (typeof name !== 'string' || name === '') throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', "body must be { \"provider\": \"<name>\" }");
      ctx.calls.providerFor(name); // throws GW_ERR_PROVIDER_UNKNOWN naming the configured ones
      if (name === call.provider) throw new GatewayError('GW_ERR_CALL_SWITCH_CONFLICT', `call is already on '${name}'`);
      if (call.switching) throw new GatewayError('GW_ERR_CALL_SWITCH_CONFLICT', 'a switch is already in progress');
      const record = await call.switchProvider('manual', name);
      return reply.code(record.result === 'ok' ? 200 : 502).send({ callId: call.id, provider: call.provider, switch: record });
    },
  );
}
