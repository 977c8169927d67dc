/**
 * The whole path on the OpenAI Realtime provider, against the loopback fake over real TLS: a Twilio
 * caller's mu-law goes to the fake untouched (audio/pcmu in), our VAD ends the turn (commit +
 * response.create), the fake answers with the committed audio in mu-law (audio/pcmu out) and the caller
 * hears its own words back through egress.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { simulateCall } from '../../src/simulator/caller.js';
import { OpenAIRealtimeFake } from '../fakes/openai-realtime-fake.js';
import { readBytes } from '../support/fixtures.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';
import { maxNormalisedCorrelation } from '../support/signal.js';

/** A gateway on the fake, with our energy VAD ending the turns. */
function gatewayOn(fake: OpenAIRealtimeFake, env: Record<string, string> = {}): Promise<TestGateway> {
  return startTestGateway({ PROVIDERS: 'openai', OPENAI_API_KEY: fake.apiKey, OPENAI_BASE_URL: fake.baseUrl, OPENAI_CA_FILE: fake.caFile, VAD_ENGINE: 'energy', ...env });
}

/** The utterance after 0.5 s of silence, then `tailBytes` more of silence (mu-law). */
function utterance(speech: Uint8Array, tailBytes: number): Uint8Array {
  const audio = new Uint8Array(4000 + speech.length + tailBytes).fill(0xff);
  audio.set(speech, 4000);
  return audio;
}

describe('gateway end to end on the OpenAI Realtime provider (loopback fake)', () => {
  let fake: OpenAIRealtimeFake;
  let gw: TestGateway;

  beforeAll(async () => {
    fake = await OpenAIRealtimeFake.start({ replyDelayMs: 50, chunkMs: 200 });
    gw = await gatewayOn(fake);
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  it('a Twilio caller hears its own utterance back, mu-law end to end', { timeout: 30_000 }, async () => {
    const speech = readBytes('g711/cards-003.ulaw');
    const audio = utterance(speech, 12000);
    const result = await simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio, codec: 'mulaw', tailMs: 1500 });

    // The session was set up for G.711 mu-law both ways, with our VAD driving turns.
    expect(fake.handshakes).toEqual([{ path: '/v1/realtime', model: 'gpt-realtime', authorized: true }]);
    const [update] = fake.received('session.update') as unknown as { session: { type: string; audio: { input: Record<string, unknown>; output: Record<string, unknown> } } }[];
    expect(update.session.type).toBe('realtime');
    expect(update.session.audio.input.format).toEqual({ type: 'audio/pcmu' });
    expect(update.session.audio.input.turn_detection).toBeNull();
    expect(update.session.audio.output.format).toEqual({ type: 'audio/pcmu' });
    // One turn: committed once, answered once.
    expect(fake.received('input_audio_buffer.commit')).toHaveLength(1);
    expect(fake.received('response.create')).toHaveLength(1);
    // The caller's bytes reached the provider exactly as sent (no transcode on the way in).
    const appended = fake.appendedAudio();
    // (The simulated caller may lead with a few silent frames, so look for the speech, byte for byte.)
    expect(appended.indexOf(Buffer.from(speech))).toBeGreaterThanOrEqual(4000);

    // The caller heard one reply, and it is what it said.
    expect(result.replies).toHaveLength(1);
    const reply = result.replies[0];
    expect(reply.cleared).toBe(false);
    const said = decodeMulaw(speech);
    const { ncc } = maxNormalisedCorrelation(said, reply.pcm, Math.max(0, reply.pcm.length - said.length));
    expect(ncc).toBeGreaterThan(0.95);

    expect(await metricValue(gw.gateway, 'voice_gateway_provider_requests_total', { provider: 'openai', op: 'connect', status: 'ok' })).toBe(1);
    expect(await metricValue(gw.gateway, 'voice_gateway_circuit_breaker_state', { provider: 'openai' })).toBe(0);
    expect(gw.logs.some((l) => l.event === 'provider_error')).toBe(false);
    expect(gw.rawLogs.some((l) => l.includes(fake.apiKey))).toBe(false);
  });

  it('END_CALL_TOOL: the model calls end_call after its goodbye; the gateway hangs up once it has played', { timeout: 30_000 }, async () => {
    const byeFake = await OpenAIRealtimeFake.start({ replyDelayMs: 50, chunkMs: 200, callFunction: { name: 'end_call', arguments: '{"reason":"goodbye"}' } });
    const byeGw = await gatewayOn(byeFake, { END_CALL_TOOL: '1' });
    try {
      const speech = readBytes('g711/cards-003.ulaw');
      const audio = utterance(speech, 40000); // the caller would stay 5 s longer
      const result = await simulateCall({ transport: 'twilio', baseUrl: byeGw.baseUrl, audio, codec: 'mulaw', tailMs: 1500 });
      // The goodbye was heard whole, then the gateway ended the call (no carrier REST configured: media side).
      expect(result.replies).toHaveLength(1);
      expect(result.replies[0].cleared).toBe(false);
      expect(result.replies[0].pcm.length).toBeGreaterThanOrEqual(speech.length);
      const ended = byeGw.logs.find((l) => l.event === 'call_ended');
      expect(ended?.reason).toBe('provider_goodbye');
      expect(byeGw.logs.some((l) => l.event === 'call_hangup' && l.reason === 'provider_goodbye')).toBe(true);
    } finally {
      await byeGw.close();
      await byeFake.close();
    }
  });

  it('PROVIDER_AUDIO_CHUNK_MS=100: the caller audio goes in 100 ms appends, the turn is whole and answered', { timeout: 30_000 }, async () => {
    const chunkFake = await OpenAIRealtimeFake.start({ replyDelayMs: 50, chunkMs: 200 });
    const chunkGw = await gatewayOn(chunkFake, { PROVIDER_AUDIO_CHUNK_MS: '100' });
    try {
      const speech = readBytes('g711/cards-003.ulaw');
      const audio = utterance(speech, 12000);
      const result = await simulateCall({ transport: 'twilio', baseUrl: chunkGw.baseUrl, audio, codec: 'mulaw', tailMs: 1500 });

      const appends = (chunkFake.received('input_audio_buffer.append') as unknown as { audio: string }[]).map((m) => Buffer.from(m.audio, 'base64').length);
      // Whole 20 ms frames, five to a message; a shorter one only where a turn ended or the call did.
      expect(appends.every((n) => n % 160 === 0 && n <= 800)).toBe(true);
      const short = appends.filter((n) => n < 800).length;
      expect(short).toBeLessThanOrEqual(chunkFake.received('input_audio_buffer.commit').length + 1);
      expect(appends.length).toBeGreaterThan(10);
      // Every byte still arrives, in order, and the one turn is answered with what was said.
      const appended = chunkFake.appendedAudio();
      expect(appended.indexOf(Buffer.from(speech))).toBeGreaterThanOrEqual(4000);
      expect(chunkFake.received('input_audio_buffer.commit')).toHaveLength(1);
      expect(result.replies).toHaveLength(1);
      const { ncc } = maxNormalisedCorrelation(decodeMulaw(speech), result.replies[0].pcm, Math.max(0, result.replies[0].pcm.length - speech.length));
      expect(ncc).toBeGreaterThan(0.95);
    } finally {
      await chunkGw.close();
      await chunkFake.close();
    }
  });
});
