/**
 * The whole path on the Gemini adapter against the loopback Gemini Live fake: webhook -> Twilio media
 * -> decode -> VAD/turns -> resample to 16 kHz -> Gemini Live (echo fake, 24 kHz back) -> resample
 * -> encode -> paced egress -> the simulated caller.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { simulateCall } from '../../src/simulator/caller.js';
import { GeminiLiveFake } from '../fakes/gemini-live-fake.js';
import { readBytes } from '../support/fixtures.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { maxNormalisedCorrelation } from '../support/signal.js';

describe('gateway end to end on the gemini provider (loopback Gemini Live)', () => {
  let fake: GeminiLiveFake;
  let gw: TestGateway;
  beforeAll(async () => {
    fake = await GeminiLiveFake.start({ replyDelayMs: 100, chunkMs: 40 });
    gw = await startTestGateway({ PROVIDERS: 'gemini', GEMINI_API_KEY: fake.apiKey, GEMINI_BASE_URL: fake.baseUrl, VAD_ENGINE: 'energy' });
  });
  afterAll(async () => {
    await gw.close();
    await fake.close();
  });

  it('a Twilio caller hears its utterance back through Gemini Live', { timeout: 30_000 }, async () => {
    // A short utterance between 0.5 s and 1 s of mu-law silence: one caller turn, one reply.
    const speech = readBytes('g711/cards-003.ulaw');
    const audio = new Uint8Array(4000 + speech.length + 8000).fill(0xff);
    audio.set(speech, 4000);
    const result = await simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio, codec: 'mulaw', tailMs: 1500 });

    // What reached Gemini: the setup we mean, then 20 ms chunks of 16 kHz PCM bracketed as one activity.
    expect(fake.connections).toHaveLength(1);
    const setup = fake.connections[0].setup!;
    expect(setup.model).toBe('models/gemini-3.8-live'); // the default: the old one was shut down on 2025-12-09
    expect(setup.generationConfig).toMatchObject({ responseModalities: ['AUDIO'] });
    expect(setup.realtimeInputConfig).toMatchObject({ automaticActivityDetection: { disabled: true } });
    const inputs = fake.of('realtimeInput');
    const chunks = inputs.filter((r) => r.audio).map((r) => r.audio as { mimeType: string; data: string });
    expect(new Set(chunks.map((c) => c.mimeType))).toEqual(new Set(['audio/pcm;rate=16000']));
    expect(chunks.every((c) => Buffer.from(c.data, 'base64').length === 640)).toBe(true);
    const stream = fake.inputStream();
    const firstEnd = stream.indexOf('end');
    expect(stream[0]).toBe('start');
    expect(firstEnd).toBeGreaterThan(0);
    // The caller's turn went to Gemini whole: every frame up to the turn end, the speech included.
    const speechFrames = Math.ceil((4000 + speech.length) / 160);
    expect(firstEnd - 1).toBeGreaterThanOrEqual(speechFrames);

    // What came back: one reply, the caller's own audio (the fake echoes), through both resamplers.
    expect(result.replies).toHaveLength(1);
    // Find the utterance inside the reply (the reply also carries the silence around it).
    const reply = result.replies[0].pcm;
    const spoken = decodeMulaw(speech);
    expect(reply.length).toBeGreaterThanOrEqual(spoken.length);
    const { ncc } = maxNormalisedCorrelation(spoken, reply, reply.length - spoken.length);
    expect(ncc).toBeGreaterThanOrEqual(0.8);
    expect(result.clears).toHaveLength(0);
    // The call hung up: its Gemini socket is closed, and the key never reached a log line.
    await fake.waitFor(() => fake.connections[0].closed, 5000, 'the Gemini socket to close');
    expect(gw.rawLogs.join('\n')).not.toContain(fake.apiKey);
    expect(gw.logs.some((l) => l.event === 'gemini_connected')).toBe(true);
  });
});
