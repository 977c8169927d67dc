/**
 * Carrier call progress as record updates: a Twilio status callback (or async AMD result) and a
 * Telnyx Call Control event each become one CarrierUpdate for the store. Pure: the caller has
 * verified the signature and gives the time of receipt.
 *
 * Record times (answered, ended) are our clock at receipt, the same clock as the record's creation
 * time; the carrier's own timestamp (Twilio's has whole seconds only) stays on the event.
 */
import type { CarrierUpdate } from '../store/call-store.js';

const TWILIO_TERMINAL = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);
const TWILIO_DETAIL = ['CallDuration', 'AnsweredBy', 'MachineDetectionDuration', 'SipResponseCode', 'ErrorCode', 'SequenceNumber'];
const TELNYX_DETAIL = ['hangup_cause', 'hangup_source', 'sip_hangup_cause', 'result', 'direction'];
const TELNYX_AMD = new Set(['call.machine.detection.ended', 'call.machine.premium.detection.ended']);

function isoOr(text: string | undefined, fallbackMs: number): string {
  const parsed = text ? Date.parse(text) : NaN;
  return new Date(Number.isFinite(parsed) ? parsed : fallbackMs).toISOString();
}

/** `callIdHint` is our id from the callback URL (?callId=), so a callback can beat the CallSid. */
export function twilioStatusUpdate(params: Record<string, string>, callIdHint: string | undefined, nowMs: number): CarrierUpdate | undefined {
  const status = params.CallStatus ?? (params.AnsweredBy ? 'amd' : undefined);
  if (!status) return undefined;
  const detail: Record<string, string> = {};
  for (const k of TWILIO_DETAIL) if (params[k] !== undefined) detail[k] = params[k];
  const terminal = TWILIO_TERMINAL.has(status);
  return {
    callId: callIdHint,
    carrierCallId: params.CallSid,
    event: { status, at: isoOr(params.Timestamp, nowMs), ...(Object.keys(detail).length > 0 ? { detail } : {}) },
    answeredAt: status === 'in-progress' ? nowMs : undefined,
    answeredBy: params.AnsweredBy,
    endReason: terminal ? `carrier_${status.replace(/-/g, '_')}` : undefined,
    endedAt: terminal ? nowMs : undefined,
  };
}

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
