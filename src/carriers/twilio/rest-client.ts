/**
 * Twilio's Calls API through the official SDK: place a call whose TwiML connects its media to us,
 * and hang one up. The API base URL is configurable (tests point it at a loopback fake): twilio-node
 * has no base-URL option, so a RequestClient subclass (its documented custom-HTTP-client hook)
 * re-bases api.twilio.com URLs. Nothing is retried: a dial is not idempotent.
 */
import type twilio from 'twilio';
import { lazyImport } from '../../util/lazy-import.js';
import { CarrierCallError, isTimeoutCode, networkCode, withDeadline } from '../carrier-errors.js';

/** The SDK: loaded at start-up when the Calls API has credentials (gateway.ts), never otherwise. */
export const twilioSdk = lazyImport(async () => (await import('twilio')).default);

export interface TwilioDial {
  readonly to: string;
  readonly from: string;
  readonly twiml: string;
  /** Where Twilio posts call progress (signed like the voice webhook). */
  readonly statusCallback?: string;
  /** Answering-machine detection, run asynchronously so the media starts at once. */
  readonly machineDetection?: 'Enable' | 'DetectMessageEnd';
  readonly amdCallback?: string;
  readonly ringTimeoutS: number;
}

export interface TwilioCalls {
  dial(d: TwilioDial): Promise<{ sid: string; status: string }>;
  /** `completed` ends an answered call; `canceled` one still queued or ringing. */
  hangup(callSid: string, status: 'completed' | 'canceled'): Promise<void>;
}

export interface TwilioCallsOptions {
  readonly accountSid: string;
  readonly authToken: string;
  /** e.g. http://127.0.0.1:PORT for a fake; default https://api.twilio.com. */
  readonly baseUrl?: string;
  readonly timeoutMs: number;
  /** Counts every command (voice_gateway_carrier_commands_total). */
  readonly commands?: { inc(labels: { carrier: string; command: string; status: string }): void };
}

type RequestOptions = Parameters<twilio.RequestClient['request']>[0];

/** The SDK's RequestClient re-basing api.twilio.com URLs onto `base` (made once the SDK is loaded). */
function rebasedRequestClient(sdk: typeof twilio, base: string, opts: ConstructorParameters<typeof twilio.RequestClient>[0]): twilio.RequestClient {
  const baseUrl = new URL(base);
  class RebasedRequestClient extends sdk.RequestClient {
    override request<TData>(req: RequestOptions & { data?: TData }) {
      const url = new URL(req.uri);
      if (url.hostname === 'api.twilio.com') {
        const rebased = new URL(baseUrl.href.replace(/\/+$/, '') + url.pathname + url.search);
        return super.request<TData>({ ...req, uri: rebased.href });
      }
      return super.request<TData>(req);
    }
  }
  return new RebasedRequestClient(opts);
}

function twilioError(op: string, err: unknown): CarrierCallError {
  const e = err as { status?: unknown; code?: unknown; message?: unknown; moreInfo?: unknown };
  if (typeof e.status === 'number' && e.status >= 400) {
    // RestException: Twilio answered with an error body {code, message, more_info, status}.
    return new CarrierCallError(
      'GW_ERR_CALL_CARRIER_REJECTED',
      { name: 'twilio', op, status: e.status, code: e.code === undefined ? undefined : String(e.code), message: String(e.message ?? 'error') },
      { cause: err },
    );
  }
  const code = networkCode(err);
  if (isTimeoutCode(code)) {
    return new CarrierCallError('GW_ERR_CALL_CARRIER_TIMEOUT', { name: 'twilio', op, message: `request timed out (${String(code)})` }, { cause: err });
  }
  return new CarrierCallError('GW_ERR_CALL_CARRIER_UNREACHABLE', { name: 'twilio', op, message: `${code ?? 'request failed'}: ${String(e.message ?? err)}` }, { cause: err });
}

export function createTwilioCalls(opts: TwilioCallsOptions): TwilioCalls {
  const httpOpts = { timeout: opts.timeoutMs, autoRetry: false };
  // One client for every command, made once the SDK is there.
  const clientOf = lazyImport(async () => {
    const sdk = await twilioSdk();
    return sdk(opts.accountSid, opts.authToken, {
      autoRetry: false,
      timeout: opts.timeoutMs,
      ...(opts.baseUrl ? { httpClient: rebasedRequestClient(sdk, opts.baseUrl, httpOpts) } : {}),
    });
  });
  // Our own deadline as well as the SDK's socket timeout, so a hung carrier answers 504 on time.
  const deadlineMs = opts.timeoutMs + 250;

  const count = (command: string, err?: unknown) => {
    const e = err === undefined ? undefined : err instanceof CarrierCallError ? err : twilioError(command, err);
    const status =
      e === undefined ? 'ok' : e.carrier.status === 404 ? 'gone' : e.code === 'GW_ERR_CALL_CARRIER_REJECTED' ? 'rejected' : e.code === 'GW_ERR_CALL_CARRIER_TIMEOUT' ? 'timeout' : 'unreachable';
    opts.commands?.inc({ carrier: 'twilio', command, status });
    return e;
  };

  return {
    async dial(d) {
      try {
        const twilioClient = await clientOf();
        const call = await withDeadline(
          twilioClient.calls.create({
            to: d.to,
            from: d.from,
            twiml: d.twiml,
            timeout: d.ringTimeoutS,
            ...(d.statusCallback
              ? { statusCallback: d.statusCallback, statusCallbackMethod: 'POST', statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'] }
              : {}),
            ...(d.machineDetection
              ? { machineDetection: d.machineDetection, asyncAmd: 'true', ...(d.amdCallback ? { asyncAmdStatusCallback: d.amdCallback, asyncAmdStatusCallbackMethod: 'POST' } : {}) }
              : {}),
          }),
          deadlineMs,
          'twilio',
          'dial',
        );
        count('dial');
        return { sid: call.sid, status: String(call.status) };
      } catch (err) {
        throw count('dial', err)!;
      }
    },

    async hangup(callSid, status) {
      try {
        const twilioClient = await clientOf();
        await withDeadline(twilioClient.calls(callSid).update({ status }), deadlineMs, 'twilio', 'hangup');
        count('hangup');
      } catch (err) {
        throw count('hangup', err)!;
      }
    },
  };
}
