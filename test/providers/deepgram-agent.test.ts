/**
 * The deepgram (Voice Agent) adapter against the loopback agent fake, and the cascade's LLM
 * responder against the loopback chat-completions fake: wire messages, events, end_call, errors.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isGatewayError } from '../../src/errors.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { AudioFormat, EncodedFrame } from '../../src/pipeline/frame.js';
import { DeepgramAgentProvider, type DeepgramAgentConfig } from '../../src/providers/deepgram/agent-provider.js';
import { buildSettings } from '../../src/providers/deepgram/agent-settings.js';
import { SentenceSplitter } from '../../src/providers/deepgram/sentences.js';
import { GuardedProvider } from '../../src/providers/guard.js';
import { ChatResponder } from '../../src/providers/llm/chat-responder.js';
import type { ResponderChunk } from '../../src/providers/deepgram/responder.js';
import type { ConversationTurn, ProviderEvent, ProviderSession } from '../../src/providers/types.js';
import { ChatCompletionsFake, type ChatFakeOptions } from '../fakes/chat-completions-fake.js';
import { DeepgramAgentFake, type AgentFakeOptions } from '../fakes/deepgram-agent-fake.js';

const KEY = 'dg-agent-key-0c0ffee1';
const LLM_KEY = 'sk-llm-fake-0123';
const MULAW: AudioFormat = { codec: 'mulaw', sampleRate: 8000 };
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function config(fake: DeepgramAgentFake, over: Partial<DeepgramAgentConfig> = {}): DeepgramAgentConfig {
  return {
    apiKey: KEY,
    baseUrl: fake.url,
    sttModel: 'nova-3',
    ttsModel: 'aura-2-thalia-en',
    listenModel: 'flux-general-en',
    thinkProvider: 'open_ai',
    thinkModel: 'gpt-4o-mini',
    voice: 'aura-2-thalia-en',
    instructions: 'Be brief.',
    endCallTool: true,
    ...over,
  };
}

async function startAgent(opts: Partial<AgentFakeOptions> = {}): Promise<DeepgramAgentFake> {
  const fake = await DeepgramAgentFake.start({ apiKey: KEY, ...opts });
  closers.push(() => fake.close());
  return fake;
}

async function open(p: DeepgramAgentProvider | GuardedProvider, history: ConversationTurn[] = []): Promise<{ session: ProviderSession; events: ProviderEvent[] }> {
  const session = await p.connect({ callId: 'c1', inputFormat: MULAW, callerFormat: MULAW, history, logger: silentLogger() });
  closers.push(() => session.close());
  const events: ProviderEvent[] = [];
  void (async () => {
    for await (const e of session.events) events.push(e);
  })();
  return { session, events };
}

const frame = (seq: number): EncodedFrame => ({ codec: 'mulaw', payload: new Uint8Array(160).fill(0x7f), sampleRate: 8000, seq, timestampMs: seq * 20, sampleCount: 160 });

describe('deepgram voice agent adapter', () => {
  it('sends Settings first (mu-law both ways, Flux listen, think, voice, prompt, end_call) and passes audio through untouched', async () => {
    const fake = await startAgent();
    const { session } = await open(new DeepgramAgentProvider(config(fake)));
    expect(session.inputFormat).toEqual(MULAW);
    expect(session.outputFormat).toEqual(MULAW);
    const conn = fake.last;
    expect(conn.headers.authorization).toBe(`Token ${KEY}`);
    expect(conn.types[0]).toBe('Settings');
    expect(conn.settings).toMatchObject({
      type: 'Settings',
      audio: { input: { encoding: 'mulaw', sample_rate: 8000 }, output: { encoding: 'mulaw', sample_rate: 8000, container: 'none' } },
      agent: {
        listen: { provider: { type: 'deepgram', version: 'v2', model: 'flux-general-en' } },
        think: { provider: { type: 'open_ai', model: 'gpt-4o-mini' }, prompt: 'Be brief.', functions: [{ name: 'end_call', defer_until_eot: true }] },
        speak: { provider: { type: 'deepgram', model: 'aura-2-thalia-en' } },
      },
    });
    for (let i = 0; i < 3; i++) session.pushAudio(frame(i));
    await vi.waitFor(() => expect(conn.audioBytes).toBe(480));
  });

  it('a VAD turn end sends ForceEndTurn; the reply comes back framed, with transcripts both ways', async () => {
    const fake = await startAgent({ transcript: 'what time is it', reply: () => 'It is noon.' });
    const { session, events } = await open(new DeepgramAgentProvider(config(fake)));
    session.pushAudio(frame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(events.some((e) => e.type === 'responseDone')).toBe(true));
    expect(fake.last.types).toContain('ForceEndTurn');
    const kinds = events.filter((e) => e.type !== 'audio').map((e) => e.type);
    // The caller's words and AgentThinking acknowledge the turn (the call then waits the reply deadline).
    expect(kinds).toEqual(['ack', 'transcript', 'ack', 'responseStart', 'transcript', 'responseDone']);
    expect(events.filter((e) => e.type === 'transcript')).toEqual([
      { type: 'transcript', role: 'user', text: 'what time is it', final: true },
      { type: 'transcript', role: 'assistant', text: 'It is noon.', final: true },
    ]);
    const bytes = events.flatMap((e) => (e.type === 'audio' ? [(e.frame as EncodedFrame).payload.length] : [])).reduce((a, b) => a + b, 0);
    expect(bytes).toBe('It is noon.'.length * 8);
  });

  it('with a Nova listen model the agent owns turn-taking: endTurn sends nothing', async () => {
    const fake = await startAgent({ autoTurnAfterBytes: 320 });
    const { session, events } = await open(new DeepgramAgentProvider(config(fake, { listenModel: 'nova-3' })));
    expect(fake.last.settings).toMatchObject({ agent: { listen: { provider: { version: 'v1', model: 'nova-3' } } } });
    session.pushAudio(frame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    session.pushAudio(frame(1));
    await vi.waitFor(() => expect(events.some((e) => e.type === 'responseDone')).toBe(true));
    expect(fake.last.types).not.toContain('ForceEndTurn');
  });

  it('DEEPGRAM_ENDPOINTING=true with a Flux model: the agent alone ends turns, endTurn sends nothing', async () => {
    const fake = await startAgent({ autoTurnAfterBytes: 320 });
    const { session, events } = await open(new DeepgramAgentProvider(config(fake, { listenModel: 'flux-general-en', endpointing: true })));
    session.pushAudio(frame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    session.pushAudio(frame(1));
    await vi.waitFor(() => expect(events.some((e) => e.type === 'responseDone')).toBe(true));
    expect(fake.last.types).not.toContain('ForceEndTurn');
  });

  it('carries history in as context messages (and skips the greeting); a fresh call gets the greeting', async () => {
    const fake = await startAgent();
    const history: ConversationTurn[] = [
      { role: 'user', text: 'my name is Ada' },
      { role: 'assistant', text: 'Hello Ada' },
    ];
    await open(new DeepgramAgentProvider(config(fake, { greeting: 'Hi!' })), history);
    expect(fake.last.settings).toMatchObject({ agent: { context: { messages: [{ type: 'History', role: 'user', content: 'my name is Ada' }, { type: 'History', role: 'assistant', content: 'Hello Ada' }] } } });
    expect((fake.last.settings?.agent as Record<string, unknown>).greeting).toBeUndefined();
    await open(new DeepgramAgentProvider(config(fake, { greeting: 'Hi!' })));
    expect((fake.last.settings?.agent as Record<string, unknown>).greeting).toBe('Hi!');
  });

  it('end_call: answers the FunctionCallRequest and emits hangup after the goodbye reply is done', async () => {
    const fake = await startAgent({ transcript: 'goodbye now', endCallOn: 'goodbye', reply: () => 'Bye!' });
    const { session, events } = await open(new DeepgramAgentProvider(config(fake)));
    session.pushAudio(frame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(events.some((e) => e.type === 'hangup')).toBe(true));
    const done = events.findIndex((e) => e.type === 'responseDone');
    const hangup = events.findIndex((e) => e.type === 'hangup');
    expect(hangup).toBeGreaterThan(done);
    expect(events[hangup]).toEqual({ type: 'hangup', reason: 'caller said goodbye' });
    expect(fake.last.functionResponses).toEqual([{ type: 'FunctionCallResponse', id: 'fc_1', name: 'end_call', content: '{"ok":true}' }]);
  });

  it('UserStartedSpeaking is barge-in (speechStarted); an interrupted reply ends at once and its late audio is dropped', async () => {
    const fake = await startAgent({ replyDelayMs: 20 });
    const { session, events } = await open(new DeepgramAgentProvider(config(fake)));
    session.pushAudio(frame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(events.some((e) => e.type === 'responseStart')).toBe(true));
    const id = (events.find((e) => e.type === 'responseStart') as { responseId: string }).responseId;
    session.interrupt({ responseId: id, heardMs: 0 });
    expect(events.filter((e) => e.type === 'responseDone')).toEqual([{ type: 'responseDone', responseId: id }]);
    fake.last.send({ type: 'UserStartedSpeaking' });
    fake.last.send(new Uint8Array(160));
    await vi.waitFor(() => expect(events.some((e) => e.type === 'speechStarted')).toBe(true));
    const after = events.slice(events.findIndex((e) => e.type === 'responseDone'));
    expect(after.filter((e) => e.type === 'audio' && e.responseId === id)).toEqual([]);
  });

  it.each([false, true])(
    'the agent stopping its reply for the caller (UserStartedSpeaking) ends it there, and the next reply is heard whole (AgentAudioDone after the cut: %s)',
    async (audioDoneOnBargeIn) => {
      // No `experimental` in our Settings, so no AgentStartedSpeaking marks where the next reply begins.
      const fake = await startAgent({ paceMs: 10, audioDoneOnBargeIn, reply: (_text, turn) => `${String(turn)}`.repeat(200) });
      const { session, events } = await open(new DeepgramAgentProvider(config(fake)));
      expect(fake.last.settings?.experimental).toBeUndefined();
      session.pushAudio(frame(0));
      session.endTurn({ startMs: 0, endMs: 20 });
      await vi.waitFor(() => expect(events.some((e) => e.type === 'audio')).toBe(true));
      const first = (events.find((e) => e.type === 'responseStart') as { responseId: string }).responseId;
      // The caller speaks over it: the agent stops and says so; the call then interrupts what it heard, as TurnTaking does.
      session.pushAudio(frame(1));
      await vi.waitFor(() => expect(events.some((e) => e.type === 'speechStarted')).toBe(true));
      session.interrupt({ responseId: first, heardMs: 20 });
      expect(events.filter((e) => e.type === 'responseDone')).toEqual([{ type: 'responseDone', responseId: first }]);
      session.endTurn({ startMs: 20, endMs: 40 });
      await vi.waitFor(() => expect(events.filter((e) => e.type === 'responseDone')).toHaveLength(2), { timeout: 5000 });
      const starts = events.flatMap((e) => (e.type === 'responseStart' ? [e.responseId] : []));
      expect(starts).toHaveLength(2);
      const second = starts[1];
      const bytesOf = (id: string) => events.reduce((n, e) => n + (e.type === 'audio' && e.responseId === id && 'payload' in e.frame ? e.frame.payload.length : 0), 0);
      expect(bytesOf(second)).toBe(1600); // all of "2" x 200 at 8 bytes a character
      expect(bytesOf(first)).toBeLessThan(1600);
    },
  );

  it('KeepAlive while the caller is silent', async () => {
    const fake = await startAgent();
    await open(new DeepgramAgentProvider(config(fake), { keepAliveMs: 40 }));
    await vi.waitFor(() => expect(fake.last.types.filter((t) => t === 'KeepAlive').length).toBeGreaterThanOrEqual(2));
  });

  it('an in-band Error is fatal; garbage is a non-fatal PROTOCOL error', async () => {
    const fake = await startAgent();
    const { events } = await open(new DeepgramAgentProvider(config(fake)));
    fake.last.send({ type: 'NoSuchThing' });
    fake.last.send({ type: 'Error', code: 'FAILED_TO_THINK', description: 'llm down' });
    await vi.waitFor(() => expect(events.filter((e) => e.type === 'error')).toHaveLength(2));
    const errs = events.flatMap((e) => (e.type === 'error' ? [[e.error.code, e.fatal]] : []));
    expect(errs).toEqual([
      ['GW_ERR_PROVIDER_PROTOCOL', false],
      ['GW_ERR_PROVIDER_REMOTE', true],
    ]);
  });

  it.each([
    [401, 'GW_ERR_PROVIDER_AUTH'],
    [402, 'GW_ERR_PROVIDER_QUOTA'],
    [429, 'GW_ERR_PROVIDER_QUOTA'],
  ])('a handshake refused with HTTP %i is %s and opens the breaker at once', async (status, code) => {
    const fake = await startAgent({ handshakeStatus: status });
    const guarded = new GuardedProvider(new DeepgramAgentProvider(config(fake)), {
      metrics: createMetrics(),
      logger: silentLogger(),
      breaker: { errorThresholdPercentage: 50, volumeThreshold: 100, resetTimeoutMs: 60_000, connectTimeoutMs: 5000, rollingWindowMs: 60_000 },
    });
    const err = await open(guarded).catch((e: unknown) => e);
    expect(isGatewayError(err, code as 'GW_ERR_PROVIDER_AUTH')).toBe(true);
    expect(guarded.state).toBe('open');
  });

  it('the fake refuses malformed settings the way Deepgram documents', async () => {
    const fake = await startAgent();
    const good = buildSettings({ config: config(fake), instructions: 'x', input: { encoding: 'mulaw', sampleRate: 8000 }, output: { encoding: 'mulaw', sampleRate: 8000 }, history: [] });
    const bad = { ...good, audio: { input: { encoding: 'wav', sample_rate: 8000 } } } as unknown as typeof good;
    const { DeepgramClient } = await import('@deepgram/sdk');
    const client = new DeepgramClient({ apiKey: KEY, environment: { base: fake.url, production: fake.url, agent: fake.url, agentRest: fake.url }, reconnect: false });
    const socket = await client.agent.v1.connect({ reconnectAttempts: 0 });
    const got: unknown[] = [];
    socket.on('message', (m) => got.push(m));
    socket.connect();
    await socket.waitForOpen();
    socket.sendSettings(bad);
    await vi.waitFor(() => expect(got).toContainEqual(expect.objectContaining({ type: 'Error', code: 'INVALID_SETTINGS' })));
    socket.sendSettings(good);
    await vi.waitFor(() => expect(got).toContainEqual({ type: 'SettingsApplied' }));
    socket.sendSettings(good);
    await vi.waitFor(() => expect(got).toContainEqual(expect.objectContaining({ code: 'SETTINGS_ALREADY_APPLIED' })));
    socket.close();
  });
});

describe('cascade LLM responder (openai SDK streaming chat completions)', () => {
  async function startChat(opts: Partial<ChatFakeOptions> = {}): Promise<ChatCompletionsFake> {
    const fake = await ChatCompletionsFake.start({ apiKey: LLM_KEY, ...opts });
    closers.push(() => fake.close());
    return fake;
  }
  async function drain(it: AsyncIterable<ResponderChunk>): Promise<ResponderChunk[]> {
    const out: ResponderChunk[] = [];
    for await (const c of it) out.push(c);
    return out;
  }

  it('sends instructions, history and the turn as messages, and streams the text back in pieces', async () => {
    const fake = await startChat({ reply: () => 'Sure. It is sunny today.' });
    const r = new ChatResponder({ baseUrl: fake.url, apiKey: LLM_KEY, model: 'm1', instructions: 'Be brief.' });
    const chunks = await drain(r.respond({ transcript: 'weather?', history: [{ role: 'user', text: 'hi' }, { role: 'assistant', text: 'hello' }] }, { signal: new AbortController().signal }));
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.map((c) => (c.type === 'text' ? c.text : '')).join('')).toBe('Sure. It is sunny today.');
    expect(fake.requests[0]).toMatchObject({
      model: 'm1',
      stream: true,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
        { role: 'user', content: 'weather?' },
      ],
    });
    expect(fake.requests[0].tools).toBeUndefined();
  });

  it('end_call streamed as tool-call deltas becomes an endCall chunk after the text', async () => {
    const fake = await startChat({ reply: () => 'Goodbye!', endCallOn: 'bye' });
    const r = new ChatResponder({ baseUrl: fake.url, apiKey: LLM_KEY, model: 'm', instructions: 'x', endCallTool: true });
    const chunks = await drain(r.respond({ transcript: 'bye', history: [] }, { signal: new AbortController().signal }));
    expect(chunks.at(-1)).toEqual({ type: 'endCall', reason: 'bye' });
  });

  it.each([
    [401, 'GW_ERR_PROVIDER_AUTH', 'bad-key'],
    [429, 'GW_ERR_PROVIDER_QUOTA', LLM_KEY],
    [500, 'GW_ERR_PROVIDER_REMOTE', LLM_KEY],
  ])('HTTP %i is %s', async (status, code, key) => {
    const fake = await startChat(status === 401 ? {} : { failStatus: status });
    const r = new ChatResponder({ baseUrl: fake.url, apiKey: key, model: 'm', instructions: 'x' });
    const err = await drain(r.respond({ transcript: 'a', history: [] }, { signal: new AbortController().signal })).catch((e: unknown) => e);
    expect(isGatewayError(err) && err.code).toBe(code);
  });

  it('an abort stops the stream on the wire', async () => {
    const fake = await startChat({ reply: () => 'One. '.repeat(200), chunkDelayMs: 5 });
    const r = new ChatResponder({ baseUrl: fake.url, apiKey: LLM_KEY, model: 'm', instructions: 'x' });
    const ac = new AbortController();
    const it = r.respond({ transcript: 'a', history: [] }, { signal: ac.signal })[Symbol.asyncIterator]();
    await it.next();
    ac.abort();
    // The stream ends (or throws) with no more text, and the HTTP response is torn down.
    const next = await it.next().catch(() => ({ done: true, value: undefined }));
    expect(next.done).toBe(true);
    await vi.waitFor(() => expect(fake.aborted).toBe(1));
  });
});

describe('sentence splitter', () => {
  it.each([
    [['Hello there. How', ' are you? Fine'], ['Hello there.', 'How are you?'], 'Fine'],
    [['Pi is 3.14 and e is 2.71. ', 'Ok'], ['Pi is 3.14 and e is 2.71.'], 'Ok'],
    // Pieces under 12 characters wait for more, so "Dr." does not end a sentence here.
    [['Hi. ', 'Dr. Smith is here. Yes'], ['Hi. Dr. Smith is here.'], 'Yes'],
  ])('%j -> %j + %j', (pieces, sentences, rest) => {
    const s = new SentenceSplitter();
    expect(pieces.flatMap((p) => s.push(p))).toEqual(sentences);
    expect(s.end()).toBe(rest);
  });
});

describe('deepgram configuration (src/config.ts)', () => {
  it('defaults and the old names kept as aliases', async () => {
    const { loadConfig } = await import('../../src/config.js');
    const c = loadConfig({ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: 'k' });
    expect(c.deepgram).toMatchObject({ listenModel: 'flux-general-en', thinkProvider: 'open_ai', thinkModel: 'gpt-4o-mini', voice: 'aura-2-thalia-en', sttModel: 'nova-3', ttsModel: 'aura-2-thalia-en' });
    const old = loadConfig({ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: 'k', DEEPGRAM_STT_MODEL: 'nova-2', DEEPGRAM_TTS_MODEL: 'aura-2-orion-en' });
    expect(old.deepgram).toMatchObject({ listenModel: 'nova-2', voice: 'aura-2-orion-en', sttModel: 'nova-2', ttsModel: 'aura-2-orion-en' });
    const cascade = loadConfig({ PROVIDERS: 'deepgram-cascade', DEEPGRAM_API_KEY: 'k', OPENAI_API_KEY: 'sk' });
    expect(cascade.llm).toEqual({ baseUrl: undefined, model: 'gpt-4o-mini', apiKey: 'sk' });
    const local = loadConfig({ PROVIDERS: 'deepgram-cascade', DEEPGRAM_API_KEY: 'k', LLM_BASE_URL: 'http://127.0.0.1:11434/v1', LLM_MODEL: 'llama3' });
    expect(local.llm).toEqual({ baseUrl: 'http://127.0.0.1:11434/v1', model: 'llama3', apiKey: undefined });
  });

  it.each([
    ['anthropic', {}, 'claude-3-5-haiku-latest'],
    ['google', {}, 'gemini-2.0-flash'],
    ['groq', {}, 'openai/gpt-oss-20b'],
    ['aws_bedrock', { DEEPGRAM_THINK_ENDPOINT_URL: 'https://bedrock-proxy.example/v1' }, 'anthropic/claude-3-5-haiku-20240307-v1:0'],
    ['open_ai', { DEEPGRAM_THINK_MODEL: 'gpt-4.1-mini' }, 'gpt-4.1-mini'],
  ])("the agent's LLM on %s defaults to one of that provider's own models (the SDK's think-provider types)", async (provider, extra, model) => {
    const { loadConfig } = await import('../../src/config.js');
    const c = loadConfig({ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: 'k', DEEPGRAM_THINK_PROVIDER: provider, ...extra });
    expect(c.deepgram).toMatchObject({ thinkProvider: provider, thinkModel: model });
    const mulaw = { encoding: 'mulaw', sampleRate: 8000 } as const;
    const settings = buildSettings({ config: { ...c.deepgram!, endCallTool: false }, instructions: 'x', input: mulaw, output: mulaw, history: [] });
    expect(settings.agent.think).toMatchObject({ provider: { type: provider, model } });
  });

  it('sends Bedrock its credentials natively when DEEPGRAM_THINK_AWS_* are set: iam, or sts with a session token', async () => {
    // https://developers.deepgram.com/docs/amazon-bedrock-and-deepgram-voice-agent (native integration, recommended).
    const { loadConfig } = await import('../../src/config.js');
    const mulaw = { encoding: 'mulaw', sampleRate: 8000 } as const;
    const keys = { DEEPGRAM_THINK_AWS_REGION: 'us-east-2', DEEPGRAM_THINK_AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', DEEPGRAM_THINK_AWS_SECRET_ACCESS_KEY: 'secret-example' };
    const think = (env: Record<string, string>) => {
      const c = loadConfig({ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: 'k', DEEPGRAM_THINK_PROVIDER: 'aws_bedrock', ...env });
      return buildSettings({ config: { ...c.deepgram!, endCallTool: false }, instructions: 'x', input: mulaw, output: mulaw, history: [] }).agent.think;
    };
    expect(think(keys)).toEqual({
      provider: { type: 'aws_bedrock', model: 'anthropic/claude-3-5-haiku-20240307-v1:0', credentials: { type: 'iam', region: 'us-east-2', access_key_id: 'AKIAEXAMPLE', secret_access_key: 'secret-example' } },
      prompt: 'x',
    });
    expect(think({ ...keys, DEEPGRAM_THINK_AWS_SESSION_TOKEN: 'session-example' })).toMatchObject({ provider: { credentials: { type: 'sts', session_token: 'session-example' } } });
    // Through a proxy instead: the endpoint, no credentials.
    expect(think({ DEEPGRAM_THINK_ENDPOINT_URL: 'https://bedrock-proxy.example/v1' })).toMatchObject({ provider: { type: 'aws_bedrock' }, endpoint: { url: 'https://bedrock-proxy.example/v1' } });
    expect(think({ DEEPGRAM_THINK_ENDPOINT_URL: 'https://bedrock-proxy.example/v1' })!).not.toHaveProperty('provider.credentials');
  });

  it.each([
    [{ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: 'k', DEEPGRAM_THINK_PROVIDER: 'aws_bedrock', DEEPGRAM_THINK_AWS_REGION: 'us-east-2', DEEPGRAM_THINK_AWS_ACCESS_KEY_ID: 'AKIA' }, /DEEPGRAM_THINK_AWS_SECRET_ACCESS_KEY/],
    [{ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: 'k', DEEPGRAM_THINK_AWS_REGION: 'us-east-2', DEEPGRAM_THINK_AWS_ACCESS_KEY_ID: 'AKIA', DEEPGRAM_THINK_AWS_SECRET_ACCESS_KEY: 's' }, /aws_bedrock only/],
    [{ PROVIDERS: 'deepgram-cascade', DEEPGRAM_API_KEY: 'k' }, /LLM_API_KEY/],
    [{ PROVIDERS: 'deepgram-cascade', DEEPGRAM_API_KEY: 'k', OPENAI_API_KEY: 'sk', DEEPGRAM_STT_MODEL: 'flux-general-en' }, /DEEPGRAM_STT_MODEL/],
    [{ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: 'k', DEEPGRAM_THINK_PROVIDER: 'skynet' }, /DEEPGRAM_THINK_PROVIDER/],
    [{ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: 'k', DEEPGRAM_THINK_API_KEY: 'x' }, /DEEPGRAM_THINK_API_KEY/],
    [{ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: 'k', DEEPGRAM_THINK_PROVIDER: 'aws_bedrock' }, /DEEPGRAM_THINK_ENDPOINT_URL/],
    [{ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: 'k', DEEPGRAM_THINK_PROVIDER: 'groq', DEEPGRAM_THINK_MODEL: 'gpt-4o-mini' }, /DEEPGRAM_THINK_MODEL/],
    [{ PROVIDERS: 'deepgram-cascade' }, /DEEPGRAM_API_KEY/],
  ])('rejects %o naming the variable', async (env, pattern) => {
    const { loadConfig } = await import('../../src/config.js');
    expect(() => loadConfig(env)).toThrow(pattern);
  });
});
