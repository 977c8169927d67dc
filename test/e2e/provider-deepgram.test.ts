/**
 * The whole gateway on both Deepgram forms, with loopback fakes: a Twilio caller says one short
 * sentence and hears the answer, mu-law all the way.
 * - `deepgram`: the Voice Agent socket gets Settings then the caller's mu-law untouched; our VAD's
 *   turn end becomes ForceEndTurn (Flux default); the agent's audio reaches the caller.
 * - `deepgram-cascade`: Deepgram STT -> the LLM (chat completions fake) -> Deepgram TTS; the caller
 *   hears the LLM's words, never "You said".
 * - Barge-in on both: the caller speaks over a long reply; the carrier is told to clear, nothing more of
 *   that reply reaches the caller, and the next turn is answered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { simulateCall } from '../../src/simulator/caller.js';
import { ChatCompletionsFake } from '../fakes/chat-completions-fake.js';
import { DeepgramAgentFake } from '../fakes/deepgram-agent-fake.js';
import { DeepgramFake } from '../fakes/deepgram-fake.js';
import { readBytes, readLabels } from '../support/fixtures.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';

const KEY = 'dg-e2e-key-51c0ffee';
const LLM_KEY = 'sk-e2e-llm-7f00';

function callerAudio(): Uint8Array {
  // One short utterance between 0.5 s and 1.5 s of mu-law silence.
  const speech = readBytes('g711/cards-003.ulaw');
  const audio = new Uint8Array(4000 + speech.length + 12000).fill(0xff);
  audio.set(speech, 4000);
  return audio;
}

describe('gateway end to end on the deepgram voice agent', () => {
  let fake: DeepgramAgentFake;
  let gw: TestGateway;
  beforeAll(async () => {
    fake = await DeepgramAgentFake.start({ apiKey: KEY, transcript: 'please read me the card', reply: () => 'Here is your card, it is the ace of spades.' });
    gw = await startTestGateway({ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: KEY, DEEPGRAM_BASE_URL: fake.url, VAD_ENGINE: 'energy', ASSISTANT_INSTRUCTIONS: 'You read cards.' });
  });
  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('a Twilio caller is heard by the agent and hears its reply, mu-law passthrough both ways', { timeout: 30_000 }, async () => {
    const result = await simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio: callerAudio(), codec: 'mulaw', tailMs: 1500, maxDurationMs: 15_000 });
    const conn = fake.last;
    expect(conn.types[0]).toBe('Settings');
    expect(conn.settings).toMatchObject({ audio: { input: { encoding: 'mulaw', sample_rate: 8000 }, output: { encoding: 'mulaw', sample_rate: 8000 } }, agent: { think: { prompt: 'You read cards.' } } });
    expect(conn.audioBytes).toBe(result.framesSent * 160);
    expect(conn.types).toContain('ForceEndTurn');
    expect(result.replies).toHaveLength(1);
    // 8 bytes of 0x55 per reply character: the caller heard exactly that.
    const sent = decodeMulaw(new Uint8Array('Here is your card, it is the ace of spades.'.length * 8).fill(0x55));
    const heard = result.replies[0].pcm;
    expect(Buffer.from(heard.buffer, heard.byteOffset, sent.byteLength).equals(Buffer.from(sent.buffer, sent.byteOffset, sent.byteLength))).toBe(true);
    expect(gw.logs.filter((l) => l.event === 'provider_error' || l.event === 'deepgram_protocol_error')).toEqual([]);
    for (const line of gw.rawLogs) expect(line).not.toContain(KEY);
  });
});

describe('END_CALL_TOOL and the breaker through the gateway, both Deepgram forms', () => {
  it('deepgram: the agent calls end_call after its goodbye; the gateway hangs up once it has played', { timeout: 30_000 }, async () => {
    const fake = await DeepgramAgentFake.start({ apiKey: KEY, transcript: 'thanks, bye', endCallOn: 'bye', reply: () => 'Goodbye, take care!' });
    const gw = await startTestGateway({ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: KEY, DEEPGRAM_BASE_URL: fake.url, VAD_ENGINE: 'energy', END_CALL_TOOL: '1' });
    try {
      const speech = readBytes('g711/cards-003.ulaw');
      const audio = new Uint8Array(4000 + speech.length + 40000).fill(0xff); // the caller would stay 5 s longer
      audio.set(speech, 4000);
      const result = await simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio, codec: 'mulaw', tailMs: 1500 });
      expect(result.replies).toHaveLength(1);
      expect(result.replies[0].cleared).toBe(false);
      expect(gw.logs.find((l) => l.event === 'call_ended')?.reason).toBe('provider_goodbye');
      expect(fake.last.functionResponses).toHaveLength(1);
    } finally {
      await gw.close();
      await fake.close();
    }
  });

  it('deepgram-cascade: an LLM refusing the key opens the breaker and the call moves to the next provider', { timeout: 30_000 }, async () => {
    const dg = await DeepgramFake.start({ apiKey: KEY, transcript: 'hello' });
    const llm = await ChatCompletionsFake.start({ apiKey: 'the-right-key' });
    const gw = await startTestGateway({
      PROVIDERS: 'deepgram-cascade,echo',
      DEEPGRAM_API_KEY: KEY,
      DEEPGRAM_BASE_URL: dg.url,
      LLM_BASE_URL: llm.url,
      LLM_API_KEY: 'a-wrong-key',
      VAD_ENGINE: 'energy',
    });
    try {
      const result = await simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio: callerAudio(), codec: 'mulaw', tailMs: 2500, maxDurationMs: 15_000 });
      expect(gw.logs.some((l) => l.event === 'provider_hard_failure' && l.code === 'GW_ERR_PROVIDER_AUTH')).toBe(true);
      expect(await metricValue(gw.gateway, 'voice_gateway_circuit_breaker_state', { provider: 'deepgram-cascade' })).toBe(2);
      // The echo provider took the turn over and answered it.
      expect(result.replies.length).toBeGreaterThanOrEqual(1);
    } finally {
      await gw.close();
      await llm.close();
      await dg.close();
    }
  });
});

describe('gateway end to end on the deepgram cascade (STT -> LLM -> TTS)', () => {
  let dg: DeepgramFake;
  let llm: ChatCompletionsFake;
  let gw: TestGateway;
  beforeAll(async () => {
    dg = await DeepgramFake.start({ apiKey: KEY, transcript: 'please read me the card', speak: { msPerChar: 20 } });
    llm = await ChatCompletionsFake.start({ apiKey: LLM_KEY, reply: () => 'Your card is the ace of spades. Anything else I can do?' });
    gw = await startTestGateway({
      PROVIDERS: 'deepgram-cascade',
      DEEPGRAM_API_KEY: KEY,
      DEEPGRAM_BASE_URL: dg.url,
      LLM_BASE_URL: llm.url,
      LLM_API_KEY: LLM_KEY,
      LLM_MODEL: 'fake-model',
      VAD_ENGINE: 'energy',
      ASSISTANT_INSTRUCTIONS: 'You read cards.',
    });
  });
  afterAll(async () => {
    await gw?.close();
    await llm?.close();
    await dg?.close();
  });

  it('the caller hears the LLM answer, first sentence flushed on its own, and never "You said"', { timeout: 30_000 }, async () => {
    const result = await simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio: callerAudio(), codec: 'mulaw', tailMs: 2500, maxDurationMs: 15_000 });
    expect(llm.requests).toHaveLength(1);
    expect(llm.requests[0]).toMatchObject({ model: 'fake-model', stream: true, messages: [{ role: 'system', content: 'You read cards.' }, { role: 'user', content: 'please read me the card' }] });
    const speak = dg.lastSpeak;
    expect(speak.spoken).toEqual(['Your card is the ace of spades.', 'Anything else I can do?']);
    expect(speak.types.filter((t) => t !== 'Close')).toEqual(['Speak', 'Flush', 'Speak', 'Flush']);
    expect(speak.spoken.join(' ')).not.toContain('You said');
    expect(result.replies.length).toBeGreaterThanOrEqual(1);
    const sent = Buffer.concat(speak.replies.map((r) => r.audio));
    const heardSamples = result.replies.reduce((n, r) => n + r.pcm.length, 0);
    expect(heardSamples).toBeGreaterThanOrEqual(sent.length);
    expect(gw.logs.filter((l) => l.event === 'provider_error')).toEqual([]);
    for (const line of gw.rawLogs) {
      expect(line).not.toContain(KEY);
      expect(line).not.toContain(LLM_KEY);
    }
  });
});

/**
 * The caller speaks over a 4 s reply (call-quiet: utterance 2 starts 1.9 s after utterance 1 ends).
 * Returns the clear time and the caller media time utterance 2 ended, for the checks both forms share.
 */
async function bargeInCall(gw: TestGateway) {
  const audio = readBytes('calls/call-quiet.8k.ulaw');
  const labels = readLabels('call-quiet');
  const result = await simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio, codec: 'mulaw', turnTaking: 'overlap', tailMs: 2000, maxDurationMs: 30_000 });
  expect(result.clearAtMs.length).toBeGreaterThanOrEqual(1);
  const clearAt = result.clearAtMs[0];
  const onsetMs = result.audioFrameSentAtMs[Math.floor(labels.utterances[1].startMs / 20)];
  expect(clearAt).toBeGreaterThan(onsetMs - 250);
  // Nothing of the interrupted reply arrives after the clear, until utterance 2 has ended.
  const utterance2EndMs = result.audioFrameSentAtMs[Math.floor(labels.utterances[1].endMs / 20)];
  expect(result.arrivalsMs.filter((t) => t > clearAt + 5 && t < utterance2EndMs)).toHaveLength(0);
  expect(result.replies[0].cleared).toBe(true);
  // The turns after the barge-in are answered.
  expect(result.replies.length).toBeGreaterThanOrEqual(2);
  expect(await metricValue(gw.gateway, 'voice_gateway_barge_ins_total')).toBeGreaterThanOrEqual(1);
  expect(await metricValue(gw.gateway, 'voice_gateway_provider_switches_total')).toBe(0);
  return result;
}

describe('barge-in through the gateway, both Deepgram forms', () => {
  it('deepgram: speaking over the agent clears the carrier and drops the rest of that reply', { timeout: 45_000 }, async () => {
    // 4000 characters at 8 bytes each: 4 s of mu-law per reply.
    const fake = await DeepgramAgentFake.start({ apiKey: KEY, transcript: 'hello', reply: (_t, turn) => `${String(turn)}`.padEnd(4000, '.') });
    const gw = await startTestGateway({ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: KEY, DEEPGRAM_BASE_URL: fake.url, VAD_ENGINE: 'energy' });
    try {
      await bargeInCall(gw);
      expect(gw.logs.some((l) => l.event === 'barge_in')).toBe(true);
    } finally {
      await gw.close();
      await fake.close();
    }
  });

  it('deepgram-cascade: speaking over the reply clears Deepgram TTS and the carrier', { timeout: 45_000 }, async () => {
    const dg = await DeepgramFake.start({ apiKey: KEY, transcript: 'hello', speak: { msPerChar: 40 } });
    const llm = await ChatCompletionsFake.start({ apiKey: LLM_KEY, reply: () => 'This is a long answer that takes a while to say. It goes on for some seconds more.' });
    const gw = await startTestGateway({ PROVIDERS: 'deepgram-cascade', DEEPGRAM_API_KEY: KEY, DEEPGRAM_BASE_URL: dg.url, LLM_BASE_URL: llm.url, LLM_API_KEY: LLM_KEY, VAD_ENGINE: 'energy' });
    try {
      await bargeInCall(gw);
      // Deepgram synthesises faster than real time: the reply was whole in our egress queue when the
      // caller spoke, so the clear happened there (Deepgram's own Clear is unit-tested in deepgram.test.ts).
      expect(llm.requests.length).toBeGreaterThanOrEqual(2);
    } finally {
      await gw.close();
      await llm.close();
      await dg.close();
    }
  });
});
