/**
 * The carrier knowledge the HTTP routes hand to src/carriers (issue 15): Telnyx's webhook envelope,
 * which event is a call to answer, answering within the webhook's wait, where a media socket's token
 * is; Twilio's request signature over a webhook or a handshake; the call control API's bodies.
 * The routes themselves are covered through the gateway in test/http/webhooks.test.ts and api.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { parseDtmfRequest, parseOutboundRequest } from '../../src/carriers/call-requests.js';
import type { TelnyxCallControl } from '../../src/carriers/telnyx/call-control.js';
import { TELNYX_STREAM_AUTH_HEADER, telnyxStreamToken } from '../../src/carriers/telnyx/media-stream.js';
import { answerWithinWebhook, inboundCallToAnswer, parseTelnyxWebhook } from '../../src/carriers/telnyx/webhook.js';
import { TWILIO_SIGNATURE_HEADER, twilioSignature, verifyTwilioWebhook } from '../../src/carriers/twilio/signature.js';

// The envelope of https://developers.telnyx.com/docs/voice/programmable-voice/receiving-webhooks (its call.initiated example).
const INITIATED = {
  data: {
    event_type: 'call.initiated',
    id: '0ccc7b54-4df3-4bca-a65a-3da1ecc777f0',
    occurred_at: '2018-02-02T22:25:27.521992Z',
    payload: {
      call_control_id: 'v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg',
      connection_id: '7267xxxxxxxxxxxxxx',
      direction: 'incoming',
      from: '+18005550101',
      state: 'parked',
      to: '+18005550199',
    },
    record_type: 'event',
  },
  meta: { attempt: 1, delivered_to: 'http://example.com/webhooks' },
};

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as GatewayError).code;
  }
  return undefined;
};

describe('Telnyx webhooks (carriers/telnyx/webhook.ts)', () => {
  it('reads the documented envelope and finds the inbound call to answer', () => {
    const event = parseTelnyxWebhook(INITIATED);
    expect(event).toMatchObject({ eventId: INITIATED.data.id, eventType: 'call.initiated', occurredAt: INITIATED.data.occurred_at });
    expect(inboundCallToAnswer(event)).toBe(INITIATED.data.payload.call_control_id);
  });

  it('answers neither a leg we dialled nor any other event', () => {
    expect(inboundCallToAnswer(parseTelnyxWebhook({ data: { ...INITIATED.data, payload: { ...INITIATED.data.payload, direction: 'outgoing' } } }))).toBeUndefined();
    expect(inboundCallToAnswer(parseTelnyxWebhook({ data: { ...INITIATED.data, event_type: 'call.hangup' } }))).toBeUndefined();
  });

  it('refuses a body without event_type and an inbound call without call_control_id', () => {
    for (const body of [undefined, null, 'x', {}, { data: {} }, { data: { event_type: 7 } }]) expect(codeOf(() => parseTelnyxWebhook(body))).toBe('GW_ERR_HTTP_BAD_REQUEST');
    const noId = parseTelnyxWebhook({ data: { event_type: 'call.initiated', payload: { direction: 'incoming', call_control_id: '' } } });
    expect(codeOf(() => inboundCallToAnswer(noId))).toBe('GW_ERR_HTTP_BAD_REQUEST');
  });

  it('treats an empty id as none and a payload that is not an object as empty', () => {
    expect(parseTelnyxWebhook({ data: { event_type: 'call.answered', id: '', payload: [1] } })).toEqual({ eventId: undefined, eventType: 'call.answered', payload: {}, occurredAt: undefined });
  });

  describe('answering within the webhook', () => {
    afterEach(() => vi.useRealTimers());
    const setup = { streamUrl: 'wss://gw.example.com/telnyx/media/t', codec: 'PCMU', bidirectionalCodec: 'PCMU' } as const;
    const control = (answer: () => Promise<void>) => ({ answerWithStream: vi.fn(answer) }) as unknown as TelnyxCallControl & { answerWithStream: ReturnType<typeof vi.fn> };
    const log = () => ({ answered: vi.fn(), failedLate: vi.fn() });

    it('is answered when the command ends in time', async () => {
      const c = control(async () => undefined);
      const l = log();
      expect(await answerWithinWebhook(c, 'v3:a', setup, l, 2000)).toBe('answered');
      expect(c.answerWithStream).toHaveBeenCalledWith('v3:a', setup);
      expect(l.answered).toHaveBeenCalledWith(false);
    });

    it('acknowledges after the wait and reports how a slow command ends', async () => {
      vi.useFakeTimers();
      let finish!: (err?: Error) => void;
      const l = log();
      const c = control(() => new Promise<void>((resolve, reject) => (finish = (err) => (err ? reject(err) : resolve()))));
      const outcome = answerWithinWebhook(c, 'v3:b', setup, l, 2000);
      await vi.advanceTimersByTimeAsync(2000);
      expect(await outcome).toBe('answering');
      expect(l.answered).not.toHaveBeenCalled();
      finish(new Error('timeout at the carrier'));
      await vi.advanceTimersByTimeAsync(0);
      expect(l.failedLate).toHaveBeenCalledWith(expect.objectContaining({ message: 'timeout at the carrier' }));
    });

    it('turns a refusal in time into GW_ERR_CARRIER_API naming the call', async () => {
      const c = control(async () => {
        throw new Error('422 call already answered');
      });
      await expect(answerWithinWebhook(c, 'v3:c', setup, log(), 2000)).rejects.toMatchObject({ code: 'GW_ERR_CARRIER_API', message: expect.stringContaining('v3:c') });
    });
  });
});

describe('Telnyx media socket token (carriers/telnyx/media-stream.ts)', () => {
  it('takes the path first, then the stream auth header, then ?token=', () => {
    expect(telnyxStreamToken({ pathToken: 'p', headers: { [TELNYX_STREAM_AUTH_HEADER]: 'h' }, query: { token: 'q' } })).toBe('p');
    expect(telnyxStreamToken({ pathToken: undefined, headers: { [TELNYX_STREAM_AUTH_HEADER]: ['h', 'h2'] }, query: { token: 'q' } })).toBe('h');
    expect(telnyxStreamToken({ pathToken: undefined, headers: {}, query: { token: 'q' } })).toBe('q');
    expect(telnyxStreamToken({ pathToken: undefined, headers: {}, query: {} })).toBeUndefined();
  });
});

describe('Twilio request signature (carriers/twilio/signature.ts verifyTwilioWebhook)', () => {
  const url = 'https://gw.example.com/twilio/voice';
  const raw = 'CallSid=CA1&To=%2B1&To=%2B2';

  it('signs a form body with every value of a repeated name, as Twilio does', () => {
    const signature = twilioSignature('tok', url, { CallSid: 'CA1', To: ['+1', '+2'] });
    const body = { contentType: 'application/x-www-form-urlencoded', raw };
    expect(verifyTwilioWebhook({ tokens: ['old', 'tok'] }, { headers: { [TWILIO_SIGNATURE_HEADER]: signature }, url, body })).toEqual({ ok: true });
    expect(verifyTwilioWebhook({ tokens: ['tok'] }, { headers: { [TWILIO_SIGNATURE_HEADER]: signature }, url, body: { ...body, raw: 'CallSid=CA1&To=%2B2' } })).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifyTwilioWebhook({ tokens: ['tok'] }, { headers: {}, url, body })).toEqual({ ok: false, reason: 'missing' });
  });

  it('checks a handshake over the URL alone, a JSON body through bodySHA256, and nothing with no token set', () => {
    const ws = 'wss://gw.example.com/twilio/media';
    expect(verifyTwilioWebhook({ tokens: ['tok'] }, { headers: { [TWILIO_SIGNATURE_HEADER]: twilioSignature('tok', ws) }, url: ws })).toEqual({ ok: true });
    // A JSON body with no bodySHA256 in the URL is refused, as validateRequestWithBody refuses it.
    const json = { contentType: 'application/json', raw: '{"a":1}' };
    expect(verifyTwilioWebhook({ tokens: ['tok'] }, { headers: { [TWILIO_SIGNATURE_HEADER]: twilioSignature('tok', url) }, url, body: json })).toEqual({ ok: false, reason: 'body_hash' });
    expect(verifyTwilioWebhook({ tokens: [] }, { headers: {}, url, body: json })).toEqual({ ok: true });
  });
});

describe('call control API bodies (carriers/call-requests.ts)', () => {
  it('parses an outbound call and a DTMF request', () => {
    expect(parseOutboundRequest({ transport: 'telnyx', to: '+1', from: '+2', metadata: { a: 1 } }, 'req-1')).toMatchObject({ transport: 'telnyx', to: '+1', from: '+2', metadata: { a: 1 }, correlationId: 'req-1' });
    expect(parseDtmfRequest({ digits: '12#', durationMs: 100 })).toEqual({ digits: '12#', durationMs: 100 });
    expect(parseDtmfRequest({ digits: '1' })).toEqual({ digits: '1', durationMs: undefined });
  });

  it.each([
    [{ transport: 'sip', to: '+1', from: '+2' }, 'GW_ERR_CALL_BAD_REQUEST'],
    [{ transport: 'twilio', to: 1, from: '+2' }, 'GW_ERR_CALL_BAD_NUMBER'],
    [{ transport: 'twilio', to: '+1', from: '+2', extra: true }, 'GW_ERR_CALL_BAD_REQUEST'],
    [{ transport: 'twilio', to: '+1', from: '+2', metadata: { big: 'x'.repeat(5000) } }, 'GW_ERR_CALL_BAD_REQUEST'],
    [[1], 'GW_ERR_CALL_BAD_REQUEST'],
  ])('refuses outbound body %j with %s', (body, code) => {
    expect(codeOf(() => parseOutboundRequest(body, 'r'))).toBe(code);
  });

  it('refuses DTMF without digits or with a duration that is not a number', () => {
    expect(codeOf(() => parseDtmfRequest({}))).toBe('GW_ERR_CALL_BAD_DIGITS');
    expect(codeOf(() => parseDtmfRequest({ digits: '1', durationMs: '100' }))).toBe('GW_ERR_CALL_BAD_REQUEST');
  });
});
