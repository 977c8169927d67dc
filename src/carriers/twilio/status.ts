/**
 * Twilio call progress as a record update: a status callback (or async AMD result) becomes one
 * CarrierUpdate for the store. Pure: the caller has verified the signature and gives the time of
 * receipt. Record times (answered, ended) are our clock at receipt (../event-time.ts); Twilio's own
 * timestamp (whole seconds only) stays on the event.
 */
import type { CarrierUpdate } from '../../store/call-store.js';
import { isoOr } from '../event-time.js';

const TWILIO_TERMINAL = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);
const TWILIO_DETAIL = ['CallDuration', 'AnsweredBy', 'MachineDetectionDuration', 'SipResponseCode', 'ErrorCode', 'SequenceNumber'];

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
