import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { PROVIDER_DESCRIPTORS, knownProviderNames } from '../../src/providers/descriptors.js';
import { ADAPTERS, AUTO_AUDIO_CHUNK_MS, audioChunkMsFor, turnDetectionOf } from '../../src/providers/registry.js';
import { classifyUpgradeFailure, codeOfUpgradeStatus, upgradeStatusOf } from '../../src/providers/ws-errors.js';
import { redactKeyParams, redactSecret } from '../../src/util/redact.js';

describe('provider descriptors (src/providers/<name>/index.ts)', () => {
  it('list every PROVIDERS name once, in the order the config error names them', () => {
    expect(knownProviderNames()).toEqual(['echo', 'openai', 'gemini', 'deepgram', 'deepgram-cascade']);
    expect(Object.keys(ADAPTERS)).toEqual(knownProviderNames());
    expect(() => loadConfig({ PROVIDERS: 'skynet' })).toThrow("names an unknown provider 'skynet' (known: echo, openai, gemini, deepgram, deepgram-cascade)");
  });

  it('each parses only the variables it declares (a descriptor reading another one fails at start-up)', () => {
    for (const d of PROVIDER_DESCRIPTORS) {
      const slice = Object.fromEntries(d.env.map((n) => [n, undefined]));
      const guarded = new Proxy(slice, {
        get(t, k) {
          if (typeof k === 'string' && !d.env.includes(k)) throw new Error(`${d.name} read ${k}`);
          return t[k as string];
        },
      });
      expect(() => d.settings(guarded, { providers: [], providerTurns: false })).not.toThrow();
    }
  });

  it('their settings land in Config under the old keys, and create builds the named adapter', () => {
    const c = loadConfig({ PROVIDERS: 'openai,gemini,deepgram,deepgram-cascade', OPENAI_API_KEY: 'sk', GEMINI_API_KEY: 'g', DEEPGRAM_API_KEY: 'd', ECHO_REPLY_DELAY_MS: '40', END_CALL_TOOL: 'true' });
    expect(c.echoReplyDelayMs).toBe(40);
    expect(c.openai).toMatchObject({ apiKey: 'sk', model: 'gpt-realtime', endCallTool: true });
    expect(c.gemini).toMatchObject({ apiKey: 'g', activityDetection: 'client', endCallTool: true });
    expect(c.deepgram).toMatchObject({ apiKey: 'd', endCallTool: true });
    expect(c.llm).toEqual({ baseUrl: undefined, model: 'gpt-4o-mini', apiKey: 'sk' });
    for (const name of knownProviderNames()) expect(ADAPTERS[name]!(c).name).toBe(name);
    expect(turnDetectionOf('openai', c)).toBe('the gateway VAD (silero)');
    expect(turnDetectionOf('deepgram-cascade', c)).toBe('deepgram endpointing or the gateway VAD (silero), whichever first');
  });

  it('PROVIDER_AUDIO_CHUNK_MS: a number is for every provider; auto chunks only where the gateway VAD alone ends turns', () => {
    const keys = { OPENAI_API_KEY: 'sk', GEMINI_API_KEY: 'g', DEEPGRAM_API_KEY: 'd' };
    expect(loadConfig({}).media.providerAudioChunkMs).toBe(20);
    expect(audioChunkMsFor('openai', loadConfig({ ...keys, PROVIDER_AUDIO_CHUNK_MS: '100' }))).toBe(100);
    expect(() => loadConfig({ PROVIDER_AUDIO_CHUNK_MS: '300' })).toThrow(/PROVIDER_AUDIO_CHUNK_MS/);
    expect(() => loadConfig({ PROVIDER_AUDIO_CHUNK_MS: 'soon' })).toThrow(/PROVIDER_AUDIO_CHUNK_MS/);
    const auto = loadConfig({ ...keys, PROVIDER_AUDIO_CHUNK_MS: 'auto' });
    expect(auto.media.providerAudioChunkMs).toBe('auto');
    // Silero ends the turns for these: a turn's end flushes the chunk before the commit.
    expect(audioChunkMsFor('openai', auto)).toBe(AUTO_AUDIO_CHUNK_MS);
    expect(audioChunkMsFor('gemini', auto)).toBe(AUTO_AUDIO_CHUNK_MS);
    expect(audioChunkMsFor('echo', auto)).toBe(AUTO_AUDIO_CHUNK_MS);
    // These hear the turns in the audio themselves: every frame goes on as it comes.
    expect(audioChunkMsFor('deepgram', auto)).toBe(20);
    expect(audioChunkMsFor('deepgram-cascade', auto)).toBe(20);
    expect(audioChunkMsFor('openai', loadConfig({ ...keys, PROVIDER_AUDIO_CHUNK_MS: 'auto', OPENAI_TURN_DETECTION: 'semantic_vad' }))).toBe(20);
    expect(audioChunkMsFor('openai', loadConfig({ ...keys, PROVIDER_AUDIO_CHUNK_MS: 'auto', VAD_ENGINE: 'off' }))).toBe(20);
    // With the VAD off nothing of ours ends turns, even for echo, whose turn detection names the gateway VAD.
    expect(audioChunkMsFor('echo', loadConfig({ PROVIDER_AUDIO_CHUNK_MS: 'auto', VAD_ENGINE: 'off' }))).toBe(20);
    expect(audioChunkMsFor('gemini', loadConfig({ ...keys, PROVIDER_AUDIO_CHUNK_MS: 'auto', GEMINI_ACTIVITY_DETECTION: 'automatic' }))).toBe(20);
  });
});

describe('shared WebSocket upgrade errors (src/providers/ws-errors.ts)', () => {
  it.each([
    ['Unexpected server response: 401', 401, 'GW_ERR_PROVIDER_AUTH'],
    ['Unexpected server response: 403', 403, 'GW_ERR_PROVIDER_AUTH'],
    ['Unexpected server response: 429', 429, 'GW_ERR_PROVIDER_QUOTA'],
    ['Unexpected server response: 402', 402, 'GW_ERR_PROVIDER_CONNECT'],
    ['Unexpected server response: 500', 500, 'GW_ERR_PROVIDER_CONNECT'],
    ['connect ECONNREFUSED 127.0.0.1:1', undefined, 'GW_ERR_PROVIDER_CONNECT'],
  ])('%s -> %s %s', (message, status, code) => {
    expect(upgradeStatusOf(message)).toBe(status);
    expect(classifyUpgradeFailure(message)).toEqual({ code, status });
  });

  it('takes a per-service table (Deepgram 402 quota, Gemini 400 auth)', () => {
    expect(codeOfUpgradeStatus(402, { auth: [401, 403], quota: [402, 429] })).toBe('GW_ERR_PROVIDER_QUOTA');
    expect(codeOfUpgradeStatus(400, { auth: [400, 401, 403], quota: [429] })).toBe('GW_ERR_PROVIDER_AUTH');
    expect(codeOfUpgradeStatus(400)).toBe('GW_ERR_PROVIDER_CONNECT');
  });
});

describe('secret redaction (src/util/redact.ts)', () => {
  it('removes every occurrence of the secret, and nothing without one', () => {
    expect(redactSecret('bad key sk-123 (sk-123)', 'sk-123')).toBe('bad key [redacted] ([redacted])');
    expect(redactSecret('no secret here', undefined)).toBe('no secret here');
    expect(redactSecret('no secret here', '')).toBe('no secret here');
  });

  it('removes credential query parameters whatever their value', () => {
    expect(redactKeyParams('wss://h/ws?key=abc&x=1 and https://h/?access_token=t')).toBe('wss://h/ws?key=[redacted]&x=1 and https://h/?access_token=[redacted]');
    expect(redactKeyParams('wss://h/ws?monkey=1')).toBe('wss://h/ws?monkey=1');
  });
});
