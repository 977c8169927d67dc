/**
 * deepgram-cascade with the real LLM responder in the middle: loopback Deepgram (listen + speak) and
 * loopback chat completions. Streaming (first sentence spoken before the LLM is done), barge-in
 * aborting the LLM stream, end_call, a Deepgram-ended turn, and LLM auth/quota errors opening the breaker.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../../src/observability/metrics.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { AudioFormat, EncodedFrame } from '../../src/pipeline/frame.js';
import { DeepgramCascadeProvider } from '../../src/providers/deepgram/cascade-provider.js';
import { GuardedProvider } from '../../src/providers/guard.js';
import { ChatResponder } from '../../src/providers/llm/chat-responder.js';
import type { ProviderEvent, ProviderSession } from '../../src/providers/types.js';
import { ChatCompletionsFake, type ChatFakeOptions } from '../fakes/chat-completions-fake.js';
import { DeepgramFake, type DeepgramFakeOptions } from '../fakes/deepgram-fake.js';

const KEY = 'dg-cascade-key-9a';
const LLM_KEY = 'sk-cascade-llm-1';
const MULAW: AudioFormat = { codec: 'mulaw', sampleRate: 8000 };
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function setup(llmOpts: Partial<ChatFakeOptions>, dgOpts: Partial<DeepgramFakeOptions> = {}, guarded = false) {
  const dg = await DeepgramFake.start({ apiKey: KEY, ...dgOpts });
  const llm = await ChatCompletionsFake.start({ apiKey: LLM_KEY, ...llmOpts });
  closers.push(() => dg.close(), () => llm.close());
  const inner = new DeepgramCascadeProvider(
    { apiKey: KEY, baseUrl: dg.url, sttModel: 'nova-3', ttsModel: 'aura-2-thalia-en' },
    { responder: new ChatResponder({ baseUrl: llm.url, apiKey: LLM_KEY, model: 'm', instructions: 'Be brief.', endCallTool: true }) },
  );
  const p = guarded
    ? new GuardedProvider(inner, {
        metrics: createMetrics(),
        logger: silentLogger(),
        breaker: { errorThresholdPercentage: 50, volumeThreshold: 100, resetTimeoutMs: 60_000, connectTimeoutMs: 5000, rollingWindowMs: 60_000 },
      })
    : inner;
  const session: ProviderSession = await p.connect({ callId: 'c', inputFormat: MULAW, callerFormat: MULAW, history: [], logger: silentLogger() });
  closers.push(() => session.close());
  const events: ProviderEvent[] = [];
  void (async () => {
    for await (const e of session.events) events.push(e);
  })();
  return { dg, llm, session, events, provider: p };
}

const frame = (seq: number): EncodedFrame => ({ codec: 'mulaw', payload: new Uint8Array(160).fill(0x7f), sampleRate: 8000, seq, timestampMs: seq * 20, sampleCount: 160 });

describe('deepgram-cascade with the LLM', () => {
  it('speaks the first sentence while the LLM is still writing, then the rest with one more flush', async () => {
    const { dg, session, events } = await setup({ reply: () => 'It is sunny today. And warm too, nice for a walk.', chunkChars: 4, chunkDelayMs: 40 });
    session.pushAudio(frame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(events.some((e) => e.type === 'audio')).toBe(true), { timeout: 3000 });
    // First audio came while the LLM was still streaming: the second sentence had not reached TTS yet.
    expect(dg.lastSpeak.spoken).toEqual(['It is sunny today.']);
    await vi.waitFor(() => expect(events.some((e) => e.type === 'responseDone')).toBe(true), { timeout: 5000 });
    expect(dg.lastSpeak.spoken).toEqual(['It is sunny today.', 'And warm too, nice for a walk.']);
    expect(dg.lastSpeak.types).toEqual(['Speak', 'Flush', 'Speak', 'Flush']);
    expect(events.filter((e) => e.type === 'responseDone')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'transcript' && e.role === 'assistant' && e.final)).toEqual([
      { type: 'transcript', role: 'assistant', text: 'It is sunny today. And warm too, nice for a walk.', final: true },
    ]);
  });

  it('barge-in aborts the LLM stream on the wire and clears TTS', async () => {
    const { dg, llm, session, events } = await setup({ reply: () => `First part is here. ${'more words '.repeat(100)}`, chunkChars: 5, chunkDelayMs: 10 });
    session.pushAudio(frame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(events.some((e) => e.type === 'audio')).toBe(true), { timeout: 3000 });
    const id = (events.find((e) => e.type === 'audio') as { responseId: string }).responseId;
    session.interrupt({ responseId: id, heardMs: 20 });
    await vi.waitFor(() => expect(llm.aborted).toBe(1));
    expect(dg.lastSpeak.types).toContain('Clear');
    expect(events.filter((e) => e.type === 'responseDone')).toEqual([{ type: 'responseDone', responseId: id }]);
  });

  it("Deepgram's endpointing (speech_final) ends the turn before our VAD does; the VAD's later turn end adds nothing", async () => {
    const { dg, llm, session, events } = await setup({ reply: () => 'Right away.' }, { endpointAfterBytes: 320, transcript: 'book a table' });
    session.pushAudio(frame(0));
    session.pushAudio(frame(1));
    await vi.waitFor(() => expect(events.some((e) => e.type === 'responseDone')).toBe(true), { timeout: 3000 });
    // No Finalize was needed: Deepgram's final was already here.
    expect(dg.lastListen.types).not.toContain('Finalize');
    expect(llm.requests).toHaveLength(1);
    session.endTurn({ startMs: 0, endMs: 40 });
    await vi.waitFor(() => expect(dg.lastListen.types).toContain('Finalize'));
    await new Promise((r) => setTimeout(r, 100));
    expect(llm.requests).toHaveLength(1);
    expect(dg.lastSpeak.spoken).toEqual(['Right away.']);
  });

  it('end_call: hangup after the goodbye has been spoken', async () => {
    const { session, events } = await setup({ reply: () => 'Goodbye, have a nice day!', endCallOn: 'bye' }, { transcript: 'ok bye' });
    session.pushAudio(frame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(events.some((e) => e.type === 'hangup')).toBe(true), { timeout: 3000 });
    expect(events.findIndex((e) => e.type === 'hangup')).toBeGreaterThan(events.findIndex((e) => e.type === 'responseDone'));
    expect(events.find((e) => e.type === 'hangup')).toEqual({ type: 'hangup', reason: 'bye' });
  });

  it.each([
    [401, 'GW_ERR_PROVIDER_AUTH'],
    [429, 'GW_ERR_PROVIDER_QUOTA'],
    [500, 'GW_ERR_PROVIDER_REMOTE'],
  ])('an LLM HTTP %i is %s; auth and quota are fatal (the call fails over); only a refused key opens the breaker at once', async (status, code) => {
    const { session, events, provider } = await setup({ failStatus: status }, {}, true);
    session.pushAudio(frame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(events.some((e) => e.type === 'error')).toBe(true), { timeout: 3000 });
    const err = events.find((e) => e.type === 'error') as Extract<ProviderEvent, { type: 'error' }>;
    expect(err.error.code).toBe(code);
    expect(err.fatal).toBe(status !== 500);
    // Issue 13: one call's quota error is one breaker failure (volumeThreshold 100 here), not a verdict.
    expect((provider as GuardedProvider).state).toBe(status === 401 ? 'open' : 'closed');
  });
});
