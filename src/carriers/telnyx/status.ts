/**
 * Telnyx call progress as a record update: a Call Control event becomes one CarrierUpdate for the
 * store. Pure: the caller has verified the signature and gives the time of receipt. Record times
 * (answered, ended) are our clock at receipt (../event-time.ts); Telnyx's occurred_at stays on the event.
 */
import type { CarrierUpdate } from '../../store/call-store.js';
import { isoOr } from '../event-time.js';

const TELNYX_DETAIL = ['hangup_cause', 'hangup_source', 'sip_hangup_cause', 'result', 'direction'];
const TELNYX_AMD = new Set(['call.machine.detection.ended', 'call.machine.premium.detection.ended']);

/** Our id travels in client_state (base64 JSON {callId}) on every event of a call we dialled. */
export function telnyxEventUpdate(eventType: string, payload: Record<string, unknown>, occurredAt: string | undefined, nowMs: number): CarrierUpdate | undefined {
  if (!eventType.startsWith('call.')) return undefined;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  let callId: string | undefined;
  const state = str(payload.client_state);
  if (state) {
    try {
      const decoded = JSON.parse(Buffer.from(state, 'base64').toString('utf8')) as { callId?: unknown };
      if (typeof decoded.callId === 'string') callId = decoded.callId;
    } catch {
      /* someone else's client_state */
    }
  }
  const detail: Record<string, string> = {};
  for (const k of TELNYX_DETAIL) {
    const v = str(payload[k]);
    if (v) detail[k] = v;
  }
  const isHangup = eventType === 'call.hangup';
  return {
    callId,
    carrierCallId: str(payload.call_control_id),
    event: { status: eventType.slice('call.'.length), at: isoOr(occurredAt, nowMs), ...(Object.keys(detail).length > 0 ? { detail } : {}) },
    answeredAt: eventType === 'call.answered' ? nowMs : undefined,
    answeredBy: TELNYX_AMD.has(eventType) ? str(payload.result) : undefined,
    endReason: isHangup ? `carrier_${str(payload.hangup_cause) ?? 'hangup'}` : undefined,
    endedAt: isHangup ? nowMs : undefined,
  };
}
