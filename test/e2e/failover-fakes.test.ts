/**
 * Failover through a real gateway against the providers' loopback fakes: a manual switch chain
 * OpenAI -> Gemini -> Deepgram -> echo in one call with the conversation carried over, and a provider
 * that drops the socket mid-reply, after which the next provider answers the pending turn.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { simulateCall } from '../../src/simulator/caller.js';
import { DeepgramAgentFake } from '../fakes/deepgram-agent-fake.js';
import { GeminiLiveFake } from '../fakes/gemini-live-fake.js';
import { OpenAIRealtimeFake } from '../fakes/openai-realtime-fake.js';
import { readBytes } from '../support/fixtures.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';
import { maxNormalisedCorrelation } from '../support/signal.js';

async function until(cond: () => boolean, ms: number, what: string) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('failover against the loopback provider fakes', () => {
  let openai: OpenAIRealtimeFake;
  let gemini: GeminiLiveFake;
  let deepgram: DeepgramAgentFake;
  beforeAll(async () => {
    openai = await OpenAIRealtimeFake.start({ userTranscript: 'what time is it', replyTranscript: 'it is noon' });
    gemini = await GeminiLiveFake.start({ replyDelayMs: 50, chunkMs: 40 });
    // PROVIDERS=deepgram is the Voice Agent API (issue 14).
    deepgram = await DeepgramAgentFake.start({ apiKey: 'dg-key', transcript: 'read me the card', reply: () => 'Your card is the ace.' });
  });
  afterAll(async () => {
    await openai.close();
    await gemini.close();
    await deepgram.close();
  });

  function env(extra: Record<string, string> = {}) {
    return {
      PROVIDERS: 'openai,gemini,deepgram,echo',
      OPENAI_API_KEY: openai.apiKey,
      OPENAI_BASE_URL: openai.baseUrl,
      OPENAI_CA_FILE: openai.caFile,
      GEMINI_API_KEY: gemini.apiKey,
      GEMINI_BASE_URL: gemini.baseUrl,
      DEEPGRAM_API_KEY: 'dg-key',
      DEEPGRAM_BASE_URL: deepgram.url,
      VAD_ENGINE: 'energy',
      PROVIDER_RESPONSE_TIMEOUT_MS: '4000',
      ...extra,
    };
  }

  it('switches by hand openai -> gemini -> deepgram -> echo in one call, each carrying the conversation', { timeout: 90_000 }, async () => {
    const gw: TestGateway = await startTestGateway(env());
    try {
      const audio = readBytes('calls/call-quiet.8k.ulaw');
      const call = simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio, codec: 'mulaw', tailMs: 2500 });
      await until(() => gw.gateway.calls.size === 1, 5000, 'the call');
      const live = gw.gateway.calls.list()[0];
      const post = async (provider: string) => {
        const res = await fetch(`${gw.baseUrl}/api/v1/calls/${live.id}/provider`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ provider }),
        });
        return { status: res.status, body: (await res.json()) as { switch: { result: string; from: string; to: string } } };
      };
      const chain = ['gemini', 'deepgram', 'echo'];
      for (let i = 0; i < chain.length; i++) {
        // Wait until the current provider has answered a turn and the caller heard it, then switch.
        // (A turn enters the history once the caller has heard its answer to the end.)
        await until(() => live.history.filter((t) => t.role === 'assistant').length >= i + 1, 40_000, `answer ${String(i + 1)}`);
        const historyBefore = [...live.history];
        const res = await post(chain[i]);
        expect(res.status).toBe(200);
        expect(res.body.switch).toMatchObject({ to: chain[i], result: 'ok' });
        if (chain[i] === 'gemini') {
          // Gemini got the conversation so far as client content turns.
          const turns = gemini.of('clientContent').flatMap((c) => (c.turns as { role: string; parts: { text: string }[] }[]) ?? []);
          expect(turns.map((t) => t.parts[0].text)).toEqual(historyBefore.map((h) => h.text));
          expect(historyBefore.map((h) => h.text)).toEqual(['what time is it', 'it is noon']);
        }
        if (chain[i] === 'deepgram') {
          // The agent got the conversation so far as Settings context messages.
          await until(() => deepgram.conns.length > 0 && deepgram.last.settings !== undefined, 5000, 'deepgram settings');
          const messages = ((deepgram.last.settings?.agent as { context?: { messages?: { role: string; content: string }[] } }).context?.messages ?? []).map((m) => [m.role, m.content]);
          expect(messages).toEqual(historyBefore.map((h) => [h.role, h.text]));
        }
      }
      const result = await call;
      const snap = live.snapshot();
      expect(snap.providersUsed).toEqual(['openai', 'gemini', 'deepgram', 'echo']);
      expect(snap.switches.map((s) => s.result)).toEqual(['ok', 'ok', 'ok']);
      expect(result.replies.length).toBeGreaterThanOrEqual(3);
      expect(await metricValue(gw.gateway, 'voice_gateway_provider_switches_total', { reason: 'manual', result: 'ok' })).toBe(3);
    } finally {
      await gw.close();
    }
  });

  it('a provider that drops the socket mid-reply: the next one answers the pending turn with the whole utterance', { timeout: 60_000 }, async () => {
    const dropper = await OpenAIRealtimeFake.start({ faults: { closeAfterDeltas: 3 }, chunkMs: 100, chunkIntervalMs: 100 });
    const gw = await startTestGateway({ ...env(), PROVIDERS: 'openai,gemini', OPENAI_API_KEY: dropper.apiKey, OPENAI_BASE_URL: dropper.baseUrl, OPENAI_CA_FILE: dropper.caFile });
    try {
      const speech = readBytes('g711/cards-003.ulaw');
      const audio = new Uint8Array(4000 + speech.length + 16000).fill(0xff);
      audio.set(speech, 4000);
      const result = await simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio, codec: 'mulaw', tailMs: 2000 });
      const ended = gw.logs.find((l) => l.event === 'switch_finished');
      expect(ended).toMatchObject({ from: 'openai', to: 'gemini', reason: 'provider_closed', result: 'ok' });
      // The caller heard the cut reply, a clear, and then Gemini's answer to the same turn: the echo of what it said.
      expect(result.clears.length).toBeGreaterThanOrEqual(1);
      const last = result.replies.at(-1)!;
      const input = decodeMulaw(audio);
      // The reply lags the input by the resamplers' delay (~16 ms): skip its first 100 ms so the lag is positive.
      const probe = last.pcm.subarray(800, Math.min(last.pcm.length, input.length - 4000));
      expect(maxNormalisedCorrelation(probe, input, input.length - probe.length).ncc).toBeGreaterThanOrEqual(0.8);
      // Gemini received the whole turn: at least as much 16 kHz audio as the utterance lasted.
      const geminiBytes = gemini.of('realtimeInput').filter((r) => r.audio).reduce((n, r) => n + Buffer.from((r.audio as { data: string }).data, 'base64').length, 0);
      expect(geminiBytes / 32).toBeGreaterThanOrEqual((speech.length / 8) * 0.95);
    } finally {
      await gw.close();
      await dropper.close();
    }
  });

  // Each fault of the providers' fakes, through a real gateway: the call moves on to Gemini and the
  // caller's turn is answered there (an echo of what it said).
  const faults: [string, Record<string, unknown>, string][] = [
    ['closes the socket mid-reply', { faults: { closeAfterDeltas: 2 }, chunkMs: 100, chunkIntervalMs: 100 }, 'provider_closed'],
    ['answers with an error event', { faults: { errorEvent: { type: 'server_error', message: 'The server had an error' } } }, 'provider_error'],
    ['rejects the key mid-call', { faults: { errorEvent: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided' } } }, 'breaker_open|provider_error'],
    // It commits the turn (acknowledges it) and never answers: switched at the reply deadline (set to
    // 1.6 s below). A provider merely slow to answer is not switched at all (test/calls/false-failover.test.ts).
    ['hangs (never answers)', { faults: { hang: 'response' } }, 'provider_silent'],
  ];
  it.each(faults)('openai %s: the call goes on with gemini, which answers the same turn', { timeout: 60_000 }, async (_name, options, reason) => {
    const bad = await OpenAIRealtimeFake.start(options);
    const gw = await startTestGateway({ ...env(), PROVIDERS: 'openai,gemini', OPENAI_API_KEY: bad.apiKey, OPENAI_BASE_URL: bad.baseUrl, OPENAI_CA_FILE: bad.caFile, PROVIDER_RESPONSE_TIMEOUT_MS: '1200', PROVIDER_REPLY_TIMEOUT_MS: '1600' });
    try {
      const speech = readBytes('g711/cards-003.ulaw');
      const audio = new Uint8Array(4000 + speech.length + 20000).fill(0xff);
      audio.set(speech, 4000);
      const result = await simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio, codec: 'mulaw', tailMs: 3500 });
      const sw = gw.logs.find((l) => l.event === 'switch_finished');
      expect(sw).toMatchObject({ from: 'openai', to: 'gemini', result: 'ok' });
      expect(String(sw!.reason)).toMatch(new RegExp(`^(${reason})$`));
      expect(sw!.turnsReplayed).toBe(1);
      const last = result.replies.at(-1)!;
      const input = decodeMulaw(audio);
      const probe = last.pcm.subarray(800, Math.min(last.pcm.length, input.length - 4000));
      expect(maxNormalisedCorrelation(probe, input, input.length - probe.length).ncc).toBeGreaterThanOrEqual(0.8);
    } finally {
      await gw.close();
      await bad.close();
    }
  });

  // 100 ms chunks: the chunk openai was filling when it dropped never reaches it; the replay ring has those frames.
  it.each(['20', '100'])('openai drops the socket mid-utterance: gemini gets the whole turn and answers it (PROVIDER_AUDIO_CHUNK_MS=%s)', { timeout: 60_000 }, async (chunkMs) => {
    const dropper = await OpenAIRealtimeFake.start({});
    const gw = await startTestGateway({ ...env(), PROVIDERS: 'openai,gemini', OPENAI_API_KEY: dropper.apiKey, OPENAI_BASE_URL: dropper.baseUrl, OPENAI_CA_FILE: dropper.caFile, PROVIDER_AUDIO_CHUNK_MS: chunkMs });
    try {
      const speech = readBytes('g711/cards-003.ulaw');
      const audio = new Uint8Array(4000 + speech.length + 16000).fill(0xff);
      audio.set(speech, 4000);
      const call = simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio, codec: 'mulaw', tailMs: 2000 });
      // 0.5 s of silence, then speech: cut the provider off 0.4 s into the utterance.
      await until(() => dropper.appendedAudio().length > 4000 + 3200, 10_000, 'mid-utterance');
      dropper.closeClients();
      const result = await call;
      const sw = gw.logs.find((l) => l.event === 'switch_finished');
      expect(sw).toMatchObject({ from: 'openai', to: 'gemini', reason: 'provider_closed', result: 'ok', firstSeq: 0 });
      const last = result.replies.at(-1)!;
      const input = decodeMulaw(audio);
      const probe = last.pcm.subarray(800, Math.min(last.pcm.length, input.length - 4000));
      expect(maxNormalisedCorrelation(probe, input, input.length - probe.length).ncc).toBeGreaterThanOrEqual(0.8);
    } finally {
      await gw.close();
      await dropper.close();
    }
  });
});
