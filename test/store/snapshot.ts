/** A plausible call snapshot for store tests; override what a test is about. */
import type { CallSnapshot } from '../../src/calls/call.js';

export function snapshot(over: Partial<CallSnapshot> = {}): CallSnapshot {
  return {
    callId: 'call-1',
    carrierCallId: 'CA1',
    correlationId: 'corr-1',
    direction: 'inbound',
    from: '+15550100',
    to: '+15550199',
    metadata: undefined,
    transport: 'twilio',
    codec: 'mulaw',
    sampleRate: 8000,
    provider: 'echo',
    state: 'active',
    startedAt: new Date(1_700_000_000_000).toISOString(),
    endedAt: undefined,
    endReason: undefined,
    framesIn: 10,
    framesOut: 5,
    framesDropped: 0,
    turns: 1,
    bargeIns: [],
    dtmf: [{ digit: '5', atMs: 120, direction: 'in' }],
    vadEngine: 'energy',
    providersUsed: ['echo'],
    transcripts: [{ role: 'user', text: 'hello', atMs: 900, provider: 'echo' }],
    latency: { ingressP50Ms: 0.1, ingressP99Ms: 0.5, ingressMaxMs: 1, replyLatencyMs: [420] },
    switches: [],
    switching: false,
    ...over,
  } as CallSnapshot;
}
