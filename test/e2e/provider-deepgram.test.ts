/**
 * The whole gateway on the deepgram provider, with a loopback Deepgram: a Twilio caller says one
 * short sentence; the listen socket gets the caller's mu-law untouched, the echo responder's reply
 * goes to the speak socket, and the fake's TTS audio comes back to the caller through egress.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { simulateCall } from '../../src/simulator/caller.js';
import { DeepgramFake } from '../fakes/deepgram-fake.js';
import { readBytes } from '../support/fixtures.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const KEY = 'dg-e2e-key-51c0ffee';

describe('gateway end to end on the deepgram provider', () => {
  let fake: DeepgramFake;
  let gw: TestGateway;
  beforeAll(async () => {
    fake = await DeepgramFake.start({ apiKey: KEY, transcript: 'please read me the card', speak: { msPerChar: 40 } });
    gw = await startTestGateway({ PROVIDERS: 'deepgram', DEEPGRAM_API_KEY: KEY, DEEPGRAM_BASE_URL: fake.url, VAD_ENGINE: 'energy' });
  });
  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('a Twilio caller is transcribed, answered and hears the TTS audio, mu-law all the way', { timeout: 30_000 }, async () => {
    // One short utterance between 0.5 s and 1.5 s of mu-law silence.
    const speech = readBytes('g711/cards-003.ulaw');
    const audio = new Uint8Array(4000 + speech.length + 12000).fill(0xff);
    audio.set(speech, 4000);
    const result = await simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio, codec: 'mulaw', tailMs: 1500, maxDurationMs: 15_000 });

    // Listen: mu-law 8 kHz with the right query, the caller's bytes unchanged.
    expect(fake.listens).toHaveLength(1);
    const listen = fake.lastListen;
    expect(listen.query).toMatchObject({ model: 'nova-3', encoding: 'mulaw', sample_rate: '8000', channels: '1', interim_results: 'true', vad_events: 'true' });
    expect(listen.query.endpointing).toMatch(/^\d+$/);
    expect(listen.query.utterance_end_ms).toMatch(/^\d+$/);
    // Every frame the caller sent, in order; the simulator pads with silence, so find the speech whole.
    const got = listen.audioBuffer;
    expect(got.length).toBe(result.framesSent * 160);
    const at = got.indexOf(Buffer.from(speech.subarray(0, 160 * Math.floor(speech.length / 160))));
    expect(at).toBeGreaterThanOrEqual(4000);
    expect(at % 160).toBe(0);
    expect(got.subarray(0, at).every((b) => b === 0xff)).toBe(true);
    expect(listen.types.filter((t) => t === 'Finalize').length).toBeGreaterThanOrEqual(1);

    // Speak: the echo responder's words, containing what the fake heard, flushed once.
    const speak = fake.lastSpeak;
    expect(speak.query).toMatchObject({ encoding: 'mulaw', sample_rate: '8000', model: 'aura-2-thalia-en' });
    expect(speak.spoken).toEqual(['You said: please read me the card']);
    expect(speak.types.filter((t) => t === 'Flush')).toHaveLength(1);

    // The caller heard exactly the fake's TTS audio (mu-law passed straight through egress).
    expect(result.replies).toHaveLength(1);
    const sent = decodeMulaw(new Uint8Array(speak.replies[0].audio));
    const heard = result.replies[0].pcm;
    expect(heard.length).toBeGreaterThanOrEqual(sent.length);
    expect(Buffer.from(heard.buffer, heard.byteOffset, sent.byteLength).equals(Buffer.from(sent.buffer, sent.byteOffset, sent.byteLength))).toBe(true);
    expect(result.clears).toHaveLength(0);

    // Hanging up closes the Deepgram sockets politely.
    await vi.waitFor(() => expect(listen.types.at(-1)).toBe('CloseStream'));
    await Promise.all([listen.closed, speak.closed]);
    const errors = gw.logs.filter((l) => l.event === 'provider_error' || l.event === 'deepgram_protocol_error');
    expect(errors).toEqual([]);
    for (const line of gw.rawLogs) expect(line).not.toContain(KEY);
  });
});
