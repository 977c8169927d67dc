/** Read-only view of live calls. */
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors.js';
import type { RouteContext } from '../app.js';
import { requireApiToken } from './edge.js';

export function registerCallsApi(app: FastifyInstance, ctx: RouteContext): void {
  const onRequest = requireApiToken(ctx);
  app.get('/api/v1/calls', { onRequest }, async () => ({ calls: ctx.calls.list().map((c) => c.snapshot()) }));

  app.get<{ Params: { callId: string } }>('/api/v1/calls/:callId', { onRequest }, async (request) => {
    const call = ctx.calls.get(request.params.callId);
    if (!call) throw new GatewayError('GW_ERR_HTTP_NOT_FOUND', `no live call '${request.params.callId}'`);
    return call.snapshot();
  });
}
