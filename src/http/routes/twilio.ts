/**
 * Twilio: the voice webhook answers TwiML that connects the call's media to /twilio/media with a
 * one-time stream token (as a <Parameter>, the only place Twilio documents for values: "no query
 * string in the Stream url"); the media WebSocket speaks Twilio Media Streams. With TWILIO_AUTH_TOKEN
 * set, the webhook and the WebSocket handshake must carry a valid X-Twilio-Signature.
 *
 * TWILIO_ALLOWED_CIDRS gates the webhooks only: Twilio's media WebSockets come from addresses it does
 * not publish, so the media route is guarded by the handshake signature and the one-time token.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors.js';
import { twilioCarrier } from '../../carriers/twilio/index.js';
import { rejectEdge, type RouteContext } from '../route-context.js';
import { handleMediaSocket } from '../media-socket.js';
import { CidrAllowlist } from '../security/allowlist.js';
import { verifyTwilioWebhook } from '../../carriers/twilio/signature.js';
import { twilioConnectStream, twilioMediaUrl } from '../../carriers/twilio/media-stream.js';
import { allowlistHook, formParams, notDrainingHook } from './edge.js';


export function registerTwilioRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { config } = ctx;
  const present = (values: (string | undefined)[]): string[] => values.filter((t): t is string => !!t);
  const secrets = {
    tokens: present([config.twilio.authToken, config.twilio.authTokenPrevious]),
    sharedKeySecrets: present([config.twilio.sharedKeySecret, config.twilio.sharedKeySecretPrevious]),
  };
  const allowlist = new CidrAllowlist(config.twilio.allowedCidrs, 'TWILIO_ALLOWED_CIDRS');
  const onRequest = allowlistHook(ctx, allowlist, 'twilio');

  /** `body`: a webhook (its body is signed too); none: the media socket's handshake. */
  const verify = (request: FastifyRequest, route: string, url: string, body: boolean) => {
    const verdict = verifyTwilioWebhook(secrets, {
      headers: request.headers,
      url,
      body: body ? { contentType: request.headers['content-type'], raw: request.rawBody } : undefined,
    });
    if (!verdict.ok) {
      throw rejectEdge(ctx, request, route, new GatewayError('GW_ERR_HTTP_BAD_SIGNATURE', `X-Twilio-Signature ${verdict.reason}`), verdict.reason);
    }
  };

  app.post(twilioCarrier.paths.voice, { onRequest: [onRequest, notDrainingHook(ctx)] }, async (request, reply) => {
    const params = formParams(request.body);
    verify(request, 'twilio_voice', config.publicUrl + request.url, true);
    const callSid = params.CallSid;
    if (!callSid) throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', 'CallSid is missing');
    const token = ctx.tokens.issue(callSid, { transport: 'twilio', leg: 'stream_verb' });
    // Shared grants (REDIS_URL): answer only once any node can accept the stream.
    await ctx.tokens.issued(token);
    request.log.info({ event: 'twilio_voice', carrierCallId: callSid }, 'connecting Twilio call to media stream');
    return reply.type('text/xml').send(twilioConnectStream(twilioMediaUrl(ctx.wsBase), { token }));
  });

  // Call records: Twilio's statusCallback (and async AMD result) for calls we placed, signed like the
  // voice webhook. Our callback URL carries ?callId= so it finds the record before the CallSid is known.
  app.post(twilioCarrier.paths.status, { onRequest }, async (request, reply) => {
    const params = formParams(request.body);
    verify(request, 'twilio_status', config.publicUrl + request.url, true);
    if (!params.CallSid) throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', 'CallSid is missing');
    const callId = (request.query as Record<string, string | undefined>).callId;
    const outcome = ctx.callControl?.foldTwilioStatus(params, callId) ?? 'ignored';
    request.log.debug({ event: 'twilio_status', carrierCallId: params.CallSid, status: params.CallStatus, outcome }, 'Twilio status callback');
    return reply.code(204).send();
  });

  app.get(
    twilioCarrier.paths.media,
    {
      websocket: true,
      // No allowlist: media sockets come from any public address (see the header comment). Twilio signs the handshake over the wss:// URL with no params.
      preValidation: async (request) => verify(request, 'twilio_media', twilioMediaUrl(ctx.wsBase), false),
    },
    (socket, request) => {
      handleMediaSocket(socket, {
        protocol: twilioCarrier.protocol(),
        calls: ctx.calls,
        tokens: ctx.tokens,
        metrics: ctx.metrics,
        logger: ctx.logger,
        correlationId: request.id,
        limits: config.media,
        legs: ctx.legs,
      });
    },
  );
}
