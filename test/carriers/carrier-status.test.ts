/** Carrier progress as record updates: statuses, terminal reasons, AMD, our id from the callback URL or client_state. */
import { describe, expect, it } from 'vitest';
import { telnyxEventUpdate } from '../../src/carriers/telnyx/status.js';
import { twilioStatusUpdate } from '../../src/carriers/twilio/status.js';

const NOW = 1_800_000_000_000;

describe('twilioStatusUpdate', () => {
  it.each([
    ['initiated', undefined],
    ['ringing', undefined],
    ['in-progress', undefined],
    ['completed', 'carrier_completed'],
    ['busy', 'carrier_busy'],
    ['no-answer', 'carrier_no_answer'],
    ['failed', 'carrier_failed'],
    ['canceled', 'carrier_canceled'],
  ])('%s -> end reason %s', (status, endReason) => {
    const u = twilioStatusUpdate({ CallSid: 'CA1', CallStatus: status, Timestamp: 'Sat, 28 Nov 2026 10:00:00 +0000' }, 'our-id', NOW)!;
    expect(u).toMatchObject({ callId: 'our-id', carrierCallId: 'CA1', event: { status, at: '2026-11-28T10:00:00.000Z' }, endReason });
    expect(u.answeredAt).toBe(status === 'in-progress' ? NOW : undefined);
    expect(u.endedAt).toBe(endReason ? NOW : undefined);
  });

  it('reads an async AMD result (no CallStatus) and keeps the useful fields; a bad timestamp falls back to receipt', () => {
    const u = twilioStatusUpdate({ CallSid: 'CA1', AnsweredBy: 'machine_start', MachineDetectionDuration: '2300', Timestamp: 'garbage', Junk: 'x' }, undefined, NOW)!;
    expect(u).toEqual({
      callId: undefined,
      carrierCallId: 'CA1',
      event: { status: 'amd', at: new Date(NOW).toISOString(), detail: { AnsweredBy: 'machine_start', MachineDetectionDuration: '2300' } },
      answeredAt: undefined,
      answeredBy: 'machine_start',
      endReason: undefined,
      endedAt: undefined,
    });
    expect(twilioStatusUpdate({ CallSid: 'CA1' }, undefined, NOW)).toBeUndefined();
  });
});

describe('telnyxEventUpdate', () => {
  const state = Buffer.from(JSON.stringify({ callId: 'our-id' })).toString('base64');

  it('finds our id in client_state, marks answers and hangups with their cause', () => {
    expect(telnyxEventUpdate('call.answered', { call_control_id: 'v3:1', client_state: state }, '2026-11-28T10:00:00.123Z', NOW)).toMatchObject({
      callId: 'our-id',
      carrierCallId: 'v3:1',
      event: { status: 'answered', at: '2026-11-28T10:00:00.123Z' },
      answeredAt: NOW,
    });
    expect(telnyxEventUpdate('call.hangup', { call_control_id: 'v3:1', hangup_cause: 'timeout', hangup_source: 'unknown' }, undefined, NOW)).toMatchObject({
      callId: undefined,
      endReason: 'carrier_timeout',
      endedAt: NOW,
      event: { status: 'hangup', detail: { hangup_cause: 'timeout', hangup_source: 'unknown' } },
    });
  });

  it('takes the AMD result as answeredBy, ignores foreign client_state and non-call events', () => {
    const u = telnyxEventUpdate('call.machine.premium.detection.ended', { call_control_id: 'v3:1', result: 'machine', client_state: 'bm90IGpzb24=' }, undefined, NOW)!;
    expect(u.answeredBy).toBe('machine');
    expect(u.callId).toBeUndefined();
    expect(telnyxEventUpdate('call.machine.greeting.ended', { call_control_id: 'v3:1', result: 'beep_detected' }, undefined, NOW)?.answeredBy).toBeUndefined();
    expect(telnyxEventUpdate('message.sent', {}, undefined, NOW)).toBeUndefined();
  });
});
