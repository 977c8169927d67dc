/** Edge guards shared by the carrier routes: allowlist and draining checks as fastify hooks. */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors.js';
import { rejectEdge, type RouteContext } from '../route-context.js';
import { isLoopbackAddress, type CidrAllowlist } from '../security/allowlist.js';

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

function tokenMatches(given: string, tokens: readonly string[]): boolean {
  const g = Buffer.from(given);
  let ok = false;
  for (const t of tokens) {
    const b = Buffer.from(t);
    if (b.length === g.length && timingSafeEqual(b, g)) ok = true;
  }
  return ok;
}

/**
 * /api/v1/* needs `Authorization: Bearer <one of API_TOKENS>`. With no tokens configured the API is
 * open to loopback clients only (the `npm start` demo), never to the network. "Loopback" is decided
 * on the socket's own peer address, which no header can change; and when a trusted proxy on this host
 * says the client is elsewhere (request.ip), the client is elsewhere.
 */
export function requireApiToken(ctx: RouteContext) {
  return async (request: FastifyRequest): Promise<void> => {
    const tokens = ctx.config.apiTokens;
    if (tokens.length === 0) {
      if (isLoopbackAddress(request.raw.socket.remoteAddress) && isLoopbackAddress(request.ip)) return;
      throw rejectEdge(ctx, request, 'api', new GatewayError('GW_ERR_HTTP_UNAUTHORIZED', 'API_TOKENS is not set: the API answers loopback clients only'), 'no_tokens_remote');
    }
    const header = request.headers.authorization ?? '';
    const match = /^Bearer (.+)$/.exec(header);
    if (!match || !tokenMatches(match[1], tokens)) {
      throw rejectEdge(ctx, request, 'api', new GatewayError('GW_ERR_HTTP_UNAUTHORIZED', match ? 'unknown API token' : 'missing bearer token'), match ? 'bad_token' : 'missing_token');
    }
  };
}
