/**
 * A call record: what the API returns for a call, live or finished, and what the store keeps. A live
 * call's record is its stored row with the counters, lists and state refreshed from the Call itself.
 */
import { MAX_DTMF_RECORDED } from '../calls/dtmf-digit.js';
import type { BargeIn, CallSnapshot, TranscriptEntry } from '../calls/call.js';

/** dialing: placed, stream not started; live: media flowing; ended: over; failed: never connected (carrier error). */
export type RecordState = 'dialing' | 'live' | 'ended' | 'failed';

export interface CarrierEvent {
  /** The carrier's status (Twilio CallStatus) or event name without `call.` (Telnyx). */
  status: string;
  at: string;
  /** A few fields worth keeping: hangup cause, AMD result, duration. */
  detail?: Record<string, string>;
}

export interface CallRecord {
  callId: string;
  /** REDIS_URL: the node holding the live call (its NODE_ID); absent on one node and on finished calls. */
  node?: string;
  carrierCallId: string | null;
  correlationId: string | null;
  transport: string;
  direction: 'inbound' | 'outbound';
  from: string | null;
  to: string | null;
  state: RecordState;
  createdAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  endReason: string | null;
  error: { code: string; message: string } | null;
  codec: string | null;
  sampleRate: number | null;
  provider: string | null;
  vadEngine: string | null;
  providersUsed: string[];
  /** Provider switches (failover), as the call reported them. */
  switches: unknown[];
  transcripts: TranscriptEntry[];
  dtmf: CallSnapshot['dtmf'];
  bargeIns: BargeIn[];
  turns: number;
  framesIn: number;
  framesOut: number;
  framesDropped: number;
  latency: CallSnapshot['latency'] | null;
  metadata: Record<string, unknown> | null;
  carrier: { status: string | null; answeredBy: string | null; events: CarrierEvent[] };
  updatedAt: string;
}

/** A call keeps its carrier's last this many events. */
const MAX_CARRIER_EVENTS = 100;

/** The stored carrier_events JSON with one more event (the oldest dropped past the bound); an unreadable list starts anew. */
export function withCarrierEvent(stored: string, event: CarrierEvent): string {
  let events: CarrierEvent[];
  try {
    const parsed: unknown = JSON.parse(stored);
    events = Array.isArray(parsed) ? (parsed as CarrierEvent[]) : [];
  } catch {
    events = [];
  }
  events.push(event);
  return JSON.stringify(events.length > MAX_CARRIER_EVENTS ? events.slice(-MAX_CARRIER_EVENTS) : events);
}

/** The columns a snapshot writes (everything but the carrier's fields and the creation time). */
export interface SnapshotRow {
  id: string;
  carrier_call_id: string | null;
  correlation_id: string;
  transport: string;
  direction: string;
  from_number: string | null;
  to_number: string | null;
  state: RecordState;
  created_at: number;
  answered_at: number;
  ended_at: number | null;
  end_reason: string | null;
  codec: string;
  sample_rate: number;
  provider: string;
  vad_engine: string;
  providers_used: string;
  switches: string;
  transcripts: string;
  dtmf: string;
  barge_ins: string;
  turns: number;
  frames_in: number;
  frames_out: number;
  frames_dropped: number;
  latency: string;
  metadata: string | null;
  owner: string;
  updated_at: number;
}

export type CallRow = Omit<SnapshotRow, 'answered_at' | 'correlation_id' | 'codec' | 'sample_rate' | 'provider' | 'vad_engine' | 'latency' | 'owner'> & {
  correlation_id: string | null;
  answered_at: number | null;
  error_code: string | null;
  error_message: string | null;
  codec: string | null;
  sample_rate: number | null;
  provider: string | null;
  vad_engine: string | null;
  latency: string | null;
  carrier_status: string | null;
  answered_by: string | null;
  carrier_events: string;
  owner: string | null;
};

function switchesOf(snapshot: CallSnapshot): unknown[] {
  // The failover history arrives with the provider work; older snapshots simply have none.
  const s = (snapshot as { switches?: unknown }).switches;
  return Array.isArray(s) ? s : [];
}

export function rowFromSnapshot(s: CallSnapshot, owner: string, now: number): SnapshotRow {
  const startedAt = Date.parse(s.startedAt);
  return {
    id: s.callId,
    carrier_call_id: s.carrierCallId || null,
    correlation_id: s.correlationId,
    transport: s.transport,
    direction: s.direction,
    from_number: s.from ?? null,
    to_number: s.to ?? null,
    state: s.state === 'ended' ? 'ended' : 'live',
    created_at: startedAt,
    answered_at: startedAt,
    ended_at: s.endedAt ? Date.parse(s.endedAt) : null,
    end_reason: s.endReason ?? null,
    codec: s.codec,
    sample_rate: s.sampleRate,
    provider: s.provider,
    vad_engine: s.vadEngine,
    providers_used: JSON.stringify(s.providersUsed),
    switches: JSON.stringify(switchesOf(s)),
    transcripts: JSON.stringify(s.transcripts),
    // Bounded even if a snapshot were not: this row is rewritten every second while the call lives.
    dtmf: JSON.stringify(s.dtmf.length > MAX_DTMF_RECORDED ? s.dtmf.slice(0, MAX_DTMF_RECORDED) : s.dtmf),
    barge_ins: JSON.stringify(s.bargeIns),
    turns: s.turns,
    frames_in: s.framesIn,
    frames_out: s.framesOut,
    frames_dropped: s.framesDropped,
    latency: JSON.stringify(s.latency),
    metadata: s.metadata === undefined ? null : JSON.stringify(s.metadata),
    owner,
    updated_at: now,
  };
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function json<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export function recordFromRow(r: CallRow): CallRecord {
  return {
    callId: r.id,
    carrierCallId: r.carrier_call_id,
    correlationId: r.correlation_id,
    transport: r.transport,
    direction: r.direction === 'outbound' ? 'outbound' : 'inbound',
    from: r.from_number,
    to: r.to_number,
    state: r.state,
    createdAt: new Date(r.created_at).toISOString(),
    answeredAt: iso(r.answered_at),
    endedAt: iso(r.ended_at),
    endReason: r.end_reason,
    error: r.error_code === null ? null : { code: r.error_code, message: r.error_message ?? '' },
    codec: r.codec,
    sampleRate: r.sample_rate,
    provider: r.provider,
    vadEngine: r.vad_engine,
    providersUsed: json(r.providers_used, []),
    switches: json(r.switches, []),
    transcripts: json(r.transcripts, []),
    dtmf: json(r.dtmf, []),
    bargeIns: json(r.barge_ins, []),
    turns: r.turns,
    framesIn: r.frames_in,
    framesOut: r.frames_out,
    framesDropped: r.frames_dropped,
    latency: json(r.latency, null),
    metadata: json(r.metadata, null),
    carrier: { status: r.carrier_status, answeredBy: r.answered_by, events: json(r.carrier_events, []) },
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

/**
 * A live call's record: the stored row (creation time, carrier status, error) refreshed with the
 * call's own snapshot; without a row (no store), the snapshot alone.
 */
export function liveRecord(s: CallSnapshot, stored: CallRecord | undefined): CallRecord {
  return {
    callId: s.callId,
    carrierCallId: s.carrierCallId || stored?.carrierCallId || null,
    correlationId: s.correlationId,
    transport: s.transport,
    direction: s.direction,
    from: s.from ?? stored?.from ?? null,
    to: s.to ?? stored?.to ?? null,
    state: s.state === 'ended' ? 'ended' : 'live',
    createdAt: stored?.createdAt ?? s.startedAt,
    answeredAt: stored?.answeredAt ?? s.startedAt,
    endedAt: s.endedAt ?? null,
    endReason: s.endReason ?? null,
    error: stored?.error ?? null,
    codec: s.codec,
    sampleRate: s.sampleRate,
    provider: s.provider,
    vadEngine: s.vadEngine,
    providersUsed: s.providersUsed,
    switches: switchesOf(s),
    transcripts: s.transcripts,
    dtmf: s.dtmf,
    bargeIns: s.bargeIns,
    turns: s.turns,
    framesIn: s.framesIn,
    framesOut: s.framesOut,
    framesDropped: s.framesDropped,
    latency: s.latency,
    metadata: s.metadata ?? stored?.metadata ?? null,
    carrier: stored?.carrier ?? { status: null, answeredBy: null, events: [] },
    updatedAt: new Date().toISOString(),
  };
}
