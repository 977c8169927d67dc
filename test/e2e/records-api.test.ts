/**
 * GET /api/v1/calls over the store: live calls (fresh from the call itself) merged with the log,
 * state filters, newest first, cursor pagination that lists every call exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerOutboundCall } from '../../src/simulator/outbound.js';
import type { CallRecord } from '../../src/store/call-record.js';
import { calleeSpeech, startOutboundRig, TWILIO_AUTH_TOKEN, type OutboundRig } from '../carriers/outbound-rig.js';

let rig: OutboundRig;
beforeAll(async () => {
  rig = await startOutboundRig();
});
afterAll(async () => {
  await rig?.close();
});

const ids = (calls: CallRecord[]) => calls.map((c) => c.callId);

describe('the call log API', () => {
  it('filters by state, merges live calls fresh, and pages newest first with a cursor', { timeout: 60_000 }, async () => {
    const failed: string[] = [];
    for (let i = 0; i < 3; i++) {
      rig.twilio.failNext('create', 400, 21211, 'bad number');
      const res = await rig.api('POST', '/api/v1/calls', { transport: 'twilio', to: `+1555123000${String(i)}`, from: '+15557650002' });
      failed.push(res.body.error.callId);
      await new Promise((r) => setTimeout(r, 5)); // distinct creation times
    }
    // One call left ringing (nobody takes the dial), one answered and live.
    const ringing = (await rig.api('POST', '/api/v1/calls', { transport: 'telnyx', to: '+15551239999', from: '+15557650002' })).body.callId as string;
    await rig.telnyx.desk.nextDial(5000); // take it off the desk so the callee below gets the Twilio one
    const callee = answerOutboundCall({ networkUrl: rig.twilio.baseUrl, pcm: calleeSpeech(3), twilioAuthToken: TWILIO_AUTH_TOKEN, tailMs: 60_000, maxDurationMs: 60_000 });
    const live = (await rig.api('POST', '/api/v1/calls', { transport: 'twilio', to: '+15551238888', from: '+15557650002' })).body.callId as string;
    await rig.waitFor(live, (r) => r.state === 'live' && r.framesIn > 20);

    const liveList = await rig.api('GET', '/api/v1/calls?state=live');
    expect(ids(liveList.body.calls)).toEqual([live, ringing]);
    expect(liveList.body.calls[1].state).toBe('dialing');
    // The live call's counters come from the call itself, not the last batch written.
    const fresh = rig.gw.gateway.calls.get(live)!.snapshot().framesIn;
    expect(liveList.body.calls[0].framesIn).toBeGreaterThanOrEqual(fresh - 5);

    const endedList = await rig.api('GET', '/api/v1/calls?state=ended');
    expect(ids(endedList.body.calls)).toEqual([...failed].reverse());
    expect(endedList.body.nextCursor).toBeNull();

    const all: string[] = [];
    let url = '/api/v1/calls?state=all&limit=2';
    for (let page = 0; page < 5; page++) {
      const res = await rig.api('GET', url);
      expect(res.status).toBe(200);
      expect(res.body.calls.length).toBeLessThanOrEqual(2);
      all.push(...ids(res.body.calls));
      if (!res.body.nextCursor) break;
      expect(res.body.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
      url = `/api/v1/calls?state=all&limit=2&cursor=${encodeURIComponent(res.body.nextCursor as string)}`;
    }
    expect(all).toEqual([live, ringing, ...[...failed].reverse()]);
    expect((await rig.api('GET', '/api/v1/calls')).body.calls).toHaveLength(5); // default: all, limit 50

    await rig.api('POST', `/api/v1/calls/${live}/hangup`);
    await rig.api('POST', `/api/v1/calls/${ringing}/hangup`);
    await callee;
    expect((await rig.api('GET', '/api/v1/calls?state=live')).body.calls).toEqual([]);
  });
});
