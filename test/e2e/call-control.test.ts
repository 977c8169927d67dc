/**
 * Outbound calls end to end, for both carriers, against loopback fakes of their REST APIs: the
 * gateway places the call through the official SDK, the simulated caller takes the dial from the
 * fake and plays the network side, the echo provider answers, the API hangs up (carrier REST hangup,
 * then the stream closes cleanly), and the record shows direction, times, end reason and the
 * carrier's signed status callbacks folded in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerOutboundCall, type OutboundAnswerResult } from '../../src/simulator/outbound.js';
import { calleeSpeech, startOutboundRig, TELNYX_API_KEY, TWILIO_AUTH_TOKEN, type OutboundRig } from '../carriers/outbound-rig.js';
import type { CallRecord } from '../../src/store/call-record.js';

let rig: OutboundRig;
beforeAll(async () => {
  rig = await startOutboundRig({ TELNYX_CODEC: 'PCMA' });
});
afterAll(async () => {
  await rig?.close();
});

/** Run one outbound call: place it, wait for the echo to be heard, hang up through the API. */
async function placeAnswerHangUp(transport: 'twilio' | 'telnyx', to: string) {
  const callee = answerOutboundCall({
    networkUrl: transport === 'twilio' ? rig.twilio.baseUrl : rig.telnyx.baseUrl,
    pcm: calleeSpeech(5),
    twilioAuthToken: TWILIO_AUTH_TOKEN,
    tailMs: 60_000,
    maxDurationMs: 60_000,
  });
  const placed = await rig.api('POST', '/api/v1/calls', { transport, to, from: '+15557650002', metadata: { campaign: 'renewals', attempt: 1 } });
  expect(placed.status, JSON.stringify(placed.body)).toBe(201);
  const callId: string = placed.body.callId;
  expect(callId).toMatch(/^[0-9a-f-]{36}$/);
  expect(placed.body).toMatchObject({ transport, direction: 'outbound', to, from: '+15557650002', provider: 'echo' });
  // The echo provider answered the callee's first utterance: audio went out on the call.
  const answered = await rig.waitFor(callId, (r) => r.state === 'live' && r.turns >= 1 && r.framesOut > 50);
  expect(answered.direction).toBe('outbound');
  const hangup = await rig.api('POST', `/api/v1/calls/${callId}/hangup`);
  expect(hangup.status, JSON.stringify(hangup.body)).toBe(200);
  expect(hangup.body).toEqual({ callId, state: 'ended', endReason: 'api_hangup', via: 'carrier' });
  const heard: OutboundAnswerResult = await callee;
  return { callId, carrierCallId: placed.body.carrierCallId as string, heard };
}

function expectFinishedOutbound(r: CallRecord, to: string) {
  expect(r.state).toBe('ended');
  expect(r.direction).toBe('outbound');
  expect(r.to).toBe(to);
  expect(r.from).toBe('+15557650002');
  expect(r.endReason).toBe('api_hangup');
  expect(r.metadata).toEqual({ campaign: 'renewals', attempt: 1 });
  expect(r.providersUsed).toEqual(['echo']);
  const created = Date.parse(r.createdAt);
  const answeredAt = Date.parse(r.answeredAt ?? '');
  const ended = Date.parse(r.endedAt ?? '');
  expect(created).toBeLessThanOrEqual(answeredAt);
  expect(answeredAt).toBeLessThan(ended);
  expect(r.framesIn).toBeGreaterThan(100);
  expect(r.framesOut).toBeGreaterThan(50);
  expect(r.latency?.replyLatencyMs.length).toBeGreaterThanOrEqual(1);
}

describe('outbound calls through Twilio', () => {
  it('places the call with TwiML streaming to us, connects, echoes, hangs up on both sides, records it', { timeout: 60_000 }, async () => {
    const to = '+15551230001';
    const { callId, carrierCallId, heard } = await placeAnswerHangUp('twilio', to);

    // The SDK request: account-scoped path, basic auth, TwiML connecting the media stream back to us
    // with a one-time token, signed status callbacks pointing at our record.
    const create = rig.twilio.requests.find((r) => r.op === 'create' && r.form.To === to)!;
    expect(create.path).toBe(`/2010-04-01/Accounts/${rig.twilio.accountSid}/Calls.json`);
    expect(create.auth).toBe(`Basic ${Buffer.from(`${rig.twilio.accountSid}:${TWILIO_AUTH_TOKEN}`).toString('base64')}`);
    const wsUrl = rig.gw.baseUrl.replace('http', 'ws');
    expect(create.form.Twiml).toMatch(
      new RegExp(`^<\\?xml[^>]*\\?><Response><Connect><Stream url="${wsUrl}/twilio/media"><Parameter name="token" value="[A-Za-z0-9_-]{20,}"/></Stream></Connect></Response>$`),
    );
    expect(create.form.StatusCallback).toBe(`${rig.gw.baseUrl}/twilio/status?callId=${callId}`);
    expect(create.form.StatusCallbackEvent).toEqual(['initiated', 'ringing', 'answered', 'completed']);
    expect(create.form.Timeout).toBe('30');
    expect(create.form.MachineDetection).toBeUndefined();
    expect(heard.dial.carrierCallId).toBe(carrierCallId);

    // Hangup: a REST update to Status=completed, then the media stream closed cleanly.
    const update = rig.twilio.requests.find((r) => r.op === 'update' && r.callSid === carrierCallId)!;
    expect(update.form.Status).toBe('completed');
    expect(heard.closeCode).toBe(1000);
    expect(heard.replies.length).toBeGreaterThanOrEqual(1);
    expect(heard.replies[0].frames).toBeGreaterThan(50);

    // The record, with the carrier's signed status callbacks folded in (all accepted: 204).
    const r = await rig.waitFor(callId, (x) => x.carrier.status === 'completed');
    expectFinishedOutbound(r, to);
    expect(r.transport).toBe('twilio');
    expect(r.codec).toBe('mulaw');
    expect(r.carrierCallId).toBe(carrierCallId);
    expect(r.carrier.events.map((e) => e.status)).toEqual(['initiated', 'ringing', 'in-progress', 'completed']);
    const sent = rig.twilio.callbacks.filter((c) => c.params.CallSid === carrierCallId);
    expect(sent.map((c) => c.status)).toEqual([204, 204, 204, 204]);
    expect(rig.gw.rawLogs.join('\n')).not.toContain(TWILIO_AUTH_TOKEN);
  });

  it('passes answering-machine detection through as async AMD and folds the result', { timeout: 30_000 }, async () => {
    const placed = await rig.api('POST', '/api/v1/calls', { transport: 'twilio', to: '+15551230009', from: '+15557650002', machineDetection: 'detect_message_end' });
    expect(placed.status).toBe(201);
    const create = rig.twilio.requests.find((r) => r.op === 'create' && r.form.To === '+15551230009')!;
    expect(create.form).toMatchObject({ MachineDetection: 'DetectMessageEnd', AsyncAmd: 'true', AsyncAmdStatusCallback: `${rig.gw.baseUrl}/twilio/status?callId=${placed.body.callId}` });
    // Twilio posts the AMD result (no CallStatus) to the async callback.
    const dial = await rig.twilio.desk.nextDial(5000);
    expect(dial?.carrierCallId).toBe(placed.body.carrierCallId);
    await rig.twilio.sendStatus(placed.body.carrierCallId, 'in-progress', { AnsweredBy: 'machine_end_beep' });
    const hung = await rig.api('POST', `/api/v1/calls/${placed.body.callId as string}/hangup`);
    // Nobody opened the stream: the call is cancelled while it is still "dialing" for us.
    expect(hung.status, JSON.stringify(hung.body)).toBe(200);
    const r = await rig.record(placed.body.callId);
    expect(r.carrier.answeredBy).toBe('machine_end_beep');
    expect(r.state).toBe('ended');
    expect(r.endReason).toBe('api_hangup');
    const update = rig.twilio.requests.find((x) => x.op === 'update' && x.callSid === placed.body.carrierCallId)!;
    expect(update.form.Status).toBe('completed');
  });
});

describe('outbound calls through Telnyx', () => {
  it('dials with a bidirectional RTP stream URL, connects, echoes, hangs up on both sides, records it', { timeout: 60_000 }, async () => {
    const to = '+15551230002';
    const { callId, carrierCallId, heard } = await placeAnswerHangUp('telnyx', to);

    const dial = rig.telnyx.requests.find((r) => r.op === 'dial' && r.body.to === to)!;
    expect(dial.auth).toBe(`Bearer ${TELNYX_API_KEY}`);
    const wsUrl = rig.gw.baseUrl.replace('http', 'ws');
    expect(dial.body).toMatchObject({
      connection_id: 'conn-123',
      from: '+15557650002',
      stream_track: 'inbound_track',
      stream_codec: 'PCMA',
      stream_bidirectional_mode: 'rtp',
      stream_bidirectional_codec: 'PCMA',
      webhook_url: `${rig.gw.baseUrl}/telnyx/webhook`,
      timeout_secs: 30,
    });
    expect(String(dial.body.stream_url)).toMatch(new RegExp(`^${wsUrl}/telnyx/media/[A-Za-z0-9_-]{20,}$`));
    // Every Call Control command carries a command_id; the dial's is fixed by our call id.
    expect(dial.body.command_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.parse(Buffer.from(String(dial.body.client_state), 'base64').toString('utf8'))).toEqual({ callId });
    expect(dial.body.answering_machine_detection).toBeUndefined();

    const hangups = rig.telnyx.requests.filter((r) => r.op === 'hangup' && r.callControlId === carrierCallId);
    // The API hung up and then the stream closed: one hangup command, not two.
    expect(hangups).toHaveLength(1);
    expect(hangups[0].body.command_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(heard.closeCode).toBe(1000);
    expect(heard.replies.length).toBeGreaterThanOrEqual(1);

    const r = await rig.waitFor(callId, (x) => x.carrier.status === 'hangup');
    expectFinishedOutbound(r, to);
    expect(r.transport).toBe('telnyx');
    expect(r.codec).toBe('alaw');
    expect(r.carrierCallId).toBe(carrierCallId);
    expect(r.carrier.events.map((e) => e.status)).toEqual(['initiated', 'answered', 'hangup']);
    expect(r.carrier.events[2].detail).toMatchObject({ hangup_cause: 'normal_clearing' });
    // Webhooks were Ed25519-verified by the gateway and accepted.
    expect(rig.telnyx.webhooks.filter((w) => w.body.includes(carrierCallId)).map((w) => w.status)).toEqual([200, 200, 200]);
  });

  it('passes answering-machine detection through and folds the detection result', { timeout: 30_000 }, async () => {
    const placed = await rig.api('POST', '/api/v1/calls', { transport: 'telnyx', to: '+15551230010', from: '+15557650002', machineDetection: 'detect' });
    expect(placed.status).toBe(201);
    const dial = rig.telnyx.requests.find((r) => r.op === 'dial' && r.body.to === '+15551230010')!;
    expect(dial.body.answering_machine_detection).toBe('detect');
    await rig.telnyx.desk.nextDial(5000);
    await rig.telnyx.sendEvent(placed.body.carrierCallId, 'call.machine.detection.ended', { result: 'human' });
    await rig.telnyx.sendEvent(placed.body.carrierCallId, 'call.hangup', { hangup_cause: 'user_busy' });
    const r = await rig.record(placed.body.callId);
    expect(r.carrier.answeredBy).toBe('human');
    // Never streamed, ended by the carrier: the record says so, and it is not left dialing.
    expect(r.state).toBe('ended');
    expect(r.endReason).toBe('carrier_user_busy');
  });
});
