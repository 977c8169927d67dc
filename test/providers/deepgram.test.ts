/**
 * The deepgram-cascade adapter's Deepgram wire (a scripted responder stands in for the LLM) against the loopback fake: what goes on the wire (queries, key, audio bytes,
 * control messages in order), what comes back as events, barge-in, keep-alive, and faults.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config.js';
import { isGatewayError } from '../../src/errors.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { AudioFormat, AudioFrame, EncodedFrame } from '../../src/pipeline/frame.js';
import { DeepgramCascadeProvider as DeepgramProvider, type DeepgramCascadeOptions } from '../../src/providers/deepgram/cascade-provider.js';
import type { Responder, ResponderChunk, ResponderInput } from '../../src/providers/deepgram/responder.js';
import { FlushLimiter } from '../../src/providers/deepgram/tts.js';
import { GuardedProvider } from '../../src/providers/guard.js';
import type { ConversationTurn, ProviderEvent, ProviderSession } from '../../src/providers/types.js';
import { DeepgramFake, type DeepgramFakeOptions } from '../fakes/deepgram-fake.js';

const KEY = 'dg-test-key-4b1f9e0a7c';
const MULAW: AudioFormat = { codec: 'mulaw', sampleRate: 8000 };

function captureLogs(): { logger: Logger; lines: string[]; entries: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(line);
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

function collect(session: ProviderSession): { events: ProviderEvent[]; done: Promise<void> } {
  const events: ProviderEvent[] = [];
  const done = (async () => {
    for await (const e of session.events) events.push(e);
  })();
  return { events, done };
}

function mulawFrame(seq: number, fill?: (i: number) => number): EncodedFrame {
  const payload = new Uint8Array(160);
  for (let i = 0; i < payload.length; i++) payload[i] = fill ? fill(i) : (seq * 31 + i * 7) & 0xff;
  return { codec: 'mulaw', payload, sampleRate: 8000, seq, timestampMs: seq * 20, sampleCount: 160 };
}

class RecordingResponder implements Responder {
  readonly calls: ResponderInput[] = [];
  constructor(readonly answer: (input: ResponderInput) => string = (i) => `You said: ${i.transcript}`) {}
  async *respond(input: ResponderInput): AsyncIterable<ResponderChunk> {
    this.calls.push({ transcript: input.transcript, history: [...input.history] });
    yield { type: 'text', text: this.answer(input) };
  }
}

const fakes: DeepgramFake[] = [];
const sessions: ProviderSession[] = [];

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(sessions.splice(0).map((s) => s.close()));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function startFake(options: Partial<DeepgramFakeOptions> = {}): Promise<DeepgramFake> {
  const fake = await DeepgramFake.start({ apiKey: KEY, ...options });
  fakes.push(fake);
  return fake;
}

/** A responder from a promise of the whole reply: the old shape, for tests about waiting and aborts. */
function promised(fn: (input: ResponderInput, opts: { signal: AbortSignal }) => Promise<string>): Responder {
  return {
    async *respond(input, opts) {
      yield { type: 'text', text: await fn(input, opts) };
    },
  };
}

function provider(fake: DeepgramFake, options: Partial<DeepgramCascadeOptions> = {}, config: Partial<Config['deepgram']> = {}): DeepgramProvider {
  return new DeepgramProvider({ apiKey: KEY, baseUrl: fake.url, sttModel: 'nova-3', ttsModel: 'aura-2-thalia-en', ...config }, { responder: new RecordingResponder(), ...options });
}

async function connect(
  p: DeepgramProvider | GuardedProvider,
  opts: { format?: AudioFormat; caller?: AudioFormat; history?: ConversationTurn[]; logger?: Logger; signal?: AbortSignal } = {},
): Promise<ProviderSession> {
  const session = await p.connect({
    callId: 'call-1',
    inputFormat: opts.format ?? MULAW,
    callerFormat: opts.caller ?? opts.format ?? MULAW,
    history: opts.history ?? [],
    logger: opts.logger ?? captureLogs().logger,
    signal: opts.signal,
  });
  sessions.push(session);
  return session;
}

const audioOf = (events: ProviderEvent[], responseId?: string) =>
  events.flatMap((e) => (e.type === 'audio' && (responseId === undefined || e.responseId === responseId) ? [e] : []));
const errorsOf = (events: ProviderEvent[]) => events.flatMap((e) => (e.type === 'error' ? [e] : []));
const doneCount = (events: ProviderEvent[]) => events.filter((e) => e.type === 'responseDone').length;

describe('deepgram adapter', () => {
  it('opens listen and speak with the configured query and key, and passes mu-law bytes through unchanged', async () => {
    const fake = await startFake();
    const session = await connect(provider(fake));
    expect(session.inputFormat).toEqual(MULAW);
    expect(session.outputFormat).toEqual(MULAW);
    const listen = fake.lastListen;
    expect(listen.query).toEqual({
      model: 'nova-3',
      encoding: 'mulaw',
      sample_rate: '8000',
      channels: '1',
      interim_results: 'true',
      endpointing: '300',
      utterance_end_ms: '1000',
      vad_events: 'true',
    });
    expect(listen.headers.authorization).toBe(`Token ${KEY}`);
    expect(fake.lastSpeak.query).toEqual({ model: 'aura-2-thalia-en', encoding: 'mulaw', sample_rate: '8000' });
    expect(fake.lastSpeak.headers.authorization).toBe(`Token ${KEY}`);

    const frames = [mulawFrame(0), mulawFrame(1), mulawFrame(2, () => 0xff)];
    for (const f of frames) session.pushAudio(f);
    await vi.waitFor(() => expect(listen.audioBytes).toBe(480));
    expect(listen.audioBuffer.equals(Buffer.concat(frames.map((f) => f.payload)))).toBe(true);
    expect(listen.audio).toHaveLength(3); // one WebSocket message per frame, no re-chunking
  });

  it('turns Results into partial and final transcripts, answers the turn with the history, and speaks the reply in mu-law', async () => {
    const fake = await startFake({ transcript: 'what is the weather' });
    const responder = new RecordingResponder((i) => (i.transcript.includes('weather') ? 'It is sunny' : 'Noted'));
    const seed: ConversationTurn[] = [
      { role: 'user', text: 'hi' },
      { role: 'assistant', text: 'hello there' },
    ];
    const session = await connect(provider(fake, { responder }), { history: seed });
    const { events } = collect(session);
    for (let i = 0; i < 5; i++) session.pushAudio(mulawFrame(i));
    session.endTurn({ startMs: 0, endMs: 100 });
    await vi.waitFor(() => expect(doneCount(events)).toBe(1));

    const listen = fake.lastListen;
    expect(listen.types).toEqual(['Finalize']);
    const transcripts = events.filter((e) => e.type === 'transcript');
    expect(transcripts).toEqual([
      { type: 'transcript', role: 'user', text: 'what is', final: false },
      { type: 'transcript', role: 'user', text: 'what is the weather', final: true },
      // Each sentence as it goes to TTS, then the whole reply once it is written.
      { type: 'transcript', role: 'assistant', text: 'It is sunny', final: false },
      { type: 'transcript', role: 'assistant', text: 'It is sunny', final: true },
    ]);
    expect(responder.calls).toEqual([{ transcript: 'what is the weather', history: seed }]);
    const speak = fake.lastSpeak;
    expect(speak.texts).toEqual([{ type: 'Speak', text: 'It is sunny' }, { type: 'Flush' }]);

    const start = events.findIndex((e) => e.type === 'responseStart');
    const done = events.findIndex((e) => e.type === 'responseDone');
    const audio = audioOf(events);
    expect(audio.length).toBeGreaterThan(1);
    const responseId = (events[start] as { responseId: string }).responseId;
    expect(events.indexOf(audio[0])).toBeGreaterThan(start);
    expect(events.indexOf(audio.at(-1)!)).toBeLessThan(done);
    for (const a of audio) {
      expect(a.responseId).toBe(responseId);
      expect(a.frame).toMatchObject({ codec: 'mulaw', sampleRate: 8000 });
    }
    const received = Buffer.concat(audio.map((a) => (a.frame as EncodedFrame).payload));
    expect(received.equals(speak.replies[0].audio)).toBe(true);
    expect(audio.map((a) => a.frame.seq)).toEqual(audio.map((_, i) => audio[0].frame.seq + i));

    // The next turn sees the conversation so far, this turn included.
    session.pushAudio(mulawFrame(9));
    session.endTurn({ startMs: 200, endMs: 300 });
    await vi.waitFor(() => expect(doneCount(events)).toBe(2));
    expect(responder.calls[1].history).toEqual([...seed, { role: 'user', text: 'what is the weather' }, { role: 'assistant', text: 'It is sunny' }]);
    expect(errorsOf(events)).toEqual([]);
  });

  it('says nothing for a turn with an empty transcript', async () => {
    const fake = await startFake();
    const responder = new RecordingResponder();
    const session = await connect(provider(fake, { responder }));
    const { events } = collect(session);
    session.endTurn({ startMs: 0, endMs: 100 }); // no audio since the last Finalize: the fake hears nothing
    await vi.waitFor(() => expect(fake.lastListen.types).toEqual(['Finalize']));
    // A second turn with audio is answered, so the first one was over before it.
    session.pushAudio(mulawFrame(0));
    session.endTurn({ startMs: 100, endMs: 200 });
    await vi.waitFor(() => expect(doneCount(events)).toBe(1));
    expect(responder.calls.map((c) => c.transcript)).toEqual(['hello from the fake']);
  });

  it('waits for a slow Finalize answer only finalizeWaitMs, and its words join the next turn', async () => {
    const fake = await startFake({ resultsDelayMs: 300 });
    const responder = new RecordingResponder();
    const session = await connect(provider(fake, { responder, finalizeWaitMs: 100 }));
    const { events } = collect(session);
    session.pushAudio(mulawFrame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    // The late final arrives after the turn gave up waiting: nothing was answered.
    await vi.waitFor(() => expect(events.some((e) => e.type === 'transcript' && e.final)).toBe(true));
    expect(responder.calls).toEqual([]);
    session.pushAudio(mulawFrame(1));
    session.endTurn({ startMs: 40, endMs: 60 });
    await vi.waitFor(() => expect(doneCount(events)).toBe(1));
    expect(responder.calls.map((c) => c.transcript)).toEqual(['hello from the fake']);
  });

  it('sends KeepAlive while no audio has gone out for the keep-alive period, and not while audio flows', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const fake = await startFake();
    const session = await connect(provider(fake, { keepAliveMs: 4000 }));
    session.pushAudio(mulawFrame(0));
    vi.advanceTimersByTime(4000); // audio was sent in the first 2 s: not idle long enough yet
    vi.advanceTimersByTime(2000); // 4-6 s idle
    vi.advanceTimersByTime(4000); // and again 4 s later
    for (let t = 0; t < 10_000; t += 1000) {
      session.pushAudio(mulawFrame(t)); // audio flowing: no KeepAlive
      vi.advanceTimersByTime(1000);
    }
    session.endTurn({ startMs: 0, endMs: 1 }); // Finalize marks the end: the wire is ordered
    await vi.waitFor(() => expect(fake.lastListen.types.at(-1)).toBe('Finalize'));
    expect(fake.lastListen.types).toEqual(['KeepAlive', 'KeepAlive', 'Finalize']);
  });

  it('barge-in: sends Clear, ends the reply and drops the audio of it that was already on its way', async () => {
    // The fake keeps streaming for 200 ms after Clear, as a server with audio in flight would.
    const fake = await startFake({ speak: { msPerChar: 60, chunkMs: 20, chunkDelayMs: 10, clearedDelayMs: 200 } });
    const session = await connect(provider(fake));
    const { events } = collect(session);
    session.pushAudio(mulawFrame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(audioOf(events).length).toBeGreaterThanOrEqual(3));
    const first = audioOf(events)[0].responseId;
    session.interrupt({ responseId: first, heardMs: 40 });
    // The reply ends at once, in event order after whatever audio came before the interrupt.
    const ended = { type: 'responseDone', responseId: first };
    await vi.waitFor(() => expect(events).toContainEqual(ended));
    const atInterrupt = events.findIndex((e) => e.type === 'responseDone' && e.responseId === first);
    const reply = fake.lastSpeak.replies[0];
    await vi.waitFor(() => expect(reply.cancelled).toBe(true));
    expect(fake.lastSpeak.types).toEqual(['Speak', 'Flush', 'Clear']);

    // The session goes on: the next reply plays whole.
    session.pushAudio(mulawFrame(1));
    session.endTurn({ startMs: 40, endMs: 60 });
    // The second reply streams ~0.9 s of 20 ms chunks 10 ms apart.
    await vi.waitFor(() => expect(doneCount(events)).toBe(2), { timeout: 3000 });
    const late = events.slice(atInterrupt).filter((e) => e.type === 'audio' && e.responseId === first);
    expect(late).toEqual([]);
    const bytesHeard = audioOf(events, first).reduce((n, a) => n + (a.frame as EncodedFrame).payload.length, 0);
    expect(reply.sentBytes, 'the fake did stream more of the cleared reply').toBeGreaterThan(bytesHeard);
    const second = audioOf(events).at(-1)!.responseId;
    expect(second).not.toBe(first);
    const secondBytes = audioOf(events, second).reduce((n, a) => n + (a.frame as EncodedFrame).payload.length, 0);
    expect(secondBytes).toBe(fake.lastSpeak.replies[1].audio.length);
    // The late audio was dropped quietly, not mistaken for a stray frame.
    expect(errorsOf(events)).toEqual([]);
  });

  it('barge-in aborts a responder that is still thinking, and nothing is spoken', async () => {
    const fake = await startFake();
    let aborted = false;
    let started = false;
    const responder = promised(
      (_input, { signal }) =>
        new Promise<string>((_, reject) => {
          started = true;
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(signal.reason as Error);
          });
        }),
    );
    const session = await connect(provider(fake, { responder }));
    const { events } = collect(session);
    session.pushAudio(mulawFrame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(started).toBe(true));
    session.interrupt({ responseId: '', heardMs: 0 });
    expect(aborted).toBe(true);
    await session.close();
    expect(fake.lastSpeak.types).toEqual(['Close']);
    expect(errorsOf(events)).toEqual([]);
  });

  it('a responder that ignores the abort does not hold up the next turn', async () => {
    const fake = await startFake();
    let firstSignal: AbortSignal | undefined;
    const responder = promised((input, { signal }) => {
      if (!firstSignal) {
        firstSignal = signal;
        return new Promise<string>(() => undefined); // never settles
      }
      return Promise.resolve(`second: ${input.transcript}`);
    });
    const session = await connect(provider(fake, { responder }));
    const { events } = collect(session);
    session.pushAudio(mulawFrame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(firstSignal).toBeDefined());
    session.interrupt({ responseId: '', heardMs: 0 });
    expect(firstSignal!.aborted).toBe(true);
    session.pushAudio(mulawFrame(1));
    session.endTurn({ startMs: 40, endMs: 60 });
    await vi.waitFor(() => expect(doneCount(events)).toBe(1));
    expect(fake.lastSpeak.spoken).toEqual(['second: hello from the fake']);
  });

  it('holds a reply back while the flush limit is used up', async () => {
    const fake = await startFake();
    const session = await connect(provider(fake, { flushLimit: { count: 1, windowMs: 400 } }));
    const { events } = collect(session);
    const at: number[] = [];
    session.pushAudio(mulawFrame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(doneCount(events)).toBe(1));
    at.push(performance.now());
    session.pushAudio(mulawFrame(1));
    session.endTurn({ startMs: 40, endMs: 60 });
    await vi.waitFor(() => expect(doneCount(events)).toBe(2));
    at.push(performance.now());
    expect(fake.lastSpeak.types).toEqual(['Speak', 'Flush', 'Speak', 'Flush']);
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(300);
  });

  it('close sends CloseStream and Close, closes both sockets, ends the events, and can be called again', async () => {
    const fake = await startFake();
    const session = await connect(provider(fake));
    const { done } = collect(session);
    session.pushAudio(mulawFrame(0));
    await Promise.all([session.close(), session.close()]);
    await done;
    await Promise.all([fake.lastListen.closed, fake.lastSpeak.closed]);
    expect(fake.lastListen.types).toEqual(['CloseStream']);
    expect(fake.lastListen.closeCode).toBe(1000);
    expect(fake.lastSpeak.types).toEqual(['Close']);
    await session.close();
    session.pushAudio(mulawFrame(1)); // after close: dropped, not thrown
    session.endTurn({ startMs: 0, endMs: 1 });
    session.interrupt({ responseId: '', heardMs: 0 });
  });

  it('rejects a bad key with GW_ERR_PROVIDER_AUTH', async () => {
    const fake = await startFake();
    const err = await connect(provider(fake, {}, { apiKey: 'dg-wrong-key' })).catch((e: unknown) => e);
    expect(isGatewayError(err, 'GW_ERR_PROVIDER_AUTH')).toBe(true);
    expect(fake.upgrades.map((u) => u.status).sort()).toEqual([401, 401]);
  });

  it.each([
    [{ speak: { status: 403 } }, 'GW_ERR_PROVIDER_AUTH'],
    [{ listen: { status: 429 } }, 'GW_ERR_PROVIDER_QUOTA'],
    [{ listen: { status: 500 } }, 'GW_ERR_PROVIDER_CONNECT'],
    [{ speak: 'refuse' as const }, 'GW_ERR_PROVIDER_CONNECT'],
  ])('maps a failed handshake %j to %s and closes the socket that did open', async (handshake, code) => {
    const fake = await startFake({ handshake });
    const err = await connect(provider(fake)).catch((e: unknown) => e);
    expect(isGatewayError(err) && err.code).toBe(code);
    const opened = [...fake.listens, ...fake.speaks];
    expect(opened).toHaveLength(1);
    await opened[0].closed;
  });

  it('gives up on a hung handshake when the signal aborts', async () => {
    const fake = await startFake({ handshake: { speak: 'hang' } });
    const ac = new AbortController();
    const pending = connect(provider(fake), { signal: ac.signal }).catch((e: unknown) => e);
    await vi.waitFor(() => expect(fake.upgrades.some((u) => u.path === '/v1/speak')).toBe(true));
    ac.abort();
    const err = await pending;
    expect(isGatewayError(err, 'GW_ERR_PROVIDER_CONNECT')).toBe(true);
    await fake.lastListen.closed;
    await vi.waitFor(() => expect(fake.openConnections).toBe(0));
  });

  it('reports garbage from either socket as non-fatal PROTOCOL errors, logs them at warn, and carries on', async () => {
    const fake = await startFake();
    const logs = captureLogs();
    const session = await connect(provider(fake), { logger: logs.logger });
    const { events } = collect(session);
    fake.lastListen.send('not json {');
    fake.lastListen.send({ type: 'Teleport' });
    fake.lastListen.send({ type: 'Results', channel: {} });
    fake.lastListen.send(new Uint8Array([1, 2, 3]));
    fake.lastSpeak.send('<html>');
    fake.lastSpeak.send({ type: 'Mystery' });
    fake.lastSpeak.send(new Uint8Array(160)); // audio nobody asked for
    fake.lastSpeak.send('42');
    await vi.waitFor(() => expect(errorsOf(events)).toHaveLength(8));
    for (const e of errorsOf(events)) {
      expect(e.error.code).toBe('GW_ERR_PROVIDER_PROTOCOL');
      expect(e.fatal).toBe(false);
    }
    const warned = logs.entries().filter((l) => l.event === 'deepgram_protocol_error');
    expect(warned).toHaveLength(8);
    expect(warned.every((l) => l.level === 40)).toBe(true);
    // Still working.
    session.pushAudio(mulawFrame(0));
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(doneCount(events)).toBe(1));
    expect(events.some((e) => e.type === 'closed')).toBe(false);
  });

  it('passes Deepgram SpeechStarted and UtteranceEnd on as speech events', async () => {
    const fake = await startFake();
    const session = await connect(provider(fake));
    const { events } = collect(session);
    fake.lastListen.send({ type: 'SpeechStarted', channel: [0], timestamp: 1.2 });
    fake.lastListen.send({ type: 'UtteranceEnd', channel: [0, 1], last_word_end: 2.1 });
    fake.lastListen.send({ type: 'Metadata', request_id: 'x' });
    await vi.waitFor(() => expect(events).toEqual([{ type: 'speechStarted' }, { type: 'speechStopped' }]));
  });

  it('reports an in-band Deepgram Error as a non-fatal REMOTE error', async () => {
    const fake = await startFake();
    const session = await connect(provider(fake));
    const { events } = collect(session);
    fake.lastSpeak.send({ type: 'Error', description: 'text too long' });
    await vi.waitFor(() => expect(errorsOf(events)).toHaveLength(1));
    expect(errorsOf(events)[0]).toMatchObject({ fatal: false, error: { code: 'GW_ERR_PROVIDER_REMOTE' } });
  });

  it('ends the session with a fatal CLOSED error when a socket closes mid-stream, and closes the other', async () => {
    const fake = await startFake();
    const session = await connect(provider(fake));
    const { events, done } = collect(session);
    fake.lastSpeak.close(1011, 'fake failure');
    await done;
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ type: 'error', fatal: true });
    expect(isGatewayError((events[0] as { error: unknown }).error, 'GW_ERR_PROVIDER_CLOSED')).toBe(true);
    expect(events[1]).toMatchObject({ type: 'closed', reason: expect.stringContaining('1011') as unknown });
    await fake.lastListen.closed;
    session.pushAudio(mulawFrame(0)); // dropped, not thrown
    await session.close();
  });

  it('speaks A-law to an A-law caller', async () => {
    const fake = await startFake();
    const alaw: AudioFormat = { codec: 'alaw', sampleRate: 8000 };
    const session = await connect(provider(fake), { format: alaw });
    const { events } = collect(session);
    expect(fake.lastListen.query).toMatchObject({ encoding: 'alaw', sample_rate: '8000' });
    expect(fake.lastSpeak.query).toMatchObject({ encoding: 'alaw', sample_rate: '8000' });
    session.pushAudio({ ...mulawFrame(0), codec: 'alaw' });
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(doneCount(events)).toBe(1));
    const audio = audioOf(events);
    expect(audio.every((a) => 'codec' in a.frame && a.frame.codec === 'alaw')).toBe(true);
    expect(Buffer.concat(audio.map((a) => (a.frame as EncodedFrame).payload)).equals(fake.lastSpeak.replies[0].audio)).toBe(true);
  });

  it('sends PCM16 as linear16 and returns linear16 as PCM16 frames at the caller rate', async () => {
    const fake = await startFake();
    const pcm: AudioFormat = { codec: 'pcm16', sampleRate: 16000 };
    const session = await connect(provider(fake), { format: pcm });
    const { events } = collect(session);
    expect(session.outputFormat).toEqual(pcm);
    expect(fake.lastListen.query).toMatchObject({ encoding: 'linear16', sample_rate: '16000' });
    expect(fake.lastSpeak.query).toMatchObject({ encoding: 'linear16', sample_rate: '16000' });
    const samples = Int16Array.from({ length: 320 }, (_, i) => (i * 97) % 30000 - 15000);
    const frame: AudioFrame = { samples, sampleRate: 16000, seq: 0, timestampMs: 0 };
    session.pushAudio(frame);
    await vi.waitFor(() => expect(fake.lastListen.audioBytes).toBe(640));
    expect(fake.lastListen.audioBuffer.equals(Buffer.from(samples.buffer))).toBe(true);
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(doneCount(events)).toBe(1));
    const audio = audioOf(events).map((a) => a.frame as AudioFrame);
    expect(audio.every((f) => f.sampleRate === 16000 && f.samples instanceof Int16Array)).toBe(true);
    const got = Buffer.concat(audio.map((f) => Buffer.from(f.samples.buffer, f.samples.byteOffset, f.samples.byteLength)));
    expect(got.equals(fake.lastSpeak.replies[0].audio)).toBe(true);
  });

  it('reports odd-length linear16 audio as a PROTOCOL error and still completes the reply', async () => {
    const fake = await startFake({ speak: { oddBytes: true } });
    const pcm: AudioFormat = { codec: 'pcm16', sampleRate: 16000 };
    const session = await connect(provider(fake), { format: pcm });
    const { events } = collect(session);
    session.pushAudio({ samples: new Int16Array(320), sampleRate: 16000, seq: 0, timestampMs: 0 });
    session.endTurn({ startMs: 0, endMs: 20 });
    await vi.waitFor(() => expect(doneCount(events)).toBe(1));
    const errors = errorsOf(events);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.error.code === 'GW_ERR_PROVIDER_PROTOCOL' && !e.fatal && /odd byte count/.test(e.error.message))).toBe(true);
  });

  it('never writes the key to the logs, whatever fails', async () => {
    const fake = await startFake();
    const logs = captureLogs();
    const guarded = (p: DeepgramProvider) =>
      new GuardedProvider(p, {
        metrics: createMetrics(),
        logger: logs.logger,
        breaker: { errorThresholdPercentage: 50, volumeThreshold: 100, resetTimeoutMs: 1000, connectTimeoutMs: 5000, rollingWindowMs: 10_000 },
      });
    const wrongKey = 'dg-wrong-key-77aa33';
    await expect(connect(guarded(provider(fake, {}, { apiKey: wrongKey })), { logger: logs.logger })).rejects.toThrow();
    const session = await connect(guarded(provider(fake)), { logger: logs.logger });
    const { done } = collect(session);
    fake.lastListen.send('garbage');
    fake.lastSpeak.send({ type: 'Warning', code: 'W1', description: 'careful' });
    fake.lastListen.close(1008, 'DATA-0000');
    await done;
    expect(logs.lines.length).toBeGreaterThan(3);
    expect(logs.entries().some((l) => l.event === 'provider_connect_failed')).toBe(true);
    expect(logs.entries().some((l) => l.event === 'deepgram_socket_closed')).toBe(true);
    for (const line of logs.lines) {
      expect(line).not.toContain(KEY);
      expect(line).not.toContain(wrongKey);
    }
  });
});

describe('FlushLimiter', () => {
  it('lets `count` through per window, holds the next until the oldest expires, and stops on abort', async () => {
    vi.useFakeTimers();
    const limiter = new FlushLimiter(2, 1000, () => Date.now());
    const signal = new AbortController().signal;
    await limiter.acquire(signal);
    await limiter.acquire(signal);
    let third = false;
    const pending = limiter.acquire(signal).then(() => (third = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(third).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await pending;
    expect(third).toBe(true);
    await limiter.acquire(signal); // the second of the new window
    const ac = new AbortController();
    const blocked = limiter.acquire(ac.signal);
    ac.abort();
    await expect(blocked).rejects.toThrow();
  });
});
