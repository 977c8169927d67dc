/**
 * Node-to-node routes (REDIS_URL): another node forwards here the API requests for calls this node
 * holds (../cluster-forward.ts). Guarded by CLUSTER_SECRET in the x-cluster-secret header, compared in
 * constant time; a missing or wrong secret, or no secret configured, is 401 and counted
 * (voice_gateway_webhook_rejected_total{route="internal"}). The handlers are the public routes' own,
 * and they never forward again, so a stale registry entry cannot make two nodes bounce a request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors.js';
import { rejectEdge, type RouteContext } from '../route-context.js';
import { CLUSTER_SECRET_HEADER } from '../cluster-forward.js';
import { dtmfHandler, hangupHandler } from './call-control.js';
import { switchHandler } from './switch.js';

/** Hashing both sides first gives equal lengths, so the comparison leaks neither content nor length. */
function secretMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function requireClusterSecret(ctx: RouteContext) {
  return async (request: FastifyRequest): Promise<void> => {
    const expected = ctx.config.cluster.secret;
    const header = request.headers[CLUSTER_SECRET_HEADER];
    const given = typeof header === 'string' ? header : '';
    if (expected === undefined) {
      throw rejectEdge(ctx, request, 'internal', new GatewayError('GW_ERR_CLUSTER_UNAUTHORIZED', 'CLUSTER_SECRET is not set on this node'), 'no_secret_configured');
    }
    if (given === '' || !secretMatches(given, expected)) {
      throw rejectEdge(ctx, request, 'internal', new GatewayError('GW_ERR_CLUSTER_UNAUTHORIZED', given === '' ? 'missing cluster secret' : 'wrong cluster secret'), given === '' ? 'missing_secret' : 'bad_secret');
    }
  };
}

export function registerInternalRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const onRequest = requireClusterSecret(ctx);
  app.post<{ Params: { callId: string } }>('/internal/v1/calls/:callId/hangup', { onRequest }, hangupHandler(ctx));
  app.post<{ Params: { callId: string } }>('/internal/v1/calls/:callId/dtmf', { onRequest }, dtmfHandler(ctx));
  app.post<{ Params: { callId: string }; Body: { provider?: unknown } }>('/internal/v1/calls/:callId/provider', { onRequest }, switchHandler(ctx));
}
