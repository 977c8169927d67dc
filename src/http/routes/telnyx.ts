/**
 * Telnyx: TeXML (/telnyx/texml, the Twilio-like flow) and Call Control (/telnyx/webhook: answer
 * call.initiated through the SDK with a stream URL). With TELNYX_PUBLIC_KEY set every webhook must
 * carry a valid Ed25519 signature.
 *
 * Media credentials ride in the URL path (/telnyx/media/<token>), which Telnyx dials as given; never
 * in a query string, which nothing promises to keep. The route also takes the token from the
 * documented stream auth header (x-telnyx-streaming-auth-token, sent when stream_auth_token is set:
 * https://developers.telnyx.com/api-reference/websockets/stream-call-media-over-websocket) and, for
 * URLs issued by older versions, from ?token=. The token is spent at the upgrade, so it opens one
 * socket; it is bound to the call (TeXML's CallSid is the call_control_id `start` carries:
 * https://developers.telnyx.com/api-reference/callbacks/texml-stream) and to this transport.
 *
 * TELNYX_ALLOWED_CIDRS gates the webhooks only; the media socket is authenticated by its token.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors.js';
import { telnyxCarrier } from '../../carriers/telnyx/index.js';
import { WebhookEvents } from '../../carriers/webhook-events.js';
import { rejectEdge, type RouteContext } from '../route-context.js';
import { handleMediaSocket, type ClaimedGrant } from '../media-socket.js';
import { CidrAllowlist } from '../security/allowlist.js';
import { TelnyxVerifier } from '../../carriers/telnyx/signature.js';
import { telnyxConnectStream, telnyxEgressFormat, telnyxStreamSetup, telnyxStreamToken, texmlStreamCodecs } from '../../carriers/telnyx/media-stream.js';
import { answerWithinWebhook, inboundCallToAnswer, parseTelnyxWebhook, type TelnyxWebhook } from '../../carriers/telnyx/webhook.js';
import { allowlistHook, formParams, notDrainingHook } from './edge.js';

/** A leg answered with a stream that has not started after the token's life and this much more is hung up. */
const STREAM_GRACE_MS = 5000;

const claims = new WeakMap<FastifyRequest, ClaimedGrant>();

export function registerTelnyxRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { config } = ctx;
  const allowlist = new CidrAllowlist(config.telnyx.allowedCidrs, 'TELNYX_ALLOWED_CIDRS');
  const onRequest = allowlistHook(ctx, allowlist, 'telnyx');
  const verifier = config.telnyx.publicKey
    ? new TelnyxVerifier({ publicKeyBase64: config.telnyx.publicKey, toleranceS: config.telnyx.timestampToleranceS, now: ctx.now })
    : undefined;
  const events = new WebhookEvents({ now: ctx.now });
  const egress = telnyxEgressFormat(config.telnyx.bidirectionalCodec);
  const texml = texmlStreamCodecs(config.telnyx);
  const texmlEgress = telnyxEgressFormat(texml.bidirectionalCodec);

  const verify = async (request: FastifyRequest) => {
    if (!verifier) return;
    const verdict = verifier.verifyRequest(request.headers, request.rawBody);
    if (!verdict.ok) {
      const code = verdict.reason === 'stale' ? 'GW_ERR_HTTP_STALE_TIMESTAMP' : 'GW_ERR_HTTP_BAD_SIGNATURE';
      throw rejectEdge(ctx, request, 'telnyx', new GatewayError(code, `Telnyx signature ${verdict.reason}`), verdict.reason);
    }
  };

  app.post(telnyxCarrier.paths.voice, { onRequest: [onRequest, notDrainingHook(ctx)], preHandler: verify }, async (request, reply) => {
    const params = formParams(request.body);
    const callSid = params.CallSid;
    if (!callSid) throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', 'CallSid is missing');
    // TeXML's CallSid is the call_control_id the media stream's start carries: the token binds to it.
    const token = ctx.tokens.issue(callSid, { transport: 'telnyx', leg: 'stream_verb', egress: texmlEgress });
    await ctx.tokens.issued(token);
    request.log.info({ event: 'telnyx_texml', carrierCallId: callSid }, 'connecting Telnyx call to media stream');
    return reply.type('text/xml').send(telnyxConnectStream(telnyxStreamSetup(texml, ctx.wsBase, token)));
  });

  app.post(telnyxCarrier.paths.status, { onRequest, preHandler: verify }, async (request, reply) => {
    const event = parseTelnyxWebhook(request.body);
    const { eventId, eventType } = event;
    // At-least-once delivery: a retry of an event handled (or being handled) is acknowledged, not run again.
    if (eventId !== undefined && events.claim(eventId) !== 'new') {
      ctx.metrics.webhookDuplicatesTotal.inc({ carrier: 'telnyx' });
      request.log.info({ event: 'telnyx_webhook_duplicate', eventId, eventType }, 'Telnyx webhook delivered again; acknowledged');
      return reply.send({ status: 'duplicate', event_type: eventType });
    }
    try {
      const answer = await handleEvent(request, event);
      if (eventId !== undefined) events.done(eventId);
      return await reply.send(answer);
    } catch (err) {
      if (eventId !== undefined) events.forget(eventId);
      throw err;
    }
  });

  const handleEvent = async (request: FastifyRequest, event: TelnyxWebhook) => {
    // Call records: every call.* event (answered, hangup, AMD...) of a call we know is folded into its record.
    ctx.callControl?.foldTelnyxEvent(event.eventType, event.payload, event.occurredAt);
    const callControlId = inboundCallToAnswer(event);
    if (callControlId === undefined) {
      request.log.debug({ event: 'telnyx_event', eventType: event.eventType }, 'Telnyx event');
      return { status: 'ignored', event_type: event.eventType };
    }
    if (ctx.calls.draining) throw new GatewayError('GW_ERR_HTTP_NOT_READY', 'gateway is shutting down');
    const control = ctx.telnyxCallControl;
    if (!control) throw new GatewayError('GW_ERR_HTTP_NOT_READY', 'TELNYX_API_KEY is not set, so calls cannot be answered');
    const token = ctx.tokens.issue(callControlId, { transport: 'telnyx', leg: 'call_control', egress });
    await ctx.tokens.issued(token);
    const log = request.log.child({ carrierCallId: callControlId });
    const outcome = await answerWithinWebhook(control, callControlId, telnyxStreamSetup(config.telnyx, ctx.wsBase, token), {
      answered: (late) => log.info({ event: 'telnyx_answered', ...(late ? { late } : {}) }, 'answered Telnyx call with media stream'),
      failedLate: (err) => log.warn({ event: 'telnyx_answer_failed', err }, 'Telnyx answer failed after the webhook was acknowledged'),
    });
    ctx.legs?.awaitStream(callControlId, ctx.tokens.ttlMs + STREAM_GRACE_MS);
    return { status: outcome };
  };

  const claimAtUpgrade = async (request: FastifyRequest) => {
    const token = telnyxStreamToken({
      pathToken: (request.params as Record<string, string | undefined>).token,
      headers: request.headers,
      query: request.query as Record<string, string | undefined>,
    });
    const taken = await ctx.tokens.claim(token, 'telnyx');
    if (!taken.ok) {
      // A Call Control leg whose token ran out will never stream: end it rather than leave dead air.
      if (taken.reason === 'expired' && taken.info?.leg === 'call_control' && taken.carrierCallId) ctx.legs?.ended(taken.carrierCallId, 'stream_token_expired');
      if (taken.reason === 'unavailable') {
        // The shared grant store cannot be asked: refused (never waved through), 503 so the carrier may retry.
        throw rejectEdge(ctx, request, 'telnyx_media', new GatewayError('GW_ERR_GRANTS_UNAVAILABLE', 'the stream token cannot be checked'), 'grants_unavailable');
      }
      throw rejectEdge(ctx, request, 'telnyx_media', new GatewayError('GW_ERR_TRANSPORT_BAD_TOKEN', `token ${taken.reason}`), 'bad_token');
    }
    claims.set(request, { carrierCallId: taken.carrierCallId, info: taken.info });
  };

  const onMediaSocket = (socket: Parameters<typeof handleMediaSocket>[0], request: FastifyRequest) => {
    handleMediaSocket(socket, {
      protocol: telnyxCarrier.protocol(),
      calls: ctx.calls,
      tokens: ctx.tokens,
      metrics: ctx.metrics,
      logger: ctx.logger,
      correlationId: request.id,
      limits: config.media,
      claimed: claims.get(request),
      legs: ctx.legs,
    });
  };

  app.get(`${telnyxCarrier.paths.media}/:token`, { websocket: true, preValidation: claimAtUpgrade }, onMediaSocket);
  // Older stream URLs (?token=) and the stream auth header on the bare path.
  app.get(telnyxCarrier.paths.media, { websocket: true, preValidation: claimAtUpgrade }, onMediaSocket);
}
