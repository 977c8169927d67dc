/**
 * Telnyx Call Control through the official SDK: answer an inbound call with a bidirectional RTP
 * media stream pointed at us, dial an outbound one the same way, hang up, send DTMF. The base URL is
 * configurable so tests point the SDK at a loopback fake of the REST API. A dial is never retried
 * (it is not idempotent); the other commands carry a command_id, so the SDK's one retry is safe.
 */
import { createHash, randomUUID } from 'node:crypto';
import type * as TelnyxSdk from 'telnyx';
import type Telnyx from 'telnyx';
import { lazyImport } from '../../util/lazy-import.js';
import { CarrierCallError, carrierErrorOutcome, withDeadline } from '../carrier-errors.js';

/** The SDK: loaded at start-up when TELNYX_API_KEY is set (gateway.ts), never otherwise. */
export const telnyxSdk = lazyImport(() => import('telnyx'));

export type TelnyxCodec = 'PCMU' | 'PCMA' | 'L16';

/**
 * How the stream is set up on answer and dial. Both codecs are given explicitly: `stream_codec` is
 * what Telnyx sends us, `stream_bidirectional_codec` what it expects back; Telnyx's default for the
 * latter is PCMU whatever the call uses, so leaving it out plays A-law as mu-law
 * (ActionAnswerParams / CallDialParams in telnyx-node 7, resources/calls/actions.d.ts, calls.d.ts).
 */
export interface TelnyxStreamSetup {
  readonly streamUrl: string;
  readonly codec: TelnyxCodec;
  readonly bidirectionalCodec: TelnyxCodec;
  /**
   * Only for L16 (stream_bidirectional_sampling_rate: 8000 | 16000 | ... in the SDK types). Dial and
   * streaming_start take it; answer does not (ActionAnswerParams has no such field), so a call
   * answered for L16 starts its stream with streaming_start (answerWithStream).
   */
  readonly bidirectionalSamplingRate?: 8000 | 16000;
}

export interface TelnyxDial extends TelnyxStreamSetup {
  readonly connectionId: string;
  readonly to: string;
  readonly from: string;
  /** Base64, echoed on every webhook of the call: how events find our record before we know the id. */
  readonly clientState: string;
  readonly webhookUrl?: string;
  readonly answeringMachineDetection?: 'detect' | 'detect_beep';
  readonly ringTimeoutS: number;
  /** "Telnyx will ignore other Dial commands with the same command_id" (CallDialParams.command_id). */
  readonly commandId?: string;
}

export interface TelnyxCallControl {
  answerWithStream(callControlId: string, setup: TelnyxStreamSetup): Promise<void>;
  dial(d: TelnyxDial): Promise<{ callControlId: string; callSessionId: string | undefined }>;
  hangup(callControlId: string): Promise<void>;
  sendDtmf(callControlId: string, digits: string, durationMs: number, commandId?: string): Promise<void>;
}

/** Counts every command (voice_gateway_carrier_commands_total); optional so tests can omit it. */
export interface CommandCounter {
  inc(labels: { carrier: string; command: string; status: string }): void;
}

/**
 * A command id that is the same every time we send `op` for this call: Telnyx "will ignore any command
 * with the same command_id for the same call_control_id" (ActionAnswerParams.command_id,
 * ActionHangupParams.command_id in telnyx-node 7; "Commands with duplicate command_ids within 60
 * seconds will be ignored": https://developers.telnyx.com/docs/voice/programmable-voice/receiving-webhooks),
 * so a retried webhook's answer, or a hangup sent by both the API and the closing socket, runs once.
 * Shaped as a UUID.
 */
export function commandIdFor(op: string, callControlId: string): string {
  const h = createHash('sha256').update(`${op}\u0000${callControlId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The call is over at Telnyx: 422 with code 90018 "Call has already ended". */
export function isCallGone(err: unknown): boolean {
  return err instanceof CarrierCallError && err.carrier.name === 'telnyx' && err.carrier.code === '90018';
}

/** The `status` label of a Telnyx command: ok, gone (call already ended), or the shared carrier outcome. */
export function commandStatus(err: unknown): string {
  if (err === undefined) return 'ok';
  if (isCallGone(err)) return 'gone';
  // Only the REST client's own errors carry a carrier outcome; anything else thrown here is a bug.
  return err instanceof CarrierCallError ? carrierErrorOutcome(err) : 'error';
}

function streamParams(s: TelnyxStreamSetup) {
  return {
    stream_url: s.streamUrl,
    stream_track: 'inbound_track' as const,
    stream_codec: s.codec,
    stream_bidirectional_mode: 'rtp' as const,
    stream_bidirectional_codec: s.bidirectionalCodec,
    ...(s.bidirectionalCodec === 'L16' && s.bidirectionalSamplingRate ? { stream_bidirectional_sampling_rate: s.bidirectionalSamplingRate } : {}),
  };
}

function telnyxError(sdk: typeof TelnyxSdk | undefined, op: string, err: unknown): CarrierCallError {
  if (!sdk) return new CarrierCallError('GW_ERR_CALL_CARRIER_UNREACHABLE', { name: 'telnyx', op, message: `the Telnyx SDK did not load: ${(err as Error).message}` }, { cause: err });
  const { APIConnectionTimeoutError, APIError, APIUserAbortError } = sdk;
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

export function createTelnyxCallControl(opts: { apiKey: string; baseUrl?: string; timeoutMs?: number; commands?: CommandCounter }): TelnyxCallControl {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  /** The SDK once loaded, for telling its error classes apart. */
  let sdk: typeof TelnyxSdk | undefined;
  // One client for every command, made once the SDK is there.
  const clientOf = lazyImport(async () => {
    sdk = await telnyxSdk();
    return new sdk.default({
      apiKey: opts.apiKey,
      ...(opts.baseUrl ? { baseURL: opts.baseUrl } : {}),
      timeout: timeoutMs,
      maxRetries: 1,
    });
  });

  /** One request with our deadline on top of the SDK's (retries included), abortable, counted. */
  const call = async <T>(op: string, work: (client: Telnyx, signal: AbortSignal) => Promise<T>, deadlineMs: number): Promise<T> => {
    const abort = new AbortController();
    try {
      const client = await clientOf();
      const result = await withDeadline(work(client, abort.signal), deadlineMs, 'telnyx', op, abort);
      opts.commands?.inc({ carrier: 'telnyx', command: op, status: 'ok' });
      return result;
    } catch (err) {
      const e = err instanceof CarrierCallError ? err : telnyxError(sdk, op, err);
      opts.commands?.inc({ carrier: 'telnyx', command: op, status: commandStatus(e) });
      throw e;
    }
  };

  return {
    async answerWithStream(callControlId, setup) {
      const answerId = commandIdFor('answer', callControlId);
      const params = streamParams(setup);
      if (!('stream_bidirectional_sampling_rate' in params)) {
        await call('answer', (client, signal) => client.calls.actions.answer(callControlId, { ...params, command_id: answerId }, { signal }), 2 * timeoutMs + 500);
        return;
      }
      // The rate of the L16 we send is a streaming_start (and dial) parameter, never an answer one:
      // answered with the stream, Telnyx would play our 16 kHz audio at its own default rate.
      await call('answer', (client, signal) => client.calls.actions.answer(callControlId, { command_id: answerId }, { signal }), 2 * timeoutMs + 500);
      const streamId = commandIdFor('streaming_start', callControlId);
      await call('streaming_start', (client, signal) => client.calls.actions.startStreaming(callControlId, { ...params, command_id: streamId }, { signal }), 2 * timeoutMs + 500);
    },

    async dial(d) {
      const res = await call(
        'dial',
        (client, signal) =>
          client.calls.dial(
            {
              connection_id: d.connectionId,
              to: d.to,
              from: d.from,
              ...streamParams(d),
              client_state: d.clientState,
              ...(d.commandId ? { command_id: d.commandId } : {}),
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
      // One hangup per call, however many paths ask for it (see commandIdFor).
      const commandId = commandIdFor('hangup', callControlId);
      await call('hangup', (client, signal) => client.calls.actions.hangup(callControlId, { command_id: commandId }, { signal }), 2 * timeoutMs + 500);
    },

    async sendDtmf(callControlId, digits, durationMs, commandId = randomUUID()) {
      // One id per request to send digits, reused by the SDK's retry: two requests are two sends.
      await call(
        'send_dtmf',
        (client, signal) => client.calls.actions.sendDtmf(callControlId, { digits, duration_millis: durationMs, command_id: commandId }, { signal }),
        2 * timeoutMs + 500,
      );
    },
  };
}
