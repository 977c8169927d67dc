/**
 * The Gemini Live adapter against the loopback fake (no gateway): what goes on the wire, what comes
 * back as events, barge-in, goAway reconnects, and bad output that must not crash anything.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { GoogleGenAI } from '@google/genai';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig } from '../../src/config.js';
import { isGatewayError } from '../../src/errors.js';
import { createLogger } from '../../src/observability/logger.js';
import type { AudioFrame } from '../../src/pipeline/frame.js';
import { GeminiLiveProvider, type GeminiLiveSession } from '../../src/providers/gemini/gemini-provider.js';
import { DEFAULT_LIVE_MODEL, isRetiredLiveModel } from '../../src/providers/gemini/models.js';
import { GENAI_SDK_VERSION_HOOKED, hookLiveSocket } from '../../src/providers/gemini/sdk-socket-hook.js';
import type { ConversationTurn, ProviderEvent } from '../../src/providers/types.js';
import { GEMINI_LIVE_PATH, GeminiLiveFake, upsample16to24, type GeminiFakeOptions } from '../fakes/gemini-live-fake.js';

const FRAME = 320; // 20 ms at 16 kHz

/** A frame whose every sample is its sequence number + 1, so the wire shows which frame it was. */
function frame(seq: number): AudioFrame {
  return { samples: new Int16Array(FRAME).fill(seq + 1), sampleRate: 16000, seq, timestampMs: seq * 20 };
}

/** Sequence numbers of audio chunks in a fake's input stream, with activity markers. */
function seqs(stream: ('start' | 'end' | Int16Array)[]): (number | string)[] {
  return stream.map((x) => (typeof x === 'string' ? x : x.length === FRAME && x.every((v) => v === x[0]) ? x[0] - 1 : `bad(${String(x.length)})`));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

interface Harness {
  fake: GeminiLiveFake;
  session: GeminiLiveSession;
  events: ProviderEvent[];
  ended: Promise<void>;
  logs: string[];
  /** Resolves when an event matching `pred` has been seen (counting from the start). */
  until(pred: (e: ProviderEvent) => boolean, what: string, count?: number): Promise<void>;
}

const opened: { fake: GeminiLiveFake; session?: GeminiLiveSession; logs: string[] }[] = [];

function captureLogs(): { logs: string[]; logger: ReturnType<typeof createLogger> } {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { logs, logger: createLogger({ level: 'debug', destination }) };
}

async function startFake(opts: GeminiFakeOptions = {}): Promise<GeminiLiveFake> {
  const fake = await GeminiLiveFake.start(opts);
  opened.push({ fake, logs: [] });
  return fake;
}

async function open(
  fakeOpts: GeminiFakeOptions = {},
  extra: { history?: ConversationTurn[]; voice?: string; signal?: AbortSignal; apiKey?: string; model?: string; endCallTool?: boolean; activityDetection?: 'client' | 'automatic' } = {},
): Promise<Harness> {
  const fake = await startFake(fakeOpts);
  const { logs, logger } = captureLogs();
  opened[opened.length - 1].logs = logs;
  const provider = new GeminiLiveProvider({
    apiKey: extra.apiKey ?? fake.apiKey,
    baseUrl: fake.baseUrl,
    model: extra.model ?? 'gemini-live-test',
    voice: extra.voice,
    endCallTool: extra.endCallTool,
    activityDetection: extra.activityDetection,
    instructions: 'Answer briefly.',
  });
  const session = (await provider.connect({
    callId: 'call-1',
    inputFormat: { codec: 'pcm16', sampleRate: 16000 },
    callerFormat: { codec: 'mulaw', sampleRate: 8000 },
    history: extra.history ?? [],
    logger,
    signal: extra.signal,
  })) as GeminiLiveSession;
  opened[opened.length - 1].session = session;
  const events: ProviderEvent[] = [];
  const waiters: { check: () => boolean; resolve: () => void }[] = [];
  const ended = (async () => {
    for await (const e of session.events) {
      events.push(e);
      for (const w of waiters.splice(0)) {
        if (w.check()) w.resolve();
        else waiters.push(w);
      }
    }
  })();
  const until = (pred: (e: ProviderEvent) => boolean, what: string, count = 1) =>
    new Promise<void>((resolve, reject) => {
      const check = () => events.filter(pred).length >= count;
      if (check()) return resolve();
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; events: ${events.map((e) => e.type).join(',')}`)), 5000);
      waiters.push({ check, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  return { fake, session, events, ended, logs, until };
}

function audioOf(events: ProviderEvent[], responseId?: string): AudioFrame[] {
  return events.flatMap((e) => (e.type === 'audio' && (responseId === undefined || e.responseId === responseId) ? [e.frame as AudioFrame] : []));
}

function responseIds(events: ProviderEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'responseStart' ? [e.responseId] : []));
}

function concat(frames: AudioFrame[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.samples.length, 0));
  let off = 0;
  for (const f of frames) {
    out.set(f.samples, off);
    off += f.samples.length;
  }
  return out;
}

const isDone = (e: ProviderEvent) => e.type === 'responseDone';

afterEach(async () => {
  for (const o of opened.splice(0)) {
    await o.session?.close();
    await o.fake.close();
    // Whatever happened in the test, the key never reached a log line.
    for (const line of o.logs) expect(line).not.toContain(o.fake.apiKey);
  }
});

describe('gemini live adapter', () => {
  describe.each([
    ['text', false],
    ['binary', true],
  ])('wire (server frames as %s)', (_name, binaryFrames) => {
    it('sends the setup, history, bracketed 16 kHz audio; plays the 24 kHz reply and keeps transcripts', async () => {
      const history: ConversationTurn[] = [
        { role: 'user', text: 'My name is Ada.' },
        { role: 'assistant', text: 'Hello Ada.' },
      ];
      const h = await open({ binaryFrames, replyDelayMs: 150, chunkMs: 40 }, { history, voice: 'Puck' });
      const { fake, session } = h;
      expect(fake.connections).toHaveLength(1);
      expect(fake.connections[0].key).toBe(fake.apiKey);
      const setup = fake.connections[0].setup!;
      expect(setup.model).toBe('models/gemini-live-test');
      expect(setup.generationConfig).toEqual({
        responseModalities: ['AUDIO'],
        speechConfig: { voiceConfig: { prebuiltVoiceConfig: { voiceName: 'Puck' } } },
      });
      expect(setup.systemInstruction).toEqual({ parts: [{ text: 'Answer briefly.' }] });
      expect(setup.realtimeInputConfig).toEqual({ automaticActivityDetection: { disabled: true }, activityHandling: 'START_OF_ACTIVITY_INTERRUPTS' });
      expect(setup.inputAudioTranscription).toEqual({});
      expect(setup.outputAudioTranscription).toEqual({});
      expect(setup.sessionResumption).toEqual({});
      // No 15-minute cap on audio sessions; history the documented way (initial history).
      expect(setup.contextWindowCompression).toEqual({ slidingWindow: {} });
      expect(setup.historyConfig).toEqual({ initialHistoryInClientContent: true });
      // History follows the setup at once, as context that asks for no answer.
      await fake.waitFor(() => fake.messages.length >= 2, 2000, 'the history');
      expect(fake.messages[1].msg).toEqual({
        clientContent: {
          turns: [
            { role: 'user', parts: [{ text: 'My name is Ada.' }] },
            { role: 'model', parts: [{ text: 'Hello Ada.' }] },
          ],
          turnComplete: true,
        },
      });

      for (let i = 0; i < 10; i++) session.pushAudio(frame(i));
      session.endTurn({ startMs: 0, endMs: 200 });
      // Caller audio while the model answers is held: an activityStart now would cut the answer.
      for (let i = 10; i < 13; i++) session.pushAudio(frame(i));
      await h.until((e) => e.type === 'responseStart', 'the reply to start');
      expect(seqs(fake.inputStream())).toEqual(['start', ...range(0, 10), 'end']);
      await h.until(isDone, 'the reply');
      await fake.waitFor(() => fake.inputStream().length >= 16, 2000, 'the held frames');

      expect(seqs(fake.inputStream())).toEqual(['start', ...range(0, 10), 'end', 'start', 10, 11, 12]);
      for (const r of fake.of('realtimeInput').filter((r) => r.audio)) expect((r.audio as { mimeType: string }).mimeType).toBe('audio/pcm;rate=16000');
      const [id] = responseIds(h.events);
      const frames = audioOf(h.events, id);
      expect(frames.every((f) => f.sampleRate === 24000)).toBe(true);
      expect(frames.map((f) => f.seq)).toEqual(range(frames[0].seq, frames[0].seq + frames.length));
      const sent = new Int16Array(10 * FRAME);
      for (let i = 0; i < 10; i++) sent.fill(i + 1, i * FRAME, (i + 1) * FRAME);
      expect(Array.from(concat(frames))).toEqual(Array.from(upsample16to24(sent)));
      expect(frames[1].timestampMs).toBeCloseTo(40, 5);
      expect(session.outputFormat).toEqual({ codec: 'pcm16', sampleRate: 24000 });
      expect(session.inputFormat).toEqual({ codec: 'pcm16', sampleRate: 16000 });
      expect(h.events.filter((e) => e.type === 'transcript' && e.final)).toEqual([
        { type: 'transcript', role: 'user', text: 'heard 200 ms', final: true },
        { type: 'transcript', role: 'assistant', text: 'echo of 200 ms', final: true },
      ]);
      expect(session.transcripts).toEqual([
        { role: 'user', text: 'heard 200 ms' },
        { role: 'assistant', text: 'echo of 200 ms' },
      ]);
      // usageMetadata and resumption updates are known fields: no protocol errors.
      expect(h.events.filter((e) => e.type === 'error')).toEqual([]);
      // No permessage-deflate offer: a zlib context pair per call for audio that barely compresses (issue 16).
      expect(fake.connections.map((c) => c.extensions)).toEqual([undefined]);
    });
  });

  it('a server `interrupted` drops the rest of that reply; the next turn plays whole', async () => {
    const h = await open({ chunkMs: 20, faults: { interruptAfterChunks: 2 } });
    for (let i = 0; i < 10; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 200 });
    await h.fake.waitFor(() => h.fake.messages.some((m) => m.msg.realtimeInput && 'activityStart' in (m.msg.realtimeInput as object)) && h.fake.inputStream().filter((x) => x === 'start').length === 2, 2000, 'the next activity');
    const [first] = responseIds(h.events);
    expect(audioOf(h.events, first)).toHaveLength(2);
    expect(h.events.some((e) => e.type === 'responseDone')).toBe(false);
    expect(h.events.some((e) => e.type === 'transcript' && e.role === 'assistant' && e.final)).toBe(false);

    h.fake.faults = {};
    for (let i = 10; i < 20; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 200, endMs: 400 });
    await h.until(isDone, 'the second reply');
    const ids = responseIds(h.events);
    expect(ids).toHaveLength(2);
    expect(ids[1]).not.toBe(first);
    expect(concat(audioOf(h.events, ids[1])).length).toBe(10 * FRAME * 1.5);
    expect(h.events.filter((e) => e.type === 'responseDone').map((e) => (e as { responseId: string }).responseId)).toEqual([ids[1]]);
  });

  it('caller audio held while the model answers is bounded by its length (15 s), not by message count', async () => {
    // Chunks of 100 ms (PROVIDER_AUDIO_CHUNK_MS=100): 20 s of them is 200 messages, well under any count of 20 ms frames.
    const h = await open({ replyDelayMs: 60_000 });
    h.session.pushAudio(frame(0));
    h.session.endTurn({ startMs: 0, endMs: 20 });
    const chunk = (i: number): AudioFrame => ({ samples: new Int16Array(1600).fill(i + 1), sampleRate: 16000, seq: i, timestampMs: i * 100 });
    for (let i = 0; i < 200; i++) h.session.pushAudio(chunk(i));
    // The caller speaks over the wait: the held audio goes out after the activityStart, the oldest dropped.
    h.session.interrupt({ responseId: 'none', heardMs: 0 });
    await h.fake.waitFor(() => h.fake.inputStream().filter((x) => x === 'start').length === 2, 2000, 'the second activity');
    await h.fake.waitFor(() => h.fake.inputStream().at(-1) instanceof Int16Array && (h.fake.inputStream().at(-1) as Int16Array)[0] === 200, 2000, 'the last chunk');
    const stream = h.fake.inputStream();
    const held = stream.slice(stream.lastIndexOf('start') + 1) as Int16Array[];
    const heldMs = held.reduce((ms, c) => ms + c.length / 16, 0);
    expect(heldMs).toBeLessThanOrEqual(15_000);
    expect(heldMs).toBeGreaterThan(14_800);
    // The newest are kept, in order.
    expect(held.map((c) => c[0] - 1)).toEqual(range(200 - held.length, 200));
    expect(h.logs.some((l) => l.includes('gemini_held_audio_dropped'))).toBe(true);
  });

  it('interrupt() (barge-in) sends activityStart at once and drops the rest of the reply locally', async () => {
    // The server takes 150 ms to act on the activityStart and keeps streaming (a chunk per 10 ms) until then.
    const h = await open({ chunkMs: 20, chunkIntervalMs: 10, interruptDelayMs: 150 });
    for (let i = 0; i < 25; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 500 });
    await h.until((e) => e.type === 'audio', 'the first reply audio');
    const [id] = responseIds(h.events);
    const heardBefore = audioOf(h.events, id).length;
    const chunksAtInterrupt = h.fake.sentCount('modelTurn');
    h.session.interrupt({ responseId: id, heardMs: 20 });
    const eventsAtInterrupt = h.events.length;
    await h.fake.waitFor(() => seqs(h.fake.inputStream()).at(-1) === 'start', 2000, 'activityStart');
    const sentAtInterrupt = h.fake.inputStream().length;
    // The server goes on talking until it acts on the activityStart: all of that must be dropped here.
    await h.fake.waitFor(() => h.fake.sentCount('interrupted') === 1, 2000, 'the server to cut its reply');
    expect(h.fake.sentCount('modelTurn') - chunksAtInterrupt).toBeGreaterThanOrEqual(3);
    // The caller's new speech streams at once, into the new activity.
    for (let i = 25; i < 30; i++) h.session.pushAudio(frame(i));
    expect(sentAtInterrupt).toBe(28);
    await h.fake.waitFor(() => h.fake.inputStream().length === 27 + 5 + 1, 2000, 'the new speech');
    expect(seqs(h.fake.inputStream())).toEqual(['start', ...range(0, 25), 'end', 'start', ...range(25, 30)]);
    h.session.endTurn({ startMs: 500, endMs: 600 });
    await h.until(isDone, 'the reply to the new speech');
    const after = h.events.slice(eventsAtInterrupt);
    expect(after.filter((e) => 'responseId' in e && e.responseId === id)).toEqual([]);
    expect(audioOf(h.events, id)).toHaveLength(heardBefore);
    const ids = responseIds(h.events);
    expect(ids).toHaveLength(2);
    expect(concat(audioOf(h.events, ids[1])).length).toBe(5 * FRAME * 1.5);
  });

  it('goAway: reconnects with the latest resumption handle; no frame is lost or reordered across the swap', async () => {
    const h = await open({ chunkMs: 100 });
    const { fake, session } = h;
    await fake.waitFor(() => fake.handles.length === 1, 2000, 'a resumption handle');
    let seq = 0;
    for (; seq < 50; seq++) session.pushAudio(frame(seq));
    await fake.waitFor(() => fake.inputStream(0).length === 51, 2000, 'the first 50 frames');
    fake.goAway('1s');
    await h.until((e) => e.type === 'goAway', 'goAway');
    const atGoAway = seq;
    // Keep talking through the swap, a frame every 2 ms, until the new link carries what is pushed.
    const lastOnNewLink = () => seqs(fake.connections.length > 1 ? fake.inputStream(1) : []).at(-1);
    while (lastOnNewLink() !== seq - 1) {
      if (seq > 1000) throw new Error('the new link never carried audio');
      session.pushAudio(frame(seq++));
      await new Promise((r) => setTimeout(r, 2));
    }
    for (const end = seq + 10; seq < end; seq++) session.pushAudio(frame(seq));
    session.endTurn({ startMs: 0, endMs: seq * 20 });
    await h.until(isDone, 'the reply on the new link');

    expect(h.events.find((e) => e.type === 'goAway')).toEqual({ type: 'goAway', timeLeftMs: 1000 });
    expect(fake.connections[1].resumedFrom).toBe('handle-0-1');
    expect(fake.connections[1].setup!.sessionResumption).toEqual({ handle: 'handle-0-1' });
    // The old link got a clean prefix; the new one the whole activity (replayed, then the held frames), once, in order.
    expect(seqs(fake.inputStream(0))).toEqual(['start', ...range(0, atGoAway)]);
    expect(seqs(fake.inputStream(1))).toEqual(['start', ...range(0, seq), 'end']);
    expect(fake.of('clientContent', 1)).toEqual([]);
    expect(concat(audioOf(h.events)).length).toBe(seq * FRAME * 1.5);
    await fake.waitFor(() => fake.connections[0].closed, 3000, 'the old link to close');
    expect(h.events.filter((e) => e.type === 'error' || e.type === 'closed')).toEqual([]);
    const logged = h.logs.map((l) => JSON.parse(l) as { event?: string; resumed?: boolean; opsHeld?: number });
    const swapped = logged.find((l) => l.event === 'gemini_reconnected');
    expect(swapped?.resumed).toBe(true);
    // Frames were pushed while the new link was opening: they were held, not sent to the old one.
    expect(swapped?.opsHeld).toBeGreaterThan(0);
  });

  it('goAway after more than 30 s of one activity: the new link is given its last 30-37.5 s, in order', async () => {
    // The activity kept for replay is bounded (MAX_ACTIVITY_CHARS, 30 s, trimmed once a quarter over).
    const h = await open({ chunkMs: 100 });
    const { fake, session } = h;
    await fake.waitFor(() => fake.handles.length === 1, 2000, 'a resumption handle');
    const frames = 2000; // 40 s of 20 ms frames
    for (let seq = 0; seq < frames; seq++) session.pushAudio(frame(seq));
    // Counted without decoding: inputStream() decodes every message, too slow to poll 2,000 of.
    await fake.waitFor(() => fake.of('realtimeInput', 0).length === frames + 1, 5000, 'the 40 s of speech');
    fake.goAway('1s');
    await h.until((e) => e.type === 'goAway', 'goAway');
    session.endTurn({ startMs: 0, endMs: frames * 20 });
    await h.until(isDone, 'the reply on the new link');

    const replayed = seqs(fake.inputStream(1));
    expect(replayed[0]).toBe('start');
    expect(replayed.at(-1)).toBe('end');
    const audio = replayed.slice(1, -1) as number[];
    // The newest frames, none missing or out of order, between 30 and 37.5 s of them.
    expect(audio).toEqual(range(frames - audio.length, frames));
    // (30 s less about 0.3 %: the bound counts base64 characters, and each message's is padded.)
    expect(audio.length * 20).toBeGreaterThanOrEqual(29_900);
    expect(audio.length * 20).toBeLessThanOrEqual(37_500);
    expect(h.events.filter((e) => e.type === 'error' || e.type === 'closed')).toEqual([]);
  });

  it('goAway during a reply: the old link finishes it, then the new one takes the held caller audio', async () => {
    const h = await open({ chunkMs: 20, chunkIntervalMs: 20 });
    for (let i = 0; i < 10; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 200 });
    await h.until((e) => e.type === 'audio', 'the reply to start');
    h.fake.goAway('3s');
    for (let i = 10; i < 15; i++) h.session.pushAudio(frame(i));
    await h.until(isDone, 'the reply to end');
    await h.fake.waitFor(() => h.fake.inputStream(1).length === 6, 3000, 'the held frames on the new link');
    // The whole reply came from the old link; nothing of the turn was asked again.
    expect(concat(audioOf(h.events)).length).toBe(10 * FRAME * 1.5);
    expect(h.fake.sent.filter((s) => s.conn === 1 && typeof s.frame === 'object' && 'serverContent' in s.frame)).toEqual([]);
    expect(seqs(h.fake.inputStream(0))).toEqual(['start', ...range(0, 10), 'end']);
    expect(seqs(h.fake.inputStream(1))).toEqual(['start', ...range(10, 15)]);
  });

  it('goAway while the old link has not answered: at the deadline the new link is asked the turn again', async () => {
    const h = await open({ faults: { hang: 'reply' } });
    for (let i = 0; i < 10; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 200 });
    await h.fake.waitFor(() => h.fake.inputStream(0).length === 12, 2000, 'the turn');
    h.fake.faults = {};
    h.fake.goAway('0.6s');
    await h.until(isDone, 'the answer from the new link');
    expect(seqs(h.fake.inputStream(1))).toEqual(['start', ...range(0, 10), 'end']);
    expect(concat(audioOf(h.events)).length).toBe(10 * FRAME * 1.5);
    expect(h.events.filter((e) => e.type === 'error' || e.type === 'closed')).toEqual([]);
  });

  it('goAway with no resumable handle: a fresh session gets the conversation so far as initial history', async () => {
    const h = await open({ resumable: false }, { history: [{ role: 'user', text: 'Hi.' }, { role: 'assistant', text: 'Hello, how can I help?' }] });
    // History cannot be added mid-session (it is not initial history): a standby is never handed it.
    expect(h.session.appendHistory).toBeUndefined();
    for (let i = 0; i < 5; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 100 });
    await h.until(isDone, 'the first reply');
    h.fake.goAway('2s');
    await h.fake.waitFor(() => h.fake.of('clientContent', 1).length === 1, 3000, 'history on the new link');
    expect(h.fake.connections[1].setup!.sessionResumption).toEqual({});
    expect(h.fake.connections[1].setup!.historyConfig).toEqual({ initialHistoryInClientContent: true });
    expect(h.fake.of('clientContent', 1)[0]).toEqual({
      turns: [
        { role: 'user', parts: [{ text: 'Hi.' }] },
        { role: 'model', parts: [{ text: 'Hello, how can I help?' }] },
        { role: 'user', parts: [{ text: 'heard 100 ms' }] },
        { role: 'model', parts: [{ text: 'echo of 100 ms' }] },
      ],
      turnComplete: true,
    });
    for (let i = 5; i < 10; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 100, endMs: 200 });
    await h.until(isDone, 'a reply on the new link', 2);
    expect(seqs(h.fake.inputStream(1))).toEqual(['start', ...range(5, 10), 'end']);
  });

  it.each([
    ['close 1008', { closeCode: 1008 }],
    ['close 1007', { closeCode: 1007 }],
    ['HTTP 403', { httpStatus: 403 }],
    ['HTTP 400', { httpStatus: 400 }],
  ] as const)('a wrong key (%s) rejects connect with GW_ERR_PROVIDER_AUTH and never logs the key', async (_name, keyRejection) => {
    const badKey = 'AIzaWRONG-key-123';
    const err = await open({ keyRejection }, { apiKey: badKey }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isGatewayError(err, 'GW_ERR_PROVIDER_AUTH'), String(err)).toBe(true);
    expect(JSON.stringify({ message: (err as Error).message, cause: String((err as Error).cause) })).not.toContain(badKey);
    const { logs } = opened[opened.length - 1];
    for (const line of logs) expect(line).not.toContain(badKey);
  });

  it.each([
    [503, 'GW_ERR_PROVIDER_CONNECT'],
    [429, 'GW_ERR_PROVIDER_QUOTA'],
  ] as const)('a refused upgrade (HTTP %i) rejects connect with %s', async (status, code) => {
    const err = await open({ faults: { refuseStatus: status } }).then(() => undefined, (e: unknown) => e);
    expect(isGatewayError(err, code), String(err)).toBe(true);
  });

  it('a server that never completes setup is bounded by the signal, and its socket is closed', async () => {
    const err = await open({ faults: { hang: 'setup' } }, { signal: AbortSignal.timeout(300) }).then(() => undefined, (e: unknown) => e);
    expect(isGatewayError(err, 'GW_ERR_PROVIDER_TIMEOUT'), String(err)).toBe(true);
    const fake = opened[opened.length - 1].fake;
    await fake.waitFor(() => fake.connections.length === 1 && fake.connections[0].closed, 3000, 'the socket to close');
  });

  it('an already aborted signal rejects before any connection is made', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await open({}, { signal: ac.signal }).then(() => undefined, (e: unknown) => e);
    expect(isGatewayError(err, 'GW_ERR_PROVIDER_CONNECT'), String(err)).toBe(true);
    expect(opened[opened.length - 1].fake.connections).toHaveLength(0);
  });

  it('garbage frames and undecodable audio are non-fatal PROTOCOL errors, unknown fields are unknownEvents; the session goes on', async () => {
    const h = await open({ faults: { garbage: true, unknownFields: true, badAudio: 'base64' } });
    for (let i = 0; i < 5; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 100 });
    await h.until(isDone, 'the reply');
    const errors = () => h.events.filter((e) => e.type === 'error');
    // 5 garbage frames + one bad base64 chunk; the two fields nobody knows are not errors.
    expect(errors()).toHaveLength(6);
    expect(h.events.filter((e) => e.type === 'unknownEvent').map((e) => (e as { name: string }).name)).toEqual(['mysteryField', 'serverContent.sparkles']);
    for (const e of errors()) expect(e).toMatchObject({ type: 'error', fatal: false, error: { code: 'GW_ERR_PROVIDER_PROTOCOL' } });
    expect(concat(audioOf(h.events)).length).toBe(5 * FRAME * 1.5);

    h.fake.faults = { badAudio: 'odd', unknownFields: true };
    for (let i = 5; i < 10; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 100, endMs: 200 });
    await h.until(isDone, 'the second reply', 2);
    // The odd-length chunk is an error again; unknown fields are passed on (counted) each time.
    expect(errors()).toHaveLength(7);
    expect(String((errors()[6] as { error: Error }).error.message)).toMatch(/odd byte count/);
    expect(h.events.filter((e) => e.type === 'unknownEvent')).toHaveLength(4);
    const warned = h.logs.map((l) => JSON.parse(l) as { event?: string; level: number }).filter((l) => l.event === 'gemini_protocol_error');
    expect(warned).toHaveLength(7);
    expect(warned.every((l) => l.level === 40)).toBe(true);
  });

  it('audio at the wrong rate is not played: each chunk is a PROTOCOL error, and the next good reply plays', async () => {
    const h = await open({ chunkMs: 50, faults: { audioMimeType: 'audio/pcm;rate=16000' } });
    for (let i = 0; i < 10; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 200 });
    await h.fake.waitFor(() => h.fake.inputStream().filter((x) => x === 'start').length === 2, 2000, 'the turn to complete');
    await h.until((e) => e.type === 'error', 'errors', 4); // 200 ms of reply in 50 ms chunks
    expect(audioOf(h.events)).toHaveLength(0);
    expect(h.events.filter((e) => e.type === 'error').every((e) => e.type === 'error' && !e.fatal && /rate 16000/.test(e.error.message))).toBe(true);
    h.fake.faults = {};
    for (let i = 10; i < 20; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 200, endMs: 400 });
    await h.until(isDone, 'a good reply');
    expect(concat(audioOf(h.events)).length).toBe(10 * FRAME * 1.5);
  });

  it.each([
    [1011, 'Internal error encountered.', 'GW_ERR_PROVIDER_REMOTE'],
    [1011, 'Resource has been exhausted (e.g. check quota).', 'GW_ERR_PROVIDER_QUOTA'],
    [1000, '', 'GW_ERR_PROVIDER_CLOSED'],
  ] as const)('the server closing mid-reply (%i %s) is a fatal %s, then closed, then the events end', async (code, reason, errCode) => {
    const h = await open({ chunkMs: 20, faults: { closeMidReply: { afterChunks: 1, code, reason } } });
    for (let i = 0; i < 10; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 200 });
    await h.ended;
    const tail = h.events.slice(-2);
    expect(tail[0]).toMatchObject({ type: 'error', fatal: true, error: { code: errCode } });
    expect(tail[1].type).toBe('closed');
    expect((tail[1] as { reason: string }).reason).toContain(String(code));
    // Pushing into a dead session is harmless.
    h.session.pushAudio(frame(10));
    h.session.endTurn({ startMs: 200, endMs: 220 });
  });

  it('close() is idempotent, ends the events and closes the socket', async () => {
    const h = await open();
    h.session.pushAudio(frame(0));
    await Promise.all([h.session.close(), h.session.close()]);
    await h.ended;
    await h.session.close();
    await h.fake.waitFor(() => h.fake.connections[0].closed, 3000, 'the socket to close');
    expect(h.fake.connections[0].closeCode).toBe(1000);
    expect(h.events.filter((e) => e.type === 'closed' || e.type === 'error')).toEqual([]);
  });
});

/** A loud 20 ms frame (the fake's automatic activity detection hears it as speech) or a quiet one. */
function voiced(seq: number, loud: boolean): AudioFrame {
  return { samples: Int16Array.from({ length: FRAME }, (_, j) => (loud ? Math.round(6000 * Math.sin((seq * FRAME + j) / 5)) : 0)), sampleRate: 16000, seq, timestampMs: seq * 20 };
}

describe('gemini: models, tools, turn detection and long calls (issue 13)', () => {
  it('the default model is a current Live model; GEMINI_MODEL overrides it', () => {
    expect(loadConfig({}).gemini.model).toBe(DEFAULT_LIVE_MODEL);
    expect(DEFAULT_LIVE_MODEL).toBe('gemini-3.8-live');
    expect(isRetiredLiveModel(DEFAULT_LIVE_MODEL)).toBe(false);
    expect(loadConfig({ GEMINI_MODEL: 'gemini-3.1-flash-live-preview' }).gemini.model).toBe('gemini-3.1-flash-live-preview');
  });

  it('a retired model is refused by the service (the fake), and the connect fails', async () => {
    const err = await open({}, { model: 'gemini-live-2.5-flash-preview' }).then(() => undefined, (e: unknown) => e);
    expect(isGatewayError(err), String(err)).toBe(true);
    expect(opened[opened.length - 1].fake.connections[0].rejected).toMatch(/not found/);
  });

  it.each([
    ['gemini-3.8-live', undefined],
    ['gemini-3.1-flash-live-preview', { thinkingLevel: 'MINIMAL' }],
    ['gemini-2.5-flash-native-audio-preview-12-2025', undefined],
  ])('%s: the setup carries only the thinking configuration that model documents, and the model answers', async (model, thinking) => {
    const h = await open({}, { model, history: [{ role: 'user', text: 'Hi.' }] });
    expect((h.fake.connections[0].setup!.generationConfig as { thinkingConfig?: unknown }).thinkingConfig).toEqual(thinking);
    for (let i = 0; i < 5; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 100 });
    await h.until(isDone, 'the reply');
    expect(h.fake.connections[0].rejected).toBeUndefined();
  });

  it('reads several parts in one server message (audio chunks and a transcription together)', async () => {
    const h = await open();
    for (let i = 0; i < 2; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 40 });
    await h.until(isDone, 'the echo');
    const chunk = Buffer.from(new Int16Array(480).fill(7).buffer).toString('base64');
    const before = audioOf(h.events).length;
    h.fake.inject({ serverContent: { modelTurn: { parts: [{ text: 'thinking', thought: true }, { inlineData: { mimeType: 'audio/pcm;rate=24000', data: chunk } }, { inlineData: { mimeType: 'audio/pcm;rate=24000', data: chunk } }] }, outputTranscription: { text: 'two parts' } } });
    await h.until((e) => e.type === 'transcript' && e.text === 'two parts', 'the transcription');
    expect(audioOf(h.events).length - before).toBe(2);
  });

  it('END_CALL_TOOL: declares end_call, answers the toolCall by id, and hangs up after the reply completes', async () => {
    const h = await open({ callFunction: { name: 'end_call', args: { reason: 'caller said goodbye' } } }, { endCallTool: true });
    const tools = h.fake.connections[0].setup!.tools as { functionDeclarations: { name: string }[] }[];
    expect(tools[0].functionDeclarations.map((d) => d.name)).toEqual(['end_call']);
    for (let i = 0; i < 5; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 100 });
    await h.until((e) => e.type === 'hangup', 'the hangup');
    const types = h.events.map((e) => e.type);
    expect(types.indexOf('hangup')).toBeGreaterThan(types.indexOf('responseDone'));
    expect(h.events.find((e) => e.type === 'hangup')).toEqual({ type: 'hangup', reason: 'caller said goodbye' });
    await h.fake.waitFor(() => h.fake.toolResponses.length === 1, 2000, 'the tool response');
    // SILENT: the model (3.8 calls functions NON_BLOCKING) takes the result as context and says nothing more after its goodbye.
    expect(h.fake.toolResponses[0]).toEqual({ functionResponses: [{ id: 'call-0-1', name: 'end_call', response: { output: expect.any(String) }, scheduling: 'SILENT' }] });
    await new Promise((r) => setTimeout(r, 300));
    expect(h.events.filter((e) => e.type === 'responseStart')).toHaveLength(1);
    expect(h.fake.connections[0].rejected).toBeUndefined();
  });

  it('without END_CALL_TOOL declares no tools', async () => {
    const h = await open({ callFunction: { name: 'end_call', args: {} } });
    expect(h.fake.connections[0].setup!.tools).toBeUndefined();
    for (let i = 0; i < 5; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 100 });
    await h.until(isDone, 'the reply');
    expect(h.events.filter((e) => e.type === 'hangup')).toEqual([]);
  });

  it('activityDetection automatic (VAD_ENGINE=off): the server ends the turn; no activity brackets are sent', async () => {
    const h = await open({ silenceMs: 200 }, { activityDetection: 'automatic' });
    expect(h.fake.connections[0].setup!.realtimeInputConfig).toEqual({ automaticActivityDetection: { disabled: false } });
    for (let i = 0; i < 10; i++) h.session.pushAudio(voiced(i, true));
    h.session.endTurn({ startMs: 0, endMs: 200 }); // ignored: the server decides
    for (let i = 10; i < 25; i++) h.session.pushAudio(voiced(i, false));
    await h.until(isDone, 'the reply');
    expect(h.fake.inputStream().filter((x) => typeof x === 'string')).toEqual([]);
    expect(h.fake.connections[0].rejected).toBeUndefined();
  });

  it('an empty turn (turnComplete with no audio) is acknowledged as empty, not left to time out', async () => {
    const h = await open({ faults: { hang: 'reply' } });
    for (let i = 0; i < 5; i++) h.session.pushAudio(frame(i));
    h.session.endTurn({ startMs: 0, endMs: 100 });
    await h.fake.waitFor(() => h.fake.inputStream().includes('end'), 2000, 'the activity end');
    h.fake.inject({ usageMetadata: { totalTokenCount: 1 } });
    await h.until((e) => e.type === 'ack', 'the ack');
    h.fake.inject({ serverContent: { turnComplete: true } });
    await h.until((e) => e.type === 'ack' && e.empty === true, 'the empty ack');
  });

  it('a 20-minute call (clock scaled 1/600) survives the goAways and the 15-minute audio cap', { timeout: 20_000 }, async () => {
    const h = await open({ clockScale: 1 / 600, chunkMs: 40 });
    let seq = 0;
    const t0 = performance.now();
    // One caller turn every scaled ~30 s, for a scaled 20 minutes (2 s).
    let turns = 0;
    while (performance.now() - t0 < 2000) {
      for (let i = 0; i < 3; i++) h.session.pushAudio(frame(seq++));
      h.session.endTurn({ startMs: 0, endMs: 60 });
      turns++;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(h.events.filter((e) => e.type === 'closed' || (e.type === 'error' && e.fatal))).toEqual([]);
    expect(h.events.filter((e) => e.type === 'goAway').length).toBeGreaterThanOrEqual(1);
    expect(h.fake.connections.length).toBeGreaterThanOrEqual(2);
    expect(h.fake.connections.slice(1).every((c) => c.resumedFrom !== undefined)).toBe(true);
    expect(h.fake.connections.every((c) => c.rejected === undefined)).toBe(true);
    // Still answering at the end: the last turn gets its reply.
    const done = h.events.filter(isDone).length;
    for (let i = 0; i < 3; i++) h.session.pushAudio(frame(seq++));
    h.session.endTurn({ startMs: 0, endMs: 60 });
    await h.until(isDone, 'a reply after 20 minutes', done + 1);
    expect(turns).toBeGreaterThan(10);
  });

  it('the SDK socket hook still fits the installed @google/genai (pinned at the version it was read against)', () => {
    const installed = (JSON.parse(readFileSync(new URL('../../node_modules/@google/genai/package.json', import.meta.url), 'utf8')) as { version: string }).version;
    expect(installed).toBe(GENAI_SDK_VERSION_HOOKED);
    const ai = new GoogleGenAI({ apiKey: 'x', vertexai: false });
    const factory = (ai.live as unknown as { webSocketFactory?: { create?: unknown } }).webSocketFactory;
    expect(typeof factory?.create).toBe('function');
    expect(() => hookLiveSocket({ live: {} } as unknown as GoogleGenAI, { create: () => ({ connect() {}, send() {}, close() {} }) })).toThrow(/no longer has live.webSocketFactory/);
  });
});

describe('the Gemini fake rejects what the real API rejects', () => {
  async function raw(setup: Record<string, unknown>): Promise<{ fake: GeminiLiveFake; ws: WebSocket; closed: Promise<number> }> {
    const fake = await startFake();
    const ws = new WebSocket(`ws://127.0.0.1:${new URL(fake.baseUrl).port}${GEMINI_LIVE_PATH}?key=${fake.apiKey}`);
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ setup }));
    return { fake, ws, closed };
  }

  it.each([
    ['a retired model', { model: 'models/gemini-2.0-flash-live-001' }, [], 1008],
    ['an unknown setup field', { model: 'models/gemini-3.8-live', vadMode: 'fast' }, [], 1007],
    ['a thinking config on 3.8', { model: 'models/gemini-3.8-live', generationConfig: { thinkingConfig: { thinkingLevel: 'LOW' } } }, [], 1007],
    ['thinkingBudget on 3.1', { model: 'models/gemini-3.1-flash-live-preview', generationConfig: { thinkingConfig: { thinkingBudget: 0 } } }, [], 1007],
    ['clientContent with turnComplete false on a newer model', { model: 'models/gemini-3.8-live' }, [{ clientContent: { turns: [{ role: 'user', parts: [{ text: 'hi' }] }], turnComplete: false } }], 1007],
    ['clientContent mid-session on a 2.5 model', { model: 'models/gemini-2.5-flash-native-audio-preview-12-2025' }, [{ clientContent: { turns: [{ role: 'user', parts: [{ text: 'hi' }] }], turnComplete: true } }], 1007],
    ['a role other than user or model', { model: 'models/gemini-3.8-live', historyConfig: { initialHistoryInClientContent: true } }, [{ clientContent: { turns: [{ role: 'assistant', parts: [{ text: 'hi' }] }], turnComplete: true } }], 1007],
    ['realtime input before the initial history is complete', { model: 'models/gemini-3.8-live', historyConfig: { initialHistoryInClientContent: true } }, [{ realtimeInput: { audio: { data: '', mimeType: 'audio/pcm;rate=16000' } } }], 1007],
    ['activityStart with automatic activity detection on', { model: 'models/gemini-3.8-live' }, [{ realtimeInput: { activityStart: {} } }], 1007],
    ['a toolResponse for a call never made', { model: 'models/gemini-3.8-live' }, [{ toolResponse: { functionResponses: [{ id: 'nope', name: 'end_call', response: {} }] } }], 1007],
  ] as const)('%s', async (_what, setup, then, code) => {
    const { fake, ws, closed } = await raw(setup as Record<string, unknown>);
    await fake.waitFor(() => fake.connections[0]?.setup !== undefined || fake.connections[0]?.rejected !== undefined, 2000, 'the setup');
    for (const m of then) ws.send(JSON.stringify(m));
    expect(await closed).toBe(code);
    expect(fake.connections[0].rejected).toBeTruthy();
  });
});
