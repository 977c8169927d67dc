/**
 * One media WebSocket: size and rate limits, the protocol state machine (connected -> start -> media
 * ... -> stop), the stream token check, and the bridge to a Call. Anything malformed is rejected,
 * counted by reason and logged (the first few at warn, the rest at debug so a flood cannot flood the
 * log), and the connection goes on; only a missing/invalid token, an inbound codec we cannot decode
 * or a sustained flood closes it. A rejected message changes nothing.
 *
 * Inbound frames are put back in order by their chunk number (Telnyx does not promise order); an L16
 * frame of odd length is refused here, before any decoder sees it. Outbound audio is re-encoded when
 * the carrier was told to expect another codec than it streams to us. When the call ends on our side,
 * a Telnyx Call Control leg is hung up through the carrier (closing the socket does not end it).
 */
import type { WebSocket, RawData } from 'ws';
import { GatewayError, isGatewayError, type ErrorCode } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Call, CallTransport } from '../calls/call.js';
import type { CallManager } from '../calls/call-manager.js';
import type { CarrierLegs } from '../carriers/telnyx/legs.js';
import { pcmCodec } from '../pipeline/codecs/wire-codec.js';
import { EgressTranscoder } from '../transports/egress-transcoder.js';
import type { MediaProtocol, StartEvent, WireFormat } from '../transports/media-events.js';
import { MediaReorder } from '../transports/media-reorder.js';
import { corkableSocketOf } from '../transports/socket-cork.js';
import { StreamTokens, type MediaTransport, type StreamGrantInfo } from './security/stream-tokens.js';
import { markMediaStarted } from './media-guard.js';

/** Close codes: 1008 policy violation (token, flood), 1003 unsupported data, 1013 try again later. */
export const CLOSE_POLICY = 1008;
export const CLOSE_UNSUPPORTED = 1003;
export const CLOSE_DRAINING = 1013;

/** A token the route already took (spent) at the WebSocket upgrade; `start` must be for its call. */
export interface ClaimedGrant {
  readonly carrierCallId: string | undefined;
  readonly info: StreamGrantInfo;
}

export interface MediaSocketContext {
  readonly protocol: MediaProtocol;
  readonly calls: CallManager;
  readonly tokens: StreamTokens;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly correlationId: string;
  readonly limits: { maxMessageBytes: number; maxMessagesPerSecond: number };
  /** Telnyx: the token from the path or auth header, spent at upgrade. Twilio's arrives in start.customParameters.token. */
  readonly claimed?: ClaimedGrant;
  /** Hangs up Call Control legs when their call ends on our side. */
  readonly legs?: CarrierLegs;
}

const LOUD_REJECTIONS = 5;
const FLOOD_CLOSE_FACTOR = 4;
/** Frames held waiting for a missing one before it is given up (3 x 20 ms). */
const REORDER_WINDOW = 3;
/** Messages kept while a start's token is checked in the shared store (~2 s of 20 ms frames). */
const MAX_HELD = 100;

interface Inbound {
  payload: Uint8Array;
  /** The payload as the carrier sent it (see Call.handleMedia). */
  base64: string;
  receivedAtMs: number;
}

export function handleMediaSocket(socket: WebSocket, ctx: MediaSocketContext): void {
  const transport = ctx.protocol.transport;
  const log = ctx.logger.child({ transport, correlationId: ctx.correlationId });
  let call: Call | undefined;
  let started = false;
  let bytesPerSample = 1;
  const reorder = new MediaReorder<Inbound>(REORDER_WINDOW);
  let rejections = 0;
  let windowStart = Date.now();
  let windowCount = 0;
  let receivedAtMs = 0;

  const reject = (code: ErrorCode | string, detail: string) => {
    ctx.metrics.mediaRejectedTotal.inc({ transport, reason: code });
    rejections++;
    const fields = { event: 'media_rejected', reason: code, detail: detail.slice(0, 200), callId: call?.id };
    if (rejections <= LOUD_REJECTIONS) log.warn(fields, 'media message rejected');
    else log.debug(fields, 'media message rejected');
  };

  const closeWith = (code: number, reason: string) => {
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, reason);
  };

  /**
   * Messages that arrive while a start's token is checked in the shared grant store (REDIS_URL) wait
   * here, in order, and are handled once it answers; bounded, so a flood cannot pile up behind it.
   */
  let held: [RawData, boolean][] | undefined;

  socket.on('message', (data: RawData, isBinary: boolean) => {
    if (held) {
      if (held.length < MAX_HELD) held.push([data, isBinary]);
      else reject('GW_ERR_TRANSPORT_RATE_LIMITED', 'messages while the stream token is checked');
      return;
    }
    onMessage(data, isBinary);
  });

  const onMessage = (data: RawData, isBinary: boolean) => {
    receivedAtMs = performance.now();
    const now = Date.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      windowCount = 0;
    }
    windowCount++;
    if (windowCount > ctx.limits.maxMessagesPerSecond) {
      reject('GW_ERR_TRANSPORT_RATE_LIMITED', `${String(windowCount)} messages this second`);
      if (windowCount > ctx.limits.maxMessagesPerSecond * FLOOD_CLOSE_FACTOR) closeWith(CLOSE_POLICY, 'message flood');
      return;
    }
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer | ArrayBuffer).byteLength;
    if (size > ctx.limits.maxMessageBytes) {
      reject('GW_ERR_TRANSPORT_FRAME_TOO_LARGE', `${String(size)} bytes > ${String(ctx.limits.maxMessageBytes)}`);
      return;
    }
    if (isBinary) {
      reject('GW_ERR_TRANSPORT_BAD_MESSAGE', 'binary frame on a JSON media stream');
      return;
    }
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : data.toString();
    try {
      onEvent(text);
    } catch (err) {
      if (isGatewayError(err)) reject(err.code, err.message);
      else {
        reject('internal', (err as Error).message);
        log.error({ event: 'media_handler_failed', err }, 'media handler failed');
      }
    }
  };

  /** The grant this start may use: the one taken at upgrade, or the token in its custom parameters. */
  const grantFor = (ev: StartEvent): StreamGrantInfo | undefined | Promise<StreamGrantInfo | undefined> => {
    if (ctx.claimed) return StreamTokens.fits(ctx.claimed.carrierCallId, ev.carrierCallId) ? ctx.claimed.info : undefined;
    return ctx.tokens.redeem(ev.customParameters.token, ev.carrierCallId, transport as MediaTransport);
  };

  const onStart = (ev: StartEvent) => {
    // Checked before anything changes: a second start is refused and leaves the stream as it was.
    if (started) throw new GatewayError('GW_ERR_TRANSPORT_OUT_OF_ORDER', 'second start on one stream');
    if (ctx.calls.draining) {
      reject('draining', 'gateway is shutting down');
      closeWith(CLOSE_DRAINING, 'gateway is shutting down');
      return;
    }
    const granted = grantFor(ev);
    started = true;
    if (!(granted instanceof Promise)) {
      startWith(ev, granted);
      return;
    }
    // Shared grants: hold what follows until the store answers, then go on in order.
    held = [];
    void granted.then(
      (grant) => {
        try {
          if (socket.readyState === socket.OPEN) startWith(ev, grant);
        } catch (err) {
          reject(isGatewayError(err) ? err.code : 'internal', (err as Error).message);
          if (!isGatewayError(err)) log.error({ event: 'media_handler_failed', err }, 'media handler failed');
        }
        const queued = held ?? [];
        held = undefined;
        for (const [data, isBinary] of queued) onMessage(data, isBinary);
      },
    );
  };

  const startWith = (ev: StartEvent, grant: StreamGrantInfo | undefined) => {
    if (!grant) {
      const presented = ctx.claimed !== undefined || ev.customParameters.token !== undefined;
      reject('GW_ERR_TRANSPORT_BAD_TOKEN', presented ? 'unknown, expired, reused, for another call or another transport' : 'no token');
      closeWith(CLOSE_POLICY, 'invalid stream token');
      return;
    }
    if (ev.format instanceof GatewayError) {
      // Never silence: a stream we cannot decode is refused, and the leg is hung up so the caller is not left in dead air.
      reject(ev.format.code, ev.format.message);
      log.error({ event: 'media_codec_refused', code: ev.format.code, detail: ev.format.message, carrierCallId: ev.carrierCallId }, 'inbound audio is in a codec we cannot decode; refusing the call');
      closeWith(CLOSE_UNSUPPORTED, 'unsupported codec');
      if (grant.leg === 'call_control') ctx.legs?.ended(ev.carrierCallId, 'unsupported_codec');
      return;
    }
    bytesPerSample = pcmCodec(ev.format.codec).bytesPerSample;
    ctx.protocol.started(ev);
    if (grant.leg === 'call_control') ctx.legs?.streaming(ev.carrierCallId);
    call = ctx.calls.create({
      carrierCallId: ev.carrierCallId,
      correlationId: ctx.correlationId,
      transport: socketTransport(socket, ctx, ev.format, grant, ev.carrierCallId),
      customParameters: ev.customParameters,
      grant,
    });
    markMediaStarted(socket);
  };

  const onMedia = (c: Call, payload: Uint8Array, base64: string, chunk: number | undefined) => {
    if (bytesPerSample === 2 && payload.length % 2 !== 0) {
      // Half a sample would throw in the decoder and take the call's graph down with it.
      reject('GW_ERR_AUDIO_ODD_LENGTH', `L16 payload of ${String(payload.length)} bytes`);
      return;
    }
    const { out, verdict } = reorder.push(chunk, { payload, base64, receivedAtMs });
    if (verdict === 'reordered') ctx.metrics.mediaReorderedTotal.inc({ transport });
    else if (verdict === 'late' || verdict === 'duplicate') ctx.metrics.mediaLateTotal.inc({ transport, kind: verdict });
    for (const f of out) c.handleMedia(f.payload, f.receivedAtMs, f.base64);
  };

  const onEvent = (text: string) => {
    const ev = ctx.protocol.parse(text);
    switch (ev.type) {
      case 'connected':
        return;
      case 'start':
        return onStart(ev);
      case 'ignored':
        if (ev.what === 'carrier_error') log.warn({ event: 'carrier_stream_error', detail: ev.detail, callId: call?.id }, 'the carrier reported a media stream error');
        return;
      case 'stop':
        if (!call) throw new GatewayError('GW_ERR_TRANSPORT_OUT_OF_ORDER', 'stop before start');
        // Frames held for a gap that will not fill now still reach the call (its recording, the provider).
        for (const f of reorder.flush()) call.handleMedia(f.payload, f.receivedAtMs, f.base64);
        void call.end('caller_hangup');
        return;
      default:
        if (!call) throw new GatewayError('GW_ERR_TRANSPORT_OUT_OF_ORDER', `${ev.type} before start`);
        if (ev.type === 'media') onMedia(call, ev.payload, ev.base64, ev.chunk);
        else if (ev.type === 'mark') call.handleMark(ev.name);
        else call.handleDtmf(ev.digit);
    }
  };

  socket.on('close', () => {
    if (call) void call.end('socket_closed');
  });
  socket.on('error', (err) => log.warn({ event: 'media_socket_error', err }, 'media socket error'));
}

function socketTransport(socket: WebSocket, ctx: MediaSocketContext, format: WireFormat, grant: StreamGrantInfo, carrierCallId: string): CallTransport {
  const { protocol } = ctx;
  const send = (text: string) => {
    if (socket.readyState === socket.OPEN) socket.send(text);
  };
  const transcoder = EgressTranscoder.needed(format, grant.egress) ? new EgressTranscoder(format, grant.egress) : undefined;
  const tcp = corkableSocketOf(socket);
  return {
    name: protocol.transport,
    format,
    sendMedia: transcoder
      ? (payload) => {
          const out = transcoder.process(payload);
          if (out.length > 0) send(protocol.media(out));
        }
      : (payload) => send(protocol.media(payload)),
    sendMark: (name) => send(protocol.mark(name)),
    sendClear: () => send(protocol.clear()),
    cork: () => tcp?.cork(),
    uncork: () => tcp?.uncork(),
    // Twilio and Telnyx drop the audio they hold on `clear`: a long lead costs nothing at barge-in.
    dropsBufferOnClear: true,
    // Twilio plays a media payload of any length; Telnyx takes 20 ms to 30 s per chunk in RTP mode.
    multiFrameMedia: true,
    close: (code = 1000, reason = '') => {
      if (socket.readyState === socket.OPEN) socket.close(code, reason.slice(0, 120));
      // A Call Control leg outlives our socket: end it at the carrier too (once, with the reason).
      if (grant.leg === 'call_control') ctx.legs?.ended(carrierCallId, reason || 'socket_closed');
    },
  };
}
