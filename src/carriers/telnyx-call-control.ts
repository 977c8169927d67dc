/**
 * Telnyx Call Control through the official SDK. Only what the gateway does to a call lives here:
 * answering with a bidirectional RTP media stream pointed at us. The base URL is configurable so
 * tests point the SDK at a loopback fake of the REST API.
 */
import Telnyx from 'telnyx';
import { GatewayError } from '../errors.js';

export interface TelnyxCallControl {
  answerWithStream(callControlId: string, opts: { streamUrl: string; codec: 'PCMU' | 'PCMA' | 'L16' }): Promise<void>;
}

export function createTelnyxCallControl(opts: { apiKey: string; baseUrl?: string; timeoutMs?: number }): TelnyxCallControl {
  const client = new Telnyx({
    apiKey: opts.apiKey,
    ...(opts.baseUrl ? { baseURL: opts.baseUrl } : {}),
    timeout: opts.timeoutMs ?? 10_000,
    maxRetries: 1,
  });
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
  };
}
