/**
 * One media WebSocket: size and rate limits, the protocol state machine (connected -> start -> media
 * ... -> stop), the stream token check, and the bridge to a Call. Anything malformed is rejected,
 * counted by reason and logged (the first few at warn, the rest at debug so a flood cannot flood the
 * log), and the connection goes on; only a missing/invalid token or a sustained flood closes it.
 */
import type { WebSocket, RawData } from 'ws';
import { GatewayError, isGatewayError, type ErrorCode } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Call, CallTransport } from '../calls/call.js';
import type { CallManager } from '../calls/call-manager.js';
import type { MediaProtocol, WireFormat } from '../transports/media-events.js';
import type { StreamTokens } from './security/stream-tokens.js';
import { markMediaStarted } from './media-guard.js';

/** Close codes: 1008 policy violation (token, flood), 1003 unsupported data, 1013 try again later. */
export const CLOSE_POLICY = 1008;
export const CLOSE_UNSUPPORTED = 1003;
export const CLOSE_DRAINING = 1013;

export interface MediaSocketContext {
  readonly protocol: MediaProtocol;
  readonly calls: CallManager;
  readonly tokens: StreamTokens;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly correlationId: string;
  readonly limits: { maxMessageBytes: number; maxMessagesPerSecond: number };
  /** A token presented in the URL (Telnyx); Twilio's arrives in start.customParameters.token. */
  readonly urlToken?: string;
}

const LOUD_REJECTIONS = 5;
const FLOOD_CLOSE_FACTOR = 4;

export function handleMediaSocket(socket: WebSocket, ctx: MediaSocketContext): void {
  const transport = ctx.protocol.transport;
  const log = ctx.logger.child({ transport, correlationId: ctx.correlationId });
  let call: Call | undefined;
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

  socket.on('message', (data: RawData, isBinary: boolean) => {
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
  });

  const onEvent = (text: string) => {
    const ev = ctx.protocol.parse(text);
    switch (ev.type) {
      case 'connected':
        return;
      case 'start': {
        if (call) throw new GatewayError('GW_ERR_TRANSPORT_OUT_OF_ORDER', 'second start on one stream');
        if (ctx.calls.draining) {
          reject('draining', 'gateway is shutting down');
          closeWith(CLOSE_DRAINING, 'gateway is shutting down');
          return;
        }
        const token = ev.customParameters.token ?? ctx.urlToken;
        const grant = ctx.tokens.consume(token, ev.carrierCallId);
        if (!grant) {
          reject('GW_ERR_TRANSPORT_BAD_TOKEN', token ? 'unknown, expired, reused or for another call' : 'no token');
          closeWith(CLOSE_POLICY, 'invalid stream token');
          return;
        }
        call = ctx.calls.create({
          carrierCallId: ev.carrierCallId,
          correlationId: ctx.correlationId,
          transport: socketTransport(socket, ctx.protocol, ev.format),
          customParameters: ev.customParameters,
          grant,
        });
        markMediaStarted(socket);
        return;
      }
      case 'stop':
        if (!call) throw new GatewayError('GW_ERR_TRANSPORT_OUT_OF_ORDER', 'stop before start');
        void call.end('caller_hangup');
        return;
      default:
        if (!call) throw new GatewayError('GW_ERR_TRANSPORT_OUT_OF_ORDER', `${ev.type} before start`);
        if (ev.type === 'media') call.handleMedia(ev.payload, receivedAtMs);
        else if (ev.type === 'mark') call.handleMark(ev.name);
        else call.handleDtmf(ev.digit);
    }
  };

  socket.on('close', () => {
    if (call) void call.end('socket_closed');
  });
  socket.on('error', (err) => log.warn({ event: 'media_socket_error', err }, 'media socket error'));
}

function socketTransport(socket: WebSocket, protocol: MediaProtocol, format: WireFormat): CallTransport {
  const send = (text: string) => {
    if (socket.readyState === socket.OPEN) socket.send(text);
  };
  return {
    name: protocol.transport,
    format,
    sendMedia: (payload) => send(protocol.media(payload)),
    sendMark: (name) => send(protocol.mark(name)),
    sendClear: () => send(protocol.clear()),
    close: (code = 1000, reason = '') => {
      if (socket.readyState === socket.OPEN) socket.close(code, reason.slice(0, 120));
    },
  };
}
