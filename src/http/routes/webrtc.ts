/**
 * Browser calls over WebRTC, and the page that makes them.
 *
 * Signalling over HTTP, trickle ICE or not:
 *   POST /api/v1/sessions                 -> { token, expiresAt, iceServers }   (sessions.ts)
 *   POST /webrtc/ice-servers { token }    -> { iceServers }   the page's ICE servers for a live token
 *   POST /webrtc/offer { sdp, type: 'offer', token, trickle? }
 *                                         -> { sdp, type: 'answer', sessionId, callId, provider, trickle: true }
 *   POST /webrtc/sessions/:sessionId/candidates { candidates: [{ candidate, sdpMid, sdpMLineIndex }], done? }
 * A trickling page posts its offer at once and its candidates as it gathers them, so the call starts
 * before gathering ends (a STUN or TURN server can take seconds); a non-trickle client sends an offer
 * with its candidates gathered and never calls the candidates route. The gateway's own candidates are
 * in its answer. `iceServers` carries ICE_SERVERS with TURN credentials minted for the session
 * (ice-servers.ts). `token` is one-time and lives 60 s. The page ends the call with
 *   DELETE /webrtc/sessions/:sessionId
 * and closes its RTCPeerConnection; it polls GET /webrtc/sessions/:sessionId (404 once ended) to learn
 * when the gateway ended it. GET /api/v1/webrtc/sessions lists live sessions and their RTP stats.
 *
 * The client (index.html, app.js, styles.css) is served at `/` from src/http/static, or from the copy
 * `npm run build` puts in dist/http/static.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { GatewayError, isGatewayError } from '../../errors.js';
import { WebRtcEndpoint } from '../../transports/webrtc/endpoint.js';
import { IceServerIssuer } from '../../transports/webrtc/ice-servers.js';
import type { RemoteCandidate } from '../../transports/webrtc/session.js';
import { rejectEdge, type RouteContext } from '../route-context.js';
import { StreamTokens } from '../security/stream-tokens.js';
import { notDrainingHook, requireApiToken } from './edge.js';
import { registerSessionsApi, SESSION_TOKEN_PURPOSE, SESSION_TOKEN_TTL_MS } from './sessions.js';

const STATIC_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'styles.css': 'text/css; charset=utf-8',
};

const STATIC_HEADERS = {
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'permissions-policy': 'microphone=(self), camera=()',
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
};

/**
 * The static folder next to this module (src/http/static under tsx, dist/http/static once built),
 * else the source folder seen from dist (a build that did not copy it).
 */
export function findStaticDir(moduleUrl: string = import.meta.url): string | undefined {
  const here = dirname(fileURLToPath(moduleUrl));
  const candidates = [join(here, '..', 'static'), join(here, '..', '..', '..', 'src', 'http', 'static')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html')));
}

function loadStatic(dir: string | undefined): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  if (!dir) return files;
  for (const name of Object.keys(STATIC_FILES)) {
    const path = join(dir, name);
    if (existsSync(path)) files.set(name, readFileSync(path));
  }
  return files;
}

interface OfferBody {
  sdp?: unknown;
  type?: unknown;
  token?: unknown;
  trickle?: unknown;
}

/** A request's worth of trickled candidates; a browser sends one or a few at a time. */
const MAX_CANDIDATES_PER_REQUEST = 20;

/** Checks a trickle body: { candidates: [{ candidate, sdpMid?, sdpMLineIndex? }], done? }. */
export function parseCandidates(body: unknown): { candidates: RemoteCandidate[]; done: boolean } {
  const bad = (detail: string) => new GatewayError('GW_ERR_HTTP_BAD_REQUEST', detail);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('send JSON {"candidates": [{"candidate": "candidate:...", "sdpMid": "0"}], "done": false}');
  const { candidates = [], done = false } = body as { candidates?: unknown; done?: unknown };
  if (!Array.isArray(candidates)) throw bad('`candidates` must be an array');
  if (candidates.length > MAX_CANDIDATES_PER_REQUEST) throw bad(`at most ${String(MAX_CANDIDATES_PER_REQUEST)} candidates per request`);
  if (typeof done !== 'boolean') throw bad('`done` must be true or false');
  const out: RemoteCandidate[] = [];
  let ended = done;
  for (const c of candidates as unknown[]) {
    const { candidate, sdpMid, sdpMLineIndex } = (c ?? {}) as { candidate?: unknown; sdpMid?: unknown; sdpMLineIndex?: unknown };
    // An empty `candidate` is the end-of-candidates indication (W3C webrtc-pc, RTCPeerConnectionIceEvent:
    // "the candidate attribute is set to an empty string"); Firefox sends one before the final null.
    if (candidate === '') {
      ended = true;
      continue;
    }
    // RTCIceCandidate.candidate: the SDP attribute value, "candidate:<foundation> <component> ..." (RFC 8839 section 5.1).
    if (typeof candidate !== 'string' || !/^candidate:\S/.test(candidate) || candidate.length > 512) {
      throw bad('each candidate needs `candidate`, the "candidate:..." string of RTCIceCandidate (at most 512 characters)');
    }
    if (sdpMid !== undefined && sdpMid !== null && (typeof sdpMid !== 'string' || sdpMid.length > 32)) throw bad('`sdpMid` must be a short string');
    if (sdpMLineIndex !== undefined && sdpMLineIndex !== null && (!Number.isInteger(sdpMLineIndex) || (sdpMLineIndex as number) < 0 || (sdpMLineIndex as number) > 8)) {
      throw bad('`sdpMLineIndex` must be a small whole number');
    }
    out.push({ candidate, sdpMid: (sdpMid as string | null) ?? undefined, sdpMLineIndex: (sdpMLineIndex as number | null) ?? undefined });
  }
  return { candidates: out, done: ended };
}

export function registerWebRtcRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { webrtc } = ctx.config;
  const ice = new IceServerIssuer({ urls: webrtc.iceServers, turnSecret: webrtc.turnSecret, credentialTtlS: webrtc.turnCredentialTtlS, now: ctx.now });
  const endpoint = new WebRtcEndpoint({ calls: ctx.calls, logger: ctx.logger, metrics: ctx.metrics, ice });
  // Browser tokens live apart from carrier stream tokens: neither can stand in for the other.
  // Shared with every node when REDIS_URL is set: a session minted on one may open its offer on another.
  const tokens = new StreamTokens({ ttlMs: SESSION_TOKEN_TTL_MS, now: ctx.now, shared: ctx.grantStore, logger: ctx.logger });
  app.addHook('onClose', async () => endpoint.close());
  registerSessionsApi(app, ctx, tokens, ice);

  // Files are small and fixed: read once, served from memory.
  const dir = findStaticDir();
  const files = loadStatic(dir);
  if (files.size < Object.keys(STATIC_FILES).length) {
    ctx.logger.warn({ event: 'static_missing', dir, found: [...files.keys()] }, 'browser client files not found; / will answer 404');
  }
  const serve = (name: string) => async (_request: unknown, reply: FastifyReply) => {
    const body = files.get(name);
    if (!body) throw new GatewayError('GW_ERR_HTTP_NOT_FOUND', `${name} is not installed (run npm run build)`);
    return reply.headers(STATIC_HEADERS).type(STATIC_FILES[name]).send(body);
  };
  app.get('/', serve('index.html'));
  app.get('/index.html', serve('index.html'));
  app.get('/app.js', serve('app.js'));
  app.get('/styles.css', serve('styles.css'));

  // The page's ICE servers when its token came from the operator's backend (#token=...): a live,
  // unspent session token gets them, with a fresh TURN credential; the token stays valid for the offer.
  app.post('/webrtc/ice-servers', { onRequest: notDrainingHook(ctx) }, async (request) => {
    const body = (request.body ?? {}) as { token?: unknown };
    const token = typeof body === 'object' && typeof body.token === 'string' ? body.token : undefined;
    if (!(await tokens.isLive(token))) {
      throw rejectEdge(
        ctx,
        request,
        'webrtc_ice_servers',
        new GatewayError('GW_ERR_TRANSPORT_BAD_SESSION_TOKEN', 'get a fresh one from POST /api/v1/sessions'),
        token ? 'bad_token' : 'missing_token',
      );
    }
    return { iceServers: ice.forSession() };
  });

  app.post('/webrtc/offer', { onRequest: notDrainingHook(ctx) }, async (request) => {
    const body = (request.body ?? {}) as OfferBody;
    if (typeof body !== 'object' || Array.isArray(body)) {
      throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', 'send JSON {"sdp": "...", "type": "offer", "token": "..."}');
    }
    if (body.type !== 'offer') throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', '`type` must be "offer"');
    if (body.trickle !== undefined && typeof body.trickle !== 'boolean') throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', '`trickle` must be true or false');
    // The offer is checked before the one-time token is spent on it: a malformed one leaves the token usable.
    endpoint.checkOffer(body.sdp, body.trickle === true);
    const token = typeof body.token === 'string' ? body.token : undefined;
    if (!(await tokens.redeem(token, SESSION_TOKEN_PURPOSE))) {
      throw rejectEdge(
        ctx,
        request,
        'webrtc_offer',
        new GatewayError('GW_ERR_TRANSPORT_BAD_SESSION_TOKEN', 'get a fresh one from POST /api/v1/sessions'),
        token ? 'bad_token' : 'missing_token',
      );
    }
    const answer = await endpoint.open({ sdp: body.sdp, clientIp: request.ip, correlationId: request.id, trickle: body.trickle === true });
    request.log.info({ event: 'webrtc_answered', sessionId: answer.sessionId, callId: answer.callId, provider: answer.provider }, 'WebRTC offer answered');
    return answer;
  });

  // The page polls this to learn when the gateway ended the call: browsers notice a silent peer only
  // after ICE consent fails (~7 s to 'disconnected', ~30 s to 'failed'). The session id is the
  // capability here, as for DELETE: an unguessable UUID only the offerer was given.
  app.get<{ Params: { sessionId: string } }>('/webrtc/sessions/:sessionId', async (request) => {
    const { sessionId } = request.params;
    const session = endpoint.get(sessionId);
    if (!session) throw new GatewayError('GW_ERR_HTTP_NOT_FOUND', `no WebRTC session '${sessionId}'`);
    const call = session.call?.snapshot();
    return { sessionId, state: session.state, callState: call?.state, provider: call?.provider };
  });

  // Trickled candidates; the session id is the capability, as for GET and DELETE.
  app.post<{ Params: { sessionId: string } }>('/webrtc/sessions/:sessionId/candidates', async (request, reply) => {
    const { sessionId } = request.params;
    let parsed: { candidates: RemoteCandidate[]; done: boolean };
    try {
      parsed = parseCandidates(request.body);
    } catch (err) {
      if (isGatewayError(err)) ctx.metrics.mediaRejectedTotal.inc({ transport: 'webrtc', reason: err.code });
      throw err;
    }
    if (!(await endpoint.addCandidates(sessionId, parsed.candidates, parsed.done))) {
      throw new GatewayError('GW_ERR_HTTP_NOT_FOUND', `no WebRTC session '${sessionId}'`);
    }
    return reply.code(204).send();
  });

  app.delete<{ Params: { sessionId: string } }>('/webrtc/sessions/:sessionId', async (request) => {
    const { sessionId } = request.params;
    if (!(await endpoint.hangup(sessionId))) throw new GatewayError('GW_ERR_HTTP_NOT_FOUND', `no WebRTC session '${sessionId}'`);
    return { sessionId, state: 'closed' };
  });

  app.get('/api/v1/webrtc/sessions', { onRequest: requireApiToken(ctx) }, async () => ({ sessions: endpoint.list() }));
}
