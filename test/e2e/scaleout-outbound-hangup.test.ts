/**
 * Two gateway nodes sharing the call log (DATABASE_URL), behind one load balancer: an outbound call
 * placed through node A is cancelled while it rings by an API hangup that lands on node B. B finds the
 * call in the shared log and cancels it at the carrier itself (Twilio's REST API does not care which
 * node asks); never a 404 for a call that exists.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { POSTGRES_INITDB, requireTool } from '../support/requirements.js';
import { startPostgres, type RunningService } from '../support/services.js';
import { startTwilioRestFake, type TwilioRestFake } from '../fakes/twilio-rest-fake.js';
import type { CallRecord } from '../../src/store/call-record.js';

const initdb = requireTool(POSTGRES_INITDB);
const TWILIO_AUTH_TOKEN = 'twilio-auth-token-for-tests';

async function api(gw: TestGateway, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(gw.baseUrl + path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

describe.skipIf(!initdb.path)('a ringing outbound call placed on one node, hung up through another', () => {
  let postgres: RunningService;
  let twilio: TwilioRestFake;
  let a: TestGateway;
  let b: TestGateway;
  beforeAll(async () => {
    [postgres, twilio] = await Promise.all([startPostgres(initdb.path!), startTwilioRestFake({ authToken: TWILIO_AUTH_TOKEN })]);
    const env = {
      VAD_ENGINE: 'energy',
      DATABASE_URL: postgres.url,
      TWILIO_AUTH_TOKEN,
      TWILIO_ACCOUNT_SID: twilio.accountSid,
      TWILIO_API_BASE_URL: twilio.baseUrl,
      CARRIER_API_TIMEOUT_MS: '1500',
    };
    [a, b] = await Promise.all([startTestGateway(env), startTestGateway(env)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await Promise.allSettled([twilio?.close(), postgres?.stop()]);
  });

  it('B cancels it at the carrier and the shared record ends', { timeout: 30_000 }, async () => {
    const placed = await api(a, 'POST', '/api/v1/calls', { transport: 'twilio', to: '+15551230077', from: '+15557650002' });
    expect(placed.status, JSON.stringify(placed.body)).toBe(201);
    const callId = placed.body.callId as string;
    const carrierCallId = placed.body.carrierCallId as string;
    expect(placed.body.state).toBe('dialing');

    const hung = await api(b, 'POST', `/api/v1/calls/${callId}/hangup`);
    expect(hung.status, JSON.stringify(hung.body)).toBe(200);
    expect(hung.body).toEqual({ callId, state: 'ended', endReason: 'api_hangup', via: 'carrier' });
    const update = twilio.requests.find((r) => r.op === 'update' && r.callSid === carrierCallId);
    expect(update?.form.Status).toBe('completed');

    // Either node reads the same ended record from the shared log.
    for (const gw of [a, b]) {
      const deadline = Date.now() + 5000;
      let rec: CallRecord | undefined;
      while (Date.now() < deadline) {
        rec = (await api(gw, 'GET', `/api/v1/calls/${callId}`)).body as unknown as CallRecord;
        if (rec.state === 'ended') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      // Twilio's `completed` callback for the cancelled call reaches A (its status URL) while B is still
      // between the carrier's answer and its own write: whichever lands first names the end.
      expect(rec?.state).toBe('ended');
      expect(['api_hangup', 'carrier_completed']).toContain(rec?.endReason);
    }
    // A call nobody has is still a 404.
    expect((await api(b, 'POST', '/api/v1/calls/00000000-0000-4000-8000-000000000000/hangup')).status).toBe(404);
  });
});
