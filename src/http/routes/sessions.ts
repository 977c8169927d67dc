/**
 * Browser session tokens: `POST /api/v1/sessions` (behind the API token, or open to loopback clients
 * in demo mode) issues a one-time token that `POST /webrtc/offer` must present within its lifetime.
 * A backend calls this for its user and hands the token to the page (e.g. `/#token=...`); the page
 * served at `/` calls it itself when the gateway runs in demo mode. The answer carries the ICE servers
 * for the page's RTCPeerConnection (ICE_SERVERS, TURN credentials minted for this session), so a
 * backend can hand both to its page.
 */
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../route-context.js';
import type { StreamTokens } from '../security/stream-tokens.js';
import type { IceServerIssuer } from '../../transports/webrtc/ice-servers.js';
import { notDrainingHook, requireApiToken } from './edge.js';

/** Long enough to click "Allow" on a microphone prompt, short enough that a leaked token is stale. */
export const SESSION_TOKEN_TTL_MS = 60_000;
/** Tokens are bound to this purpose, so a carrier stream token can never open a browser session. */
export const SESSION_TOKEN_PURPOSE = 'webrtc-session';

export function registerSessionsApi(app: FastifyInstance, ctx: RouteContext, tokens: StreamTokens, ice: IceServerIssuer): void {
  const now = ctx.now ?? Date.now;
  app.post('/api/v1/sessions', { onRequest: [requireApiToken(ctx), notDrainingHook(ctx)] }, async (_request, reply) => {
    const token = tokens.issue(SESSION_TOKEN_PURPOSE);
    await tokens.issued(token);
    return reply.code(201).send({ token, expiresAt: new Date(now() + SESSION_TOKEN_TTL_MS).toISOString(), iceServers: ice.forSession() });
  });
}
