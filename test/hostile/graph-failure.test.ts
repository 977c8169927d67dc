/**
 * Attack: make a stage of the call's ingress stream graph throw (here an odd-length PCM16 payload
 * handed straight to the call, past any transport check). The graph cannot go on, so the call must
 * end with a logged reason and a hangup through call control, recorded; never a silent line.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Call, type CallTransport } from '../../src/calls/call.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createVadService, type VadService } from '../../src/pipeline/vad/vad-service.js';
import { ScriptedProvider } from '../fakes/scripted-provider.js';

let vad: VadService | undefined;
let call: Call | undefined;
afterEach(async () => {
  await call?.end('test_over');
  await vad?.close();
});

function l16Call(onProviderHangup?: (callId: string, reason: string) => void, extra: ScriptedProvider[] = []) {
  const metrics = createMetrics();
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) } });
  vad = createVadService({ engine: 'energy', metrics, logger });
  const closed: { code?: number; reason?: string }[] = [];
  const transport: CallTransport = {
    name: 'telnyx',
    format: { codec: 'pcm16', sampleRate: 16000 },
    sendMedia: () => undefined,
    sendMark: () => undefined,
    sendClear: () => undefined,
    close: (code, reason) => closed.push({ code, reason }),
  };
  const provider = new ScriptedProvider('a', { inputFormats: [{ codec: 'pcm16', sampleRate: 24000 }] });
  call = new Call({
    id: 'call-graph',
    carrierCallId: 'v3:graph',
    correlationId: 'corr-graph',
    transport,
    provider,
    providers: [provider, ...extra],
    vad,
    metrics,
    logger,
    media: { egressLeadMs: 60, egressMaxQueueMs: 60_000 },
    onProviderHangup,
  });
  return { call, metrics, lines, closed };
}

const frame = (bytes: number) => new Uint8Array(bytes);
const waitFor = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('attack: a stage of the stream graph throws', () => {
  it('hangs up through call control with reason ingress_failed, logged and counted', async () => {
    const hangups: { callId: string; reason: string }[] = [];
    const h = l16Call((callId, reason) => {
      hangups.push({ callId, reason });
      void h.call.end(reason); // what call control's hangup does once the carrier confirms
    });
    await h.call.start();
    h.call.handleMedia(frame(640));
    h.call.handleMedia(frame(641)); // odd length: the L16 decoder throws inside the graph
    await waitFor(() => hangups.length > 0 && h.call.state === 'ended');
    expect(hangups).toEqual([{ callId: 'call-graph', reason: 'ingress_failed' }]);
    expect(h.call.snapshot()).toMatchObject({ state: 'ended', endReason: 'ingress_failed' });
    expect((await h.metrics.callGraphFailuresTotal.get()).values[0]?.value).toBe(1);
    expect(h.lines.find((l) => l.event === 'ingress_failed')).toMatchObject({ level: 50 });
    expect(h.closed).toHaveLength(1);
  });

  it('ends the call itself when there is no call control', async () => {
    const h = l16Call();
    await h.call.start();
    h.call.handleMedia(frame(3));
    await waitFor(() => h.call.state === 'ended');
    expect(h.call.snapshot()).toMatchObject({ state: 'ended', endReason: 'ingress_failed' });
  });

  it('a graph retired by a provider switch is not a failure', async () => {
    const h = l16Call(undefined, [new ScriptedProvider('b')]);
    await h.call.start();
    for (let i = 0; i < 10; i++) h.call.handleMedia(frame(640));
    const record = await h.call.switchProvider('manual', 'b');
    expect(record.result).toBe('ok');
    h.call.handleMedia(frame(640));
    await new Promise((r) => setTimeout(r, 50));
    expect(h.call.state).toBe('active');
    // A normal end destroys nothing that counts as a failure either.
    await h.call.end('caller_hangup');
    expect(h.call.snapshot().endReason).toBe('caller_hangup');
    expect((await h.metrics.callGraphFailuresTotal.get()).values[0]?.value ?? 0).toBe(0);
  });
});
