/**
 * Telnyx Call Control through the official SDK: answer an inbound call with a bidirectional RTP
 * media stream pointed at us, dial an outbound one the same way, hang up, send DTMF. The base URL is
 * configurable so tests point the SDK at a loopback fake of the REST API. A dial is never retried
 * (it is not idempotent); the other commands carry a command_id, so the SDK's one retry is safe.
 */
import { randomUUID } from 'node:crypto';
import Telnyx, { APIConnectionTimeoutError, APIError, APIUserAbortError } from 'telnyx';
import { GatewayError } from '../errors.js';
import { CarrierCallError, withDeadline } from './carrier-errors.js';

export type TelnyxCodec = 'PCMU' | 'PCMA' | 'L16';

export interface TelnyxDial {
  readonly connectionId: string;
  readonly to: string;
  readonly from: string;
  readonly streamUrl: string;
  readonly codec: TelnyxCodec;
  /** Base64, echoed on every webhook of the call: how events find our record before we know the id. */
  readonly clientState: string;
  readonly webhookUrl?: string;
  readonly answeringMachineDetection?: 'detect' | 'detect_beep';
  readonly ringTimeoutS: number;
}

export interface TelnyxCallControl {
  answerWithStream(callControlId: string, opts: { streamUrl: string; codec: TelnyxCodec }): Promise<void>;
  dial(d: TelnyxDial): Promise<{ callControlId: string; callSessionId: string | undefined }>;
  hangup(callControlId: string): Promise<void>;
  sendDtmf(callControlId: string, digits: string, durationMs: number): Promise<void>;
}

function telnyxError(op: string, err: unknown): CarrierCallError {
  if (err instanceof APIConnectionTimeoutError || err instanceof APIUserAbortError) {
    return new CarrierCallError('GW_ERR_CALL_CARRIER_TIMEOUT', { name: 'telnyx', op, message: 'request timed out' }, { cause: err });
  }
  if (err instanceof APIError && typeof err.status === 'number') {
    // Telnyx error bodies: {errors: [{code, title, detail, source}]}.
    const first = (err.error as { errors?: { code?: unknown; title?: unknown; detail?: unknown }[] } | undefined)?.errors?.[0];
    const message = [first?.title, first?.detail].filter((s) => typeof s === 'string' && s !== '').join(': ') || err.message;
    return new CarrierCallError(
      'GW_ERR_CALL_CARRIER_REJECTED',
      { name: 'telnyx', op, status: err.status, code: first?.code === undefined ? undefined : String(first.code), message },
      { cause: err },
    );
  }
  return new CarrierCallError('GW_ERR_CALL_CARRIER_UNREACHABLE', { name: 'telnyx', op, message: (err as Error).message }, { cause: err });
}

export function createTelnyxCallControl(opts: { apiKey: string; baseUrl?: string; timeoutMs?: number }): TelnyxCallControl {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const client = new Telnyx({
    apiKey: opts.apiKey,
    ...(opts.baseUrl ? { baseURL: opts.baseUrl } : {}),
    timeout: timeoutMs,
    maxRetries: 1,
  });

  /** One request with our deadline on top of the SDK's (retries included), abortable. */
  const call = async <T>(op: string, work: (signal: AbortSignal) => Promise<T>, deadlineMs: number): Promise<T> => {
    const abort = new AbortController();
    try {
      return await withDeadline(work(abort.signal), deadlineMs, 'telnyx', op, abort);
    } catch (err) {
      throw err instanceof CarrierCallError ? err : telnyxError(op, err);
    }
  };

  return {
    async answerWithStream(callControlId, { streamUrl, codec }) {
      try {
        await client.calls.actions.answer(callControlId, {
          stream_url: streamUrl,
          stream_track: 'inbound_track',
          stream_codec: codec,
          stream_bidirectional_mode: 'rtp',
          stream_bidirectional_codec: codec,
        });
      } catch (err) {
        throw new GatewayError('GW_ERR_CARRIER_API', `Telnyx answer for ${callControlId}: ${(err as Error).message}`, { cause: err });
      }
    },

    async dial(d) {
      const res = await call(
        'dial',
        (signal) =>
          client.calls.dial(
            {
              connection_id: d.connectionId,
              to: d.to,
              from: d.from,
              stream_url: d.streamUrl,
              stream_track: 'inbound_track',
              stream_codec: d.codec,
              stream_bidirectional_mode: 'rtp',
              stream_bidirectional_codec: d.codec,
              client_state: d.clientState,
              timeout_secs: d.ringTimeoutS,
              ...(d.webhookUrl ? { webhook_url: d.webhookUrl, webhook_url_method: 'POST' as const } : {}),
              ...(d.answeringMachineDetection ? { answering_machine_detection: d.answeringMachineDetection } : {}),
            },
            { maxRetries: 0, signal },
          ),
        timeoutMs + 250,
      );
      const id = res.data?.call_control_id;
      if (!id) {
        throw new CarrierCallError('GW_ERR_CALL_CARRIER_REJECTED', { name: 'telnyx', op: 'dial', message: 'the answer has no data.call_control_id' });
      }
      return { callControlId: id, callSessionId: res.data?.call_session_id };
    },

    async hangup(callControlId) {
      const commandId = randomUUID();
      await call('hangup', (signal) => client.calls.actions.hangup(callControlId, { command_id: commandId }, { signal }), 2 * timeoutMs + 500);
    },

    async sendDtmf(callControlId, digits, durationMs) {
      const commandId = randomUUID();
      await call(
        'send_dtmf',
        (signal) => client.calls.actions.sendDtmf(callControlId, { digits, duration_millis: durationMs, command_id: commandId }, { signal }),
        2 * timeoutMs + 500,
      );
    },
  };
}
