/**
 * Each carrier's part of call control (src/carriers/<name>/outbound.ts), alone: what it needs to be
 * configured for, what a hangup is without REST credentials, who plays digits, and what becomes of a
 * placed call that never streamed. The whole flow runs through the gateway in test/e2e/call-control*.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { PreparedCall } from '../../src/carriers/outbound.js';
import type { TelnyxCallControl, TelnyxDial } from '../../src/carriers/telnyx/call-control.js';
import type { CarrierLegs } from '../../src/carriers/telnyx/legs.js';
import { TelnyxOutbound } from '../../src/carriers/telnyx/outbound.js';
import type { TwilioCalls, TwilioDial } from '../../src/carriers/twilio/rest-client.js';
import { TwilioOutbound } from '../../src/carriers/twilio/outbound.js';

const ENV = { PUBLIC_URL: 'https://gw.example', PROVIDERS: 'echo' };
const call: PreparedCall = { callId: 'call-1', transport: 'twilio', to: '+15550100', from: '+15550199', provider: 'echo', correlationId: 'c', machineDetection: 'detect' };

function context(env: Record<string, string> = {}) {
  const config = loadConfig({ ...ENV, ...env });
  return { config, publicUrl: config.publicUrl, wsBase: 'wss://gw.example', ringTimeoutS: 25 };
}

describe('Twilio outbound', () => {
  it('without REST credentials: cannot dial (naming what is missing); hanging up is closing the stream, unless still ringing', async () => {
    const out = new TwilioOutbound(context(), undefined);
    expect(() => out.check('dial')).toThrow(/Twilio dial needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN/);
    await expect(out.hangup('CA1', { ringing: false, reason: 'api_hangup' })).resolves.toBe('media');
    await expect(out.hangup('CA1', { ringing: true, reason: 'api_hangup' })).rejects.toMatchObject({ code: 'GW_ERR_CALL_CARRIER_NOT_CONFIGURED' });
    expect(out.sendsDtmf).toBe(false);
    expect(out.grant).toEqual({ leg: 'stream_verb' });
  });

  it('dials with TwiML that streams to our media URL with the token, status callbacks and async AMD; hangs up with completed', async () => {
    const dials: TwilioDial[] = [];
    const hangups: string[] = [];
    const client: TwilioCalls = {
      dial: async (d) => (dials.push(d), { sid: 'CA9', status: 'queued' }),
      hangup: async (sid, status) => void hangups.push(`${sid}:${status}`),
    };
    const out = new TwilioOutbound(context(), client);
    expect(await out.dial(call, 'tok')).toBe('CA9');
    expect(dials[0]).toMatchObject({ to: '+15550100', from: '+15550199', machineDetection: 'Enable', ringTimeoutS: 25 });
    expect(dials[0].statusCallback).toBe('https://gw.example/twilio/status?callId=call-1');
    expect(dials[0].amdCallback).toBe(dials[0].statusCallback);
    expect(dials[0].twiml).toContain('<Stream url="wss://gw.example/twilio/media"><Parameter name="token" value="tok"/>');
    expect(await out.hangup('CA9', { ringing: true, reason: 'api_hangup' })).toBe('carrier');
    expect(hangups).toEqual(['CA9:completed']);
  });
});

describe('Telnyx outbound', () => {
  function fakeClient() {
    const sent: string[] = [];
    const dials: TelnyxDial[] = [];
    const client: TelnyxCallControl = {
      answerWithStream: async () => undefined,
      dial: async (d) => (dials.push(d), { callControlId: 'v3:cc', callSessionId: undefined }),
      hangup: async (id) => void sent.push(`hangup:${id}`),
      sendDtmf: async (id, digits) => void sent.push(`dtmf:${id}:${digits}`),
    };
    return { client, sent, dials };
  }

  it('needs TELNYX_API_KEY for everything and TELNYX_CONNECTION_ID to dial', () => {
    expect(() => new TelnyxOutbound(context(), undefined, undefined).check('hangup')).toThrow(/Telnyx hangup needs TELNYX_API_KEY/);
    const { client } = fakeClient();
    const out = new TelnyxOutbound(context({ TELNYX_API_KEY: 'k' }), client, undefined);
    expect(() => out.check('hangup')).not.toThrow();
    expect(() => out.check('dial')).toThrow(/Telnyx dial needs TELNYX_CONNECTION_ID/);
  });

  it('dials a Call Control leg streaming to our token URL; plays digits through the carrier; hangs up through the legs when it has them', async () => {
    const { client, sent, dials } = fakeClient();
    const ended: string[] = [];
    const legs = { hangup: async (id: string, reason: string) => void sent.push(`legs:${id}:${reason}`), ended: (id: string, reason: string) => void ended.push(`${id}:${reason}`) } as unknown as CarrierLegs;
    const out = new TelnyxOutbound(context({ TELNYX_API_KEY: 'k', TELNYX_CONNECTION_ID: 'conn' }), client, legs);
    expect(out.grant).toEqual({ leg: 'call_control', egress: { codec: 'mulaw', sampleRate: 8000 } });
    expect(await out.dial({ ...call, transport: 'telnyx' }, 'tok')).toBe('v3:cc');
    expect(dials[0]).toMatchObject({ connectionId: 'conn', streamUrl: 'wss://gw.example/telnyx/media/tok', answeringMachineDetection: 'detect', ringTimeoutS: 25 });
    expect(JSON.parse(Buffer.from(dials[0].clientState, 'base64').toString())).toEqual({ callId: 'call-1' });
    expect(dials[0].webhookUrl).toBe('https://gw.example/telnyx/webhook');
    expect(out.sendsDtmf).toBe(true);
    await out.sendDtmf('v3:cc', '12#', 100);
    expect(await out.hangup('v3:cc', { ringing: false, reason: 'api_hangup' })).toBe('carrier');
    expect(sent).toEqual(['dtmf:v3:cc:12#', 'legs:v3:cc:api_hangup']);
    out.neverStreamed('v3:cc');
    expect(ended).toEqual(['v3:cc:stream_not_opened']);
  });
});
