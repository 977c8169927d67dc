/**
 * Bad requests and carrier failures: every one answers a 4xx/5xx whose body names the problem (and
 * the carrier's own reason), and no failed dial is ever left in the log as dialing or live.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { answerOutboundCall } from '../../src/simulator/outbound.js';
import type { CallRecord } from '../../src/store/call-record.js';
import { CallStore } from '../../src/store/call-store.js';
import { calleeSpeech, startOutboundRig, TWILIO_AUTH_TOKEN, type OutboundRig } from '../carriers/outbound-rig.js';
import { startTestGateway } from '../support/gateway.js';

const { getExpectedTwilioSignature } = twilio as unknown as {
  getExpectedTwilioSignature(token: string, url: string, params: Record<string, string>): string;
};

let rig: OutboundRig;
beforeAll(async () => {
  rig = await startOutboundRig({ CARRIER_API_TIMEOUT_MS: '1500' });
});
afterAll(async () => {
  await rig?.close();
});

const call = (body: Record<string, unknown>) => rig.api('POST', '/api/v1/calls', { transport: 'twilio', to: '+15551230001', from: '+15557650002', ...body });

async function expectNoLiveLeftovers() {
  const live = await rig.api('GET', '/api/v1/calls?state=live&limit=500');
  const stale = (live.body.calls as CallRecord[]).filter((c) => !rig.gw.gateway.calls.get(c.callId));
  expect(stale, 'calls listed live/dialing with no media and no pending dial').toEqual([]);
}

describe('bad outbound requests', () => {
  it.each([
    [{ to: '5551230001' }, 'GW_ERR_CALL_BAD_NUMBER', ["'to'", '5551230001']],
    [{ from: '+0123' }, 'GW_ERR_CALL_BAD_NUMBER', ["'from'", '+0123']],
    [{ to: '+1555123000112345' }, 'GW_ERR_CALL_BAD_NUMBER', ["'to'"]],
    [{ from: undefined }, 'GW_ERR_CALL_BAD_NUMBER', ["'from'", 'missing']],
    [{ transport: 'skype' }, 'GW_ERR_CALL_BAD_REQUEST', ['transport']],
    [{ too: '+15551230001' }, 'GW_ERR_CALL_BAD_REQUEST', ["'too'"]],
    [{ metadata: ['a'] }, 'GW_ERR_CALL_BAD_REQUEST', ['metadata']],
    [{ metadata: { blob: 'x'.repeat(5000) } }, 'GW_ERR_CALL_BAD_REQUEST', ['metadata', '4096']],
    [{ machineDetection: 'yes' }, 'GW_ERR_CALL_BAD_REQUEST', ['machineDetection']],
    [{ provider: 'gpt9' }, 'GW_ERR_PROVIDER_UNKNOWN', ['gpt9']],
  ])('%o -> 400 %s', async (body, code, fragments) => {
    const before = rig.twilio.requests.length;
    const res = await call(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    for (const f of fragments) expect(res.body.error.message).toContain(f);
    // Refused before anything was written or sent.
    expect(res.body.error.callId).toBeUndefined();
    expect(rig.twilio.requests.length).toBe(before);
  });

  it('answers a body that is not JSON with 400', async () => {
    const res = await fetch(`${rig.gw.baseUrl}/api/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"to":' });
    expect(res.status).toBe(400);
  });
});

describe('carrier failures while dialing', () => {
  async function expectFailedRecord(callId: string, code: string) {
    const r = await rig.record(callId);
    expect(r.state).toBe('failed');
    expect(r.error?.code).toBe(code);
    expect(r.endReason).toBe('carrier_error');
    expect(r.endedAt).not.toBeNull();
  }

  it('Twilio refusing the call: 502 with Twilio status, code and message; record failed', async () => {
    rig.twilio.failNext('create', 400, 21211, "The 'To' number +15551230001 is not a valid phone number.");
    const res = await call({});
    expect(res.status).toBe(502);
    expect(res.body.error).toMatchObject({
      code: 'GW_ERR_CALL_CARRIER_REJECTED',
      carrier: { name: 'twilio', op: 'dial', status: 400, code: '21211', message: "The 'To' number +15551230001 is not a valid phone number." },
    });
    expect(res.body.error.message).toContain('21211');
    await expectFailedRecord(res.body.error.callId, 'GW_ERR_CALL_CARRIER_REJECTED');
    await expectNoLiveLeftovers();
  });

  it('Telnyx refusing the call: 502 with the Telnyx error; record failed', async () => {
    rig.telnyx.failNext('dial', 422, '10015', 'Invalid value', 'The destination number is not reachable');
    const res = await call({ transport: 'telnyx' });
    expect(res.status).toBe(502);
    expect(res.body.error.carrier).toMatchObject({ name: 'telnyx', op: 'dial', status: 422, code: '10015' });
    expect(res.body.error.message).toContain('The destination number is not reachable');
    await expectFailedRecord(res.body.error.callId, 'GW_ERR_CALL_CARRIER_REJECTED');
  });

  it.each(['twilio', 'telnyx'] as const)('%s not answering: 504 once CARRIER_API_TIMEOUT_MS is up; record failed', { timeout: 20_000 }, async (transport) => {
    if (transport === 'twilio') rig.twilio.hangNext('create');
    else rig.telnyx.hangNext('dial');
    const t0 = Date.now();
    const res = await call({ transport });
    const took = Date.now() - t0;
    expect(res.status).toBe(504);
    expect(res.body.error.code).toBe('GW_ERR_CALL_CARRIER_TIMEOUT');
    expect(res.body.error.message).toContain(transport);
    expect(took).toBeGreaterThanOrEqual(1400);
    expect(took).toBeLessThan(6000);
    await expectFailedRecord(res.body.error.callId, 'GW_ERR_CALL_CARRIER_TIMEOUT');
    await expectNoLiveLeftovers();
  });

  it('an unreachable carrier API: 502 unreachable; a carrier not configured: 503 naming the variable', { timeout: 30_000 }, async () => {
    const gw = await startTestGateway({
      VAD_ENGINE: 'energy',
      CALL_RECORD_PATH: ':memory:',
      TWILIO_AUTH_TOKEN: 'tok',
      TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
      TWILIO_API_BASE_URL: 'http://127.0.0.1:1',
      TELNYX_API_KEY: 'KEY_x',
    });
    try {
      const post = (body: Record<string, unknown>) =>
        fetch(`${gw.baseUrl}/api/v1/calls`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: '+15551230001', from: '+15557650002', ...body }) });
      const down = await post({ transport: 'twilio' });
      expect(down.status).toBe(502);
      const downBody = (await down.json()) as { error: { code: string; callId: string } };
      expect(downBody.error.code).toBe('GW_ERR_CALL_CARRIER_UNREACHABLE');
      const rec = (await (await fetch(`${gw.baseUrl}/api/v1/calls/${downBody.error.callId}`)).json()) as CallRecord;
      expect(rec.state).toBe('failed');
      const noConn = await post({ transport: 'telnyx' });
      expect(noConn.status).toBe(503);
      const noConnBody = (await noConn.json()) as { error: { code: string; message: string } };
      expect(noConnBody.error.code).toBe('GW_ERR_CALL_CARRIER_NOT_CONFIGURED');
      expect(noConnBody.error.message).toContain('TELNYX_CONNECTION_ID');
    } finally {
      await gw.close();
    }
    const bare = await startTestGateway({ VAD_ENGINE: 'energy', CALL_RECORD_PATH: ':memory:' });
    try {
      const res = await fetch(`${bare.baseUrl}/api/v1/calls`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ transport: 'twilio', to: '+15551230001', from: '+15557650002' }),
      });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: { message: string } };
      expect(body.error.message).toContain('TWILIO_ACCOUNT_SID');
      expect(body.error.message).toContain('TWILIO_AUTH_TOKEN');
    } finally {
      await bare.close();
    }
  });
});

describe('unknown calls, finished calls, bad listings', () => {
  it('404 naming an unknown call id, on read, hangup and dtmf', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/calls/no-such-call'],
      ['POST', '/api/v1/calls/no-such-call/hangup'],
      ['POST', '/api/v1/calls/no-such-call/dtmf'],
    ] as const) {
      const res = await rig.api(method, path, method === 'POST' && path.endsWith('dtmf') ? { digits: '1' } : undefined);
      expect(res.status, path).toBe(404);
      expect(res.body.error.code).toBe('GW_ERR_CALL_NOT_FOUND');
      expect(res.body.error.message).toContain('no-such-call');
    }
  });

  it('409 for hanging up a call that already failed', async () => {
    rig.twilio.failNext('create', 403, 21210, 'The source phone number provided is not yet verified for your account.');
    const failed = await call({});
    const res = await rig.api('POST', `/api/v1/calls/${failed.body.error.callId as string}/hangup`);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('GW_ERR_CALL_NOT_LIVE');
    expect(res.body.error.message).toContain('failed');
  });

  it.each([
    ['state=bogus', 'state'],
    ['limit=0', 'limit'],
    ['limit=501', 'limit'],
    ['limit=ten', 'limit'],
    ['cursor=%21%21not-a-cursor', 'cursor'],
    [`cursor=${Buffer.from('no dot here').toString('base64url')}`, 'cursor'],
  ])('GET /api/v1/calls?%s -> 400 naming %s', async (query, word) => {
    const res = await rig.api('GET', `/api/v1/calls?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain(word);
  });
});

describe('hangup when the carrier fails', () => {
  it('keeps the call live and says why when the REST hangup fails or times out; a retry then ends it', { timeout: 60_000 }, async () => {
    const callee = answerOutboundCall({ networkUrl: rig.twilio.baseUrl, pcm: calleeSpeech(2), twilioAuthToken: TWILIO_AUTH_TOKEN, tailMs: 60_000, maxDurationMs: 60_000 });
    const placed = await call({ to: '+15551230077' });
    const callId: string = placed.body.callId;
    await rig.waitFor(callId, (r) => r.state === 'live');

    rig.twilio.failNext('update', 500, 20500, 'Internal Server Error');
    const failed = await rig.api('POST', `/api/v1/calls/${callId}/hangup`);
    expect(failed.status).toBe(502);
    expect(failed.body.error.carrier).toMatchObject({ name: 'twilio', op: 'hangup', status: 500, code: '20500' });
    expect((await rig.record(callId)).state).toBe('live');

    rig.twilio.hangNext('update');
    const slow = await rig.api('POST', `/api/v1/calls/${callId}/hangup`);
    expect(slow.status).toBe(504);
    expect(slow.body.error.code).toBe('GW_ERR_CALL_CARRIER_TIMEOUT');
    expect((await rig.record(callId)).state).toBe('live');

    const ok = await rig.api('POST', `/api/v1/calls/${callId}/hangup`);
    expect(ok.status).toBe(200);
    const heard = await callee;
    expect(heard.closeCode).toBe(1000);
    const r = await rig.record(callId);
    expect(r.state).toBe('ended');
    expect(r.endReason).toBe('api_hangup');
  });
});

describe('status callbacks at the edge', () => {
  it('refuses a Twilio status callback with a bad signature (403) and leaves the record alone', async () => {
    rig.twilio.failNext('create', 400, 21211, 'bad number');
    const failed = await call({});
    const callId: string = failed.body.error.callId;
    const url = `${rig.gw.baseUrl}/twilio/status?callId=${callId}`;
    const params = { CallSid: 'CA00000000000000000000000000000001', CallStatus: 'completed', AccountSid: rig.twilio.accountSid };
    const post = (signature: string) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }, body: new URLSearchParams(params).toString() });
    const forged = await post(getExpectedTwilioSignature('not-the-token', url, params));
    expect(forged.status).toBe(403);
    expect((await rig.record(callId)).carrier.events).toEqual([]);
    // The same callback correctly signed is folded in.
    const genuine = await post(getExpectedTwilioSignature(TWILIO_AUTH_TOKEN, url, params));
    expect(genuine.status).toBe(204);
    const r = await rig.record(callId);
    expect(r.carrier.events.map((e) => e.status)).toEqual(['completed']);
    expect(r.state).toBe('failed');
  });

  it('refuses an unsigned Telnyx event (403)', async () => {
    const res = await fetch(`${rig.gw.baseUrl}/telnyx/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: { event_type: 'call.hangup', payload: { call_control_id: 'v3:x' } } }),
    });
    expect(res.status).toBe(403);
  });
});

describe('API tokens', () => {
  it('guard placing, hanging up and sending digits', { timeout: 30_000 }, async () => {
    const gw = await startTestGateway({ VAD_ENGINE: 'energy', CALL_RECORD_PATH: ':memory:', API_TOKENS: 'secret-api-token' });
    try {
      for (const path of ['/api/v1/calls', '/api/v1/calls/x/hangup', '/api/v1/calls/x/dtmf']) {
        const res = await fetch(gw.baseUrl + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        expect(res.status, path).toBe(401);
      }
      const authed = await fetch(`${gw.baseUrl}/api/v1/calls/x/hangup`, { method: 'POST', headers: { authorization: 'Bearer secret-api-token' } });
      expect(authed.status).toBe(404);
    } finally {
      await gw.close();
    }
  });
});

describe('shutdown with calls still ringing', () => {
  it('cancels them at the carrier and ends their records', { timeout: 30_000 }, async () => {
    const own = await startOutboundRig();
    try {
      const placed = await own.api('POST', '/api/v1/calls', { transport: 'telnyx', to: '+15551230005', from: '+15557650002' });
      expect(placed.status).toBe(201);
      await own.gw.gateway.close(0);
      const hangup = own.telnyx.requests.find((r) => r.op === 'hangup');
      expect(hangup?.callControlId).toBe(placed.body.carrierCallId);
      const store = CallStore.open({ path: own.recordPath });
      try {
        expect(store.get(placed.body.callId)).toMatchObject({ state: 'ended', endReason: 'shutdown' });
      } finally {
        store.close();
      }
    } finally {
      await own.close();
    }
  });
});
