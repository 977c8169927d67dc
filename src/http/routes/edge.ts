/** Edge guards shared by the carrier routes: allowlist and draining checks as fastify hooks. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors.js';
import { rejectEdge, type RouteContext } from '../app.js';
import type { CidrAllowlist } from '../security/allowlist.js';

export function allowlistHook(ctx: RouteContext, allowlist: CidrAllowlist, route: string) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    if (!allowlist.allows(request.ip)) {
      throw rejectEdge(ctx, request, route, new GatewayError('GW_ERR_HTTP_IP_NOT_ALLOWED', request.ip), 'ip_not_allowed');
    }
  };
}

export function notDrainingHook(ctx: RouteContext) {
  return async (): Promise<void> => {
    if (ctx.calls.draining) throw new GatewayError('GW_ERR_HTTP_NOT_READY', 'gateway is shutting down');
  };
}

export function formParams(body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (body && typeof body === 'object') {
    for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}
