/**
 * Telnyx: TeXML (/telnyx/texml, the Twilio-like flow) and Call Control (/telnyx/webhook: answer
 * call.initiated through the SDK with a stream URL). Both stream to /telnyx/media?token=...; with
 * TELNYX_PUBLIC_KEY set every webhook must carry a valid Ed25519 signature.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors.js';
import { TelnyxProtocol } from '../../transports/telnyx/protocol.js';
import { rejectEdge, type RouteContext } from '../app.js';
import { handleMediaSocket } from '../media-socket.js';
import { CidrAllowlist } from '../security/allowlist.js';
import { TelnyxVerifier } from '../security/telnyx-signature.js';
import { telnyxConnectStream } from '../twiml.js';
import { allowlistHook, formParams, notDrainingHook } from './edge.js';

export const TELNYX_MEDIA_PATH = '/telnyx/media';

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function registerTelnyxRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { config } = ctx;
  const allowlist = new CidrAllowlist(config.telnyx.allowedCidrs, 'TELNYX_ALLOWED_CIDRS');
  const onRequest = allowlistHook(ctx, allowlist, 'telnyx');
  const verifier = config.telnyx.publicKey
    ? new TelnyxVerifier({ publicKeyBase64: config.telnyx.publicKey, toleranceS: config.telnyx.timestampToleranceS, now: ctx.now })
    : undefined;

  const verify = async (request: FastifyRequest) => {
    if (!verifier) return;
    const verdict = verifier.verify(
      header(request, 'telnyx-signature-ed25519'),
      header(request, 'telnyx-timestamp'),
      request.rawBody ?? '',
    );
    if (!verdict.ok) {
      const code = verdict.reason === 'stale' ? 'GW_ERR_HTTP_STALE_TIMESTAMP' : 'GW_ERR_HTTP_BAD_SIGNATURE';
      throw rejectEdge(ctx, request, 'telnyx', new GatewayError(code, `Telnyx signature ${verdict.reason}`), verdict.reason);
    }
  };

  const streamUrl = (token: string) => `${ctx.wsBase}${TELNYX_MEDIA_PATH}?token=${encodeURIComponent(token)}`;

  app.post('/telnyx/texml', { onRequest: [onRequest, notDrainingHook(ctx)], preHandler: verify }, async (request, reply) => {
    const params = formParams(request.body);
    // TeXML's CallSid is not the call_control_id the media stream reports, so the token binds to no call id.
    const token = ctx.tokens.issue();
    request.log.info({ event: 'telnyx_texml', carrierCallId: params.CallSid }, 'connecting Telnyx call to media stream');
    return reply.type('text/xml').send(telnyxConnectStream(streamUrl(token), config.telnyx.codec));
  });

  app.post('/telnyx/webhook', { onRequest, preHandler: verify }, async (request, reply) => {
    const body = request.body as { data?: { event_type?: unknown; payload?: Record<string, unknown> } } | undefined;
    const eventType = body?.data?.event_type;
    const payload = body?.data?.payload ?? {};
    if (typeof eventType !== 'string') throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', 'data.event_type is missing');
    // Call records: every call.* event (answered, hangup, AMD...) of a call we know is folded into its record.
    const occurredAt = (body?.data as { occurred_at?: unknown } | undefined)?.occurred_at;
    ctx.callControl?.foldTelnyxEvent(eventType, payload, typeof occurredAt === 'string' ? occurredAt : undefined);
    if (eventType === 'call.initiated' && payload.direction !== 'outgoing') {
      const callControlId = payload.call_control_id;
      if (typeof callControlId !== 'string' || callControlId === '') {
        throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', 'data.payload.call_control_id is missing');
      }
      if (ctx.calls.draining) throw new GatewayError('GW_ERR_HTTP_NOT_READY', 'gateway is shutting down');
      if (!ctx.telnyxCallControl) {
        throw new GatewayError('GW_ERR_HTTP_NOT_READY', 'TELNYX_API_KEY is not set, so calls cannot be answered');
      }
      const token = ctx.tokens.issue(callControlId);
      await ctx.telnyxCallControl.answerWithStream(callControlId, { streamUrl: streamUrl(token), codec: config.telnyx.codec });
      request.log.info({ event: 'telnyx_answered', carrierCallId: callControlId }, 'answered Telnyx call with media stream');
      return reply.send({ status: 'answered' });
    }
    request.log.debug({ event: 'telnyx_event', eventType }, 'Telnyx event');
    return reply.send({ status: 'ignored', event_type: eventType });
  });

  app.get(
    TELNYX_MEDIA_PATH,
    {
      websocket: true,
      onRequest,
      preValidation: async (request) => {
        const token = (request.query as Record<string, string | undefined>).token;
        if (!ctx.tokens.peek(token)) {
          throw rejectEdge(ctx, request, 'telnyx_media', new GatewayError('GW_ERR_TRANSPORT_BAD_TOKEN'), 'bad_token');
        }
      },
    },
    (socket, request) => {
      handleMediaSocket(socket, {
        protocol: new TelnyxProtocol(),
        calls: ctx.calls,
        tokens: ctx.tokens,
        metrics: ctx.metrics,
        logger: ctx.logger,
        correlationId: request.id,
        limits: config.media,
        urlToken: (request.query as Record<string, string | undefined>).token,
      });
    },
  );
}
