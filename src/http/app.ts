/**
 * The fastify app: webhooks, media WebSockets, health, metrics. `buildApp()` returns the instance
 * without listening; the entry file listens, tests use inject() or a port-0 listen.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Metrics } from '../observability/metrics.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { wsBase } from '../carriers/media-base.js';
import { CORRELATION_HEADER, correlationIdFrom } from './correlation.js';
import { StreamTokens } from './security/stream-tokens.js';
import { trustProxyOption } from './security/allowlist.js';
import type { AppDeps } from './route-context.js';
import { MediaGuard } from './media-guard.js';
import { RedactingLogController } from './request-log.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerCarrierRoutes } from './routes/carriers.js';
import { registerCallsApi } from './routes/calls-api.js';
import { registerSwitchRoute } from './routes/switch.js';
import { registerWebRtcRoutes } from './routes/webrtc.js';
import { registerInternalRoutes } from './routes/internal.js';

export type { AppDeps, RouteContext } from './route-context.js';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: string;
  }
}

const kCorrelationId = Symbol('correlationId');
type RawWithId = IncomingMessage & { [kCorrelationId]?: string };


export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    loggerInstance: deps.logger,
    // Health probes and Prometheus scrapes would drown the log; other requests log their outcome,
    // with stream tokens redacted from the URL.
    logController: new RedactingLogController({
      requestIdLogLabel: 'correlationId',
      disableRequestLogging: (req) => req.url === '/health' || req.url === '/ready' || req.url === '/metrics',
    }),
    // Only configured proxies are trusted; request.ip is the address the last trusted one saw.
    trustProxy: trustProxyOption(config.trustProxy),
    requestIdHeader: false,
    genReqId: (req) => {
      const id = correlationIdFrom(req.headers[CORRELATION_HEADER]);
      (req as RawWithId)[kCorrelationId] = id;
      return id;
    },
    bodyLimit: config.http.bodyLimitBytes,
    // A body trickled a byte every few seconds is cut at requestTimeout (408); a silent connection at
    // connectionTimeout. Node checks request deadlines on an interval (30 s by default, too coarse),
    // and Node 20 only arms the request deadline when it is given at construction: fastify's own
    // requestTimeout is assigned afterwards and never fires, so it goes in the http options too.
    requestTimeout: config.http.requestTimeoutMs,
    connectionTimeout: config.http.connectionTimeoutMs,
    http: {
      requestTimeout: config.http.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(config.http.requestTimeoutMs / 4))),
    },
    clientErrorHandler: (err, socket) => answerClientError(deps.metrics, err, socket),
  }) as unknown as FastifyInstance;
  // An idle connection: Node would destroy it with no listener here; count it and do the same.
  app.server.on('timeout', (socket: Duplex) => {
    deps.metrics.httpTimeoutsTotal.inc({ kind: 'idle' });
    socket.destroy();
  });

  // Raw bodies are needed byte for byte: Twilio's bodySHA256 and Telnyx's Ed25519 sign them.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (req, body, done) => {
    req.rawBody = body as string;
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    req.rawBody = body as string;
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch (err) {
      done(new GatewayError('GW_ERR_HTTP_BAD_REQUEST', `body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });

  // With several nodes or processes, which one answered (a forwarded answer names the call's owner).
  const nodeId = deps.registry?.nodeId;
  app.addHook('onSend', async (request, reply) => {
    reply.header('X-Correlation-ID', request.id);
    if (nodeId !== undefined && !reply.hasHeader('x-voice-gateway-node')) reply.header('x-voice-gateway-node', nodeId);
  });
  // Route patterns, never raw URLs, so the label set stays bounded whatever clients send.
  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.httpRequestsTotal.inc({ route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) });
  });

  app.setErrorHandler((err, request, reply) => {
    const gw = isGatewayError(err) ? err : undefined;
    const fastifyErr = err as { statusCode?: number; code?: string; message: string };
    const status = gw?.statusCode ?? (fastifyErr.statusCode && fastifyErr.statusCode >= 400 ? fastifyErr.statusCode : 500);
    if (status < 500) deps.metrics.httpRejectedTotal.inc({ route: request.routeOptions.url ?? 'unmatched', code: gw?.code ?? fastifyErr.code ?? 'GW_ERR_HTTP_BAD_REQUEST' });
    if (status >= 500) request.log.error({ event: 'http_error', err }, 'request failed');
    else request.log.info({ event: 'http_rejected', code: gw?.code ?? fastifyErr.code, status }, err instanceof Error ? err.message : 'rejected');
    void reply.code(status).send({ error: { code: gw?.code ?? fastifyErr.code ?? 'GW_ERR_HTTP_BAD_REQUEST', message: fastifyErr.message } });
  });

  await app.register(websocket, {
    // ws enforces this hard cap by closing the socket; the configured limit, checked per message, is
    // lower so an oversized frame is rejected and counted while the call goes on.
    options: { maxPayload: Math.max(config.media.maxMessageBytes * 4, 1024 * 1024) },
  });
  // Media sockets: caps at the handshake, a start deadline after it (./media-guard.ts).
  const guard = new MediaGuard({ ...config.media, metrics: deps.metrics, logger: deps.logger });
  const isUpgrade = (request: FastifyRequest) => request.headers.upgrade?.toLowerCase() === 'websocket';
  app.addHook('onRequest', async (request) => {
    if (isUpgrade(request)) guard.admit(request, request.raw.socket as Duplex | undefined);
  });
  app.addHook('onResponse', async (request) => {
    if (isUpgrade(request)) guard.answered(request.raw.socket as Duplex | undefined);
  });
  app.websocketServer.on('connection', (socket: WebSocket) => guard.watch(socket));
  app.websocketServer.on('headers', (headers: string[], req: IncomingMessage) => {
    const id = (req as RawWithId)[kCorrelationId];
    if (id) headers.push(`X-Correlation-ID: ${id}`);
  });

  const tokens = deps.tokens ?? new StreamTokens({ ttlMs: config.media.streamTokenTtlMs, now: deps.now, shared: deps.grantStore, logger: deps.logger });
  const ctx = { ...deps, tokens, wsBase: wsBase(config.publicUrl) };
  registerHealthRoutes(app, ctx);
  registerCarrierRoutes(app, ctx);
  registerCallsApi(app, ctx);
  registerSwitchRoute(app, ctx);
  registerWebRtcRoutes(app, ctx);
  if (deps.registry) registerInternalRoutes(app, ctx);
  return app;
}

/** clientError: count request deadlines, then answer as fastify's default handler does. */
function answerClientError(metrics: Metrics, err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  if (timeout) metrics.httpTimeoutsTotal.inc({ kind: 'request' });
  const status = timeout ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = JSON.stringify({ error: { code: 'GW_ERR_HTTP_BAD_REQUEST', message: timeout ? 'request not complete in time' : 'malformed request' } });
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`HTTP/1.1 ${String(status)} ${STATUS_CODES[status] ?? ''}\r\nContent-Length: ${String(Buffer.byteLength(body))}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}

