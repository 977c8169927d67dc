/**
 * The OpenAI Realtime adapter against the loopback fake, no gateway: the exact wire sequence it sends,
 * the formats it negotiates, barge-in (cancel / truncate rules), and every kind of bad server output or
 * failure turned into a typed event or rejection. Also the breaker the guard puts around it.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig } from '../../src/config.js';
import { isGatewayError, type ErrorCode } from '../../src/errors.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import type { AudioFormat, AudioFrame, EncodedFrame } from '../../src/pipeline/frame.js';
import { GuardedProvider } from '../../src/providers/guard.js';
import { OpenAIRealtimeProvider, type OpenAIProviderConfig } from '../../src/providers/openai/openai-provider.js';
import { ResponseBook } from '../../src/providers/openai/responses.js';
import { createProviders } from '../../src/providers/registry.js';
import type { OpenAIRealtimeSession } from '../../src/providers/openai/session.js';
import type { ConversationTurn, ProviderEvent, ProviderSession } from '../../src/providers/types.js';
import { OpenAIRealtimeFake, type RealtimeFakeOptions } from '../fakes/openai-realtime-fake.js';

const MULAW: AudioFormat = { codec: 'mulaw', sampleRate: 8000 };
const ALAW: AudioFormat = { codec: 'alaw', sampleRate: 8000 };
const PCM24: AudioFormat = { codec: 'pcm16', sampleRate: 24000 };
const WEBRTC: AudioFormat = { codec: 'pcm16', sampleRate: 48000 };

interface CapturedLogs {
  logger: Logger;
  lines: string[];
  records: () => Record<string, unknown>[];
}

function captureLogs(): CapturedLogs {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(line);
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Consumes a session's events in the background; tests wait on what has arrived. */
class Collector {
  readonly events: ProviderEvent[] = [];
  readonly done: Promise<void>;
  #waiters = new Set<() => void>();

  constructor(session: ProviderSession, onEvent?: (ev: ProviderEvent) => void) {
    this.done = (async () => {
      for await (const ev of session.events) {
        this.events.push(ev);
        onEvent?.(ev);
        for (const w of [...this.#waiters]) w();
      }
      for (const w of [...this.#waiters]) w();
    })();
  }

  of<T extends ProviderEvent['type']>(type: T): Extract<ProviderEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<ProviderEvent, { type: T }> => e.type === type);
  }

  errors(code: ErrorCode): Extract<ProviderEvent, { type: 'error' }>[] {
    return this.of('error').filter((e) => e.error.code === code);
  }

  until(what: string, pred: () => boolean, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred()) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; events: ${this.events.map((e) => e.type).join(',')}`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }
}

function config(fake: OpenAIRealtimeFake, over: Partial<OpenAIProviderConfig> = {}): OpenAIProviderConfig {
  return { apiKey: fake.apiKey, baseUrl: fake.baseUrl, model: 'gpt-realtime', voice: 'alloy', turnDetection: 'none', caFile: fake.caFile, instructions: 'Be brief.', ...over };
}

/** 20 ms G.711 frames of a recognisable pattern (not silence, so the fake's server VAD hears it). */
function g711Frames(codec: 'mulaw' | 'alaw', count: number, loud = true): EncodedFrame[] {
  return Array.from({ length: count }, (_, i) => {
    const payload = new Uint8Array(160);
    for (let j = 0; j < 160; j++) payload[j] = loud ? (j % 2 === 0 ? 0x10 : 0x90) ^ (i & 0x0f) : codec === 'mulaw' ? 0xff : 0xd5;
    return { codec, payload, sampleRate: 8000, seq: i, timestampMs: i * 20, sampleCount: 160 };
  });
}

function pcmFrames(count: number): AudioFrame[] {
  return Array.from({ length: count }, (_, i) => ({
    samples: Int16Array.from({ length: 480 }, (_, j) => Math.round(6000 * Math.sin((i * 480 + j) / 7))),
    sampleRate: 24000,
    seq: i,
    timestampMs: i * 20,
  }));
}

function deltasSent(fake: OpenAIRealtimeFake): number {
  return fake.sent.filter((e) => e.type === 'response.output_audio.delta').length;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

describe('OpenAI Realtime adapter against the loopback fake', () => {
  let fake: OpenAIRealtimeFake;
  let logs: CapturedLogs;
  const sessions: ProviderSession[] = [];

  async function start(options: RealtimeFakeOptions = {}): Promise<OpenAIRealtimeFake> {
    fake = await OpenAIRealtimeFake.start(options);
    return fake;
  }

  async function connect(
    opts: { input?: AudioFormat; caller?: AudioFormat; history?: ConversationTurn[]; over?: Partial<OpenAIProviderConfig>; signal?: AbortSignal } = {},
  ): Promise<OpenAIRealtimeSession> {
    const provider = new OpenAIRealtimeProvider(config(fake, opts.over));
    const session = await provider.connect({
      callId: 'call-1',
      inputFormat: opts.input ?? MULAW,
      callerFormat: opts.caller ?? opts.input ?? MULAW,
      history: opts.history ?? [],
      logger: logs.logger,
      signal: opts.signal,
    });
    sessions.push(session);
    return session as OpenAIRealtimeSession;
  }

  beforeEach(() => {
    logs = captureLogs();
  });

  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close();
    const key = fake.apiKey;
    await fake.close();
    // Whatever happened in the test, the key never reached a log line.
    expect(logs.lines.some((l) => l.includes(key))).toBe(false);
  });

  it('sets up a mu-law session with the exact GA session.update, then the history, before any audio', async () => {
    await start();
    const history: ConversationTurn[] = [
      { role: 'user', text: 'My order is late.' },
      { role: 'assistant', text: 'Let me check that for you.' },
    ];
    const session = await connect({ history });
    expect(session.inputFormat).toEqual(MULAW);
    expect(session.outputFormat).toEqual(MULAW);
    expect(fake.handshakes).toEqual([{ path: '/v1/realtime', model: 'gpt-realtime', authorized: true }]);
    // No permessage-deflate offer: a zlib context pair per call for audio that barely compresses (issue 16).
    expect(fake.handshakes[0]?.extensions).toBeUndefined();
    // The items are on the wire when connect resolves; the socket keeps them ahead of any audio.
    await fake.waitFor('conversation.item.create', 2);
    expect(fake.messages).toEqual([
      {
        type: 'session.update',
        session: {
          type: 'realtime',
          instructions: 'Be brief.',
          output_modalities: ['audio'],
          audio: {
            input: { format: { type: 'audio/pcmu' }, turn_detection: null, transcription: { model: 'gpt-4o-mini-transcribe' } },
            output: { format: { type: 'audio/pcmu' }, voice: 'alloy' },
          },
        },
      },
      { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'My order is late.' }] } },
      { type: 'conversation.item.create', item: { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Let me check that for you.' }] } },
    ]);
    expect(session.transcripts).toEqual(history);
  });

  it.each([
    { name: 'A-law caller', input: ALAW, caller: ALAW, inWire: { type: 'audio/pcma' }, outWire: { type: 'audio/pcma' }, output: ALAW },
    { name: 'PCM caller (WebRTC)', input: PCM24, caller: WEBRTC, inWire: { type: 'audio/pcm', rate: 24000 }, outWire: { type: 'audio/pcm', rate: 24000 }, output: PCM24 },
  ])('negotiates formats for a $name', async ({ input, caller, inWire, outWire, output }) => {
    await start();
    const session = await connect({ input, caller });
    expect(session.inputFormat).toEqual(input);
    expect(session.outputFormat).toEqual(output);
    const [update] = fake.received('session.update') as unknown as { session: { audio: { input: { format: unknown }; output: { format: unknown } } } }[];
    expect(update.session.audio.input.format).toEqual(inWire);
    expect(update.session.audio.output.format).toEqual(outWire);
  });

  it.each(['server_vad', 'semantic_vad'] as const)('asks for %s turn detection that answers and interrupts by itself', async (mode) => {
    await start();
    await connect({ over: { turnDetection: mode } });
    const [update] = fake.received('session.update') as unknown as { session: { audio: { input: { turn_detection: unknown } } } }[];
    expect(update.session.audio.input.turn_detection).toEqual({ type: mode, create_response: true, interrupt_response: true });
  });

  it('appends mu-law untouched, commits and asks for a response at our turn end, and plays the reply back in mu-law', async () => {
    await start({ chunkMs: 100 });
    const session = await connect({ history: [{ role: 'user', text: 'Earlier question' }] });
    const events = new Collector(session);
    const frames = g711Frames('mulaw', 50);
    for (const f of frames) session.pushAudio(f);
    session.endTurn({ startMs: 0, endMs: 1000 });
    await events.until('responseDone', () => events.of('responseDone').length === 1);

    expect(fake.messages.map((m) => m.type)).toEqual([
      'session.update',
      'conversation.item.create',
      ...frames.map(() => 'input_audio_buffer.append'),
      'input_audio_buffer.commit',
      'response.create',
    ]);
    expect(fake.appendedAudio()).toEqual(Buffer.concat(frames.map((f) => f.payload)));

    const [start0] = events.of('responseStart');
    const audio = events.of('audio');
    expect(audio.length).toBe(10); // 1 s in 100 ms deltas
    for (const a of audio) {
      expect(a.responseId).toBe(start0.responseId);
      expect(a.frame).toMatchObject({ codec: 'mulaw', sampleRate: 8000 });
    }
    const seqs = audio.map((a) => a.frame.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(audio.map((a) => a.frame.timestampMs)).toEqual(audio.map((_, i) => i * 100));
    // The fake echoes the committed turn: what came back is exactly what was sent.
    expect(concat(audio.map((a) => (a.frame as EncodedFrame).payload))).toEqual(concat(frames.map((f) => f.payload)));
    const types = events.events.map((e) => e.type);
    expect(types.indexOf('responseStart')).toBeLessThan(types.indexOf('audio'));
    expect(types.lastIndexOf('audio')).toBeLessThan(types.indexOf('responseDone'));

    const transcripts = events.of('transcript');
    expect(transcripts).toContainEqual({ type: 'transcript', role: 'user', text: 'hello from the caller', final: true });
    expect(transcripts).toContainEqual({ type: 'transcript', role: 'assistant', text: 'you said something', final: true });
    expect(transcripts.some((t) => t.role === 'assistant' && !t.final)).toBe(true);
    expect(session.transcripts).toEqual([
      { role: 'user', text: 'Earlier question' },
      { role: 'user', text: 'hello from the caller' },
      { role: 'assistant', text: 'you said something' },
    ]);
    expect(events.of('error')).toEqual([]);
  });

  it("forwards a G.711 frame's carrier base64 as it came instead of encoding the bytes again", async () => {
    await start();
    const session = await connect();
    // 160 bytes end in 'x==': the last character's low 4 bits are padding, so this text is not what
    // Buffer.toString('base64') would make, yet decodes to the same bytes. Seeing it on the wire proves
    // the text was forwarded, not re-encoded.
    const frames = g711Frames('mulaw', 3).map((f) => {
      const canonical = Buffer.from(f.payload).toString('base64');
      const last = canonical.charAt(canonical.length - 3);
      const base64 = canonical.slice(0, -3) + String.fromCharCode(last.charCodeAt(0) + 1) + '==';
      expect(Buffer.from(base64, 'base64')).toEqual(Buffer.from(f.payload));
      return { ...f, base64 };
    });
    for (const f of frames) session.pushAudio(f);
    await fake.waitFor('input_audio_buffer.append', 3);
    const appended = fake.received('input_audio_buffer.append') as unknown as { audio: string }[];
    expect(appended.map((m) => m.audio)).toEqual(frames.map((f) => f.base64));
    expect(fake.appendedAudio()).toEqual(Buffer.concat(frames.map((f) => f.payload)));
  });

  it('sends PCM16 at 24 kHz as audio/pcm and returns 24 kHz AudioFrames', async () => {
    await start();
    const session = await connect({ input: PCM24, caller: WEBRTC });
    const events = new Collector(session);
    const frames = pcmFrames(25);
    for (const f of frames) session.pushAudio(f);
    session.endTurn({ startMs: 0, endMs: 500 });
    await events.until('responseDone', () => events.of('responseDone').length === 1);
    const audio = events.of('audio').map((a) => a.frame as AudioFrame);
    expect(audio.length).toBeGreaterThan(0);
    for (const f of audio) expect(f.sampleRate).toBe(24000);
    const back = Int16Array.from(audio.flatMap((f) => Array.from(f.samples)));
    const sent = Int16Array.from(frames.flatMap((f) => Array.from(f.samples)));
    expect(back).toEqual(sent);
  });

  it('does not commit a turn too short for the server, and in server-VAD mode leaves turns to the server', async () => {
    await start();
    const manual = await connect();
    manual.pushAudio(g711Frames('mulaw', 2)[0]);
    manual.endTurn({ startMs: 0, endMs: 20 });
    await manual.close();

    const session = await connect({ over: { turnDetection: 'server_vad' } });
    const events = new Collector(session);
    // Speech then silence: the fake's server VAD starts, stops, commits and answers by itself.
    for (const f of [...g711Frames('mulaw', 25), ...g711Frames('mulaw', 40, false)]) session.pushAudio(f);
    session.endTurn({ startMs: 0, endMs: 500 }); // ignored in this mode
    await events.until('responseDone', () => events.of('responseDone').length === 1);
    expect(events.of('speechStarted')).toHaveLength(1);
    expect(events.of('speechStopped')).toHaveLength(1);
    const types = events.events.map((e) => e.type);
    expect(types.indexOf('speechStarted')).toBeLessThan(types.indexOf('speechStopped'));
    expect(types.indexOf('speechStopped')).toBeLessThan(types.indexOf('responseStart'));
    expect(fake.received('input_audio_buffer.commit')).toEqual([]);
    expect(fake.received('response.create')).toEqual([]);
  });

  it('barge-in mid-reply: cancels the response and truncates the item at what was heard', async () => {
    await start({ chunkMs: 100, chunkIntervalMs: 40 });
    const session = await connect();
    let sentAtInterrupt = 0;
    const events = new Collector(session, (ev) => {
      if (ev.type === 'audio' && sentAtInterrupt === 0 && events.of('audio').length === 3) {
        sentAtInterrupt = deltasSent(fake);
        session.interrupt({ responseId: ev.responseId, heardMs: 120.7 });
      }
    });
    for (const f of g711Frames('mulaw', 50)) session.pushAudio(f);
    session.endTurn({ startMs: 0, endMs: 1000 });
    await events.until('responseDone', () => events.of('responseDone').length === 1);
    const responseId = events.of('responseStart')[0].responseId;
    expect(fake.received('response.cancel')).toEqual([{ type: 'response.cancel', response_id: responseId }]);
    const itemId = fake.sent.find((e) => e.type === 'response.output_audio.delta')?.item_id;
    expect(fake.received('conversation.item.truncate')).toEqual([{ type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: 120 }]);
    // The fake stopped at the cancel; nothing the server sent after the interrupt was passed on.
    expect(events.of('audio').length).toBeGreaterThanOrEqual(3);
    expect(events.of('audio').length).toBeLessThanOrEqual(sentAtInterrupt);
    expect(deltasSent(fake)).toBeLessThan(10);
    expect(events.of('error')).toEqual([]);
    expect(fake.sent.filter((e) => e.type === 'error')).toEqual([]);
  });

  it('barge-in clamps audio_end_ms to the audio received so far', async () => {
    await start({ chunkMs: 100, chunkIntervalMs: 400 });
    const session = await connect();
    const events = new Collector(session, (ev) => {
      if (ev.type === 'audio') session.interrupt({ responseId: ev.responseId, heardMs: 5000 });
    });
    for (const f of g711Frames('mulaw', 50)) session.pushAudio(f);
    session.endTurn({ startMs: 0, endMs: 1000 });
    await events.until('responseDone', () => events.of('responseDone').length === 1);
    const [truncate] = fake.received('conversation.item.truncate');
    expect(truncate.audio_end_ms).toBe(100); // one 100 ms delta had arrived, not 5000 ms
    expect(fake.received('response.cancel')).toHaveLength(1);
    expect(fake.sent.filter((e) => e.type === 'error')).toEqual([]);
  });

  it('after the reply finished, a barge-in only truncates (no cancel of an inactive response)', async () => {
    await start({ chunkMs: 100 });
    const session = await connect();
    const events = new Collector(session);
    for (const f of g711Frames('mulaw', 50)) session.pushAudio(f);
    session.endTurn({ startMs: 0, endMs: 1000 });
    await events.until('responseDone', () => events.of('responseDone').length === 1);
    session.interrupt({ responseId: events.of('responseStart')[0].responseId, heardMs: 99_999 });
    const [truncate] = await fake.waitFor('conversation.item.truncate');
    expect(truncate.audio_end_ms).toBe(1000);
    expect(fake.received('response.cancel')).toEqual([]);
  });

  it('interrupted before the first audio delta: cancel only, never a truncate', async () => {
    await start({ audioDelayMs: 1500 });
    const session = await connect();
    const events = new Collector(session);
    for (const f of g711Frames('mulaw', 50)) session.pushAudio(f);
    session.endTurn({ startMs: 0, endMs: 1000 });
    await new Promise<void>((resolve, reject) => {
      const poll = setInterval(() => {
        const created = fake.sent.find((e) => e.type === 'response.created');
        if (!created) return;
        clearInterval(poll);
        // Give the client a moment to read response.created; the first delta is 1.5 s away.
        setTimeout(() => {
          try {
            session.interrupt({ responseId: (created.response as { id: string }).id, heardMs: 300 });
            resolve();
          } catch (err) {
            reject(err as Error);
          }
        }, 100);
      }, 10);
    });
    await fake.waitFor('response.cancel');
    await events.until('responseDone', () => events.of('responseDone').length === 1);
    expect(fake.received('conversation.item.truncate')).toEqual([]);
    expect(events.of('audio')).toEqual([]);
    expect(events.of('responseStart')).toEqual([]);
  });

  it('drops deltas of a cancelled response that were already in flight', async () => {
    await start({ chunkMs: 100, chunkIntervalMs: 50, faults: { ignoreCancel: true } });
    const session = await connect();
    let sentAtInterrupt = 0;
    const events = new Collector(session, (ev) => {
      if (ev.type === 'audio' && events.of('audio').length === 2) {
        sentAtInterrupt = deltasSent(fake);
        session.interrupt({ responseId: ev.responseId, heardMs: 40 });
      }
    });
    for (const f of g711Frames('mulaw', 50)) session.pushAudio(f);
    session.endTurn({ startMs: 0, endMs: 1000 });
    await events.until('responseDone', () => events.of('responseDone').length === 1);
    expect(deltasSent(fake)).toBe(10);
    // Deltas the server sent after our interrupt are certainly dropped (those before may be in flight).
    expect(sentAtInterrupt).toBeLessThan(10);
    expect(events.of('audio').length).toBeGreaterThanOrEqual(2);
    expect(events.of('audio').length).toBeLessThanOrEqual(sentAtInterrupt);
    // Partial transcript text of the cancelled reply is not passed on either.
    expect(events.of('transcript').filter((t) => t.role === 'assistant' && !t.final)).toHaveLength(1);
  });

  it.each([
    { how: 'HTTP 401 on the upgrade', options: {} as RealtimeFakeOptions, code: 'GW_ERR_PROVIDER_AUTH' },
    { how: 'an invalid_api_key error event', options: { rejectKeyWith: 'event' } as RealtimeFakeOptions, code: 'GW_ERR_PROVIDER_AUTH' },
    { how: 'a bare close 3000 invalid_api_key, no error event', options: { rejectKeyWith: 'close3000' } as RealtimeFakeOptions, code: 'GW_ERR_PROVIDER_AUTH' },
  ])('a wrong key ($how) rejects connect with $code, and the key stays out of logs and errors', async ({ options, code }) => {
    await start(options);
    const wrongKey = 'sk-wrong-key-that-must-not-leak-42';
    const err = await connect({ over: { apiKey: wrongKey } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isGatewayError(err) ? err.code : err).toBe(code);
    expect((err as Error).message).not.toContain(wrongKey);
    expect(logs.lines.some((l) => l.includes(wrongKey))).toBe(false);
    expect(fake.handshakes[0].authorized).toBe(false);
  });

  it.each([
    { status: 429, code: 'GW_ERR_PROVIDER_QUOTA' },
    { status: 403, code: 'GW_ERR_PROVIDER_AUTH' },
    { status: 500, code: 'GW_ERR_PROVIDER_CONNECT' },
  ])('HTTP $status on the upgrade rejects connect with $code', async ({ status, code }) => {
    await start({ faults: { upgradeStatus: status } });
    await expect(connect()).rejects.toMatchObject({ code });
  });

  it('a refused connection, a server that never configures the session, and an abort all reject connect', async () => {
    await start({ faults: { refuse: true } });
    await expect(connect()).rejects.toMatchObject({ code: 'GW_ERR_PROVIDER_CONNECT' });
    fake.faults = { hang: 'session' };
    await expect(connect({ signal: AbortSignal.timeout(1500) })).rejects.toMatchObject({ code: 'GW_ERR_PROVIDER_CONNECT' });
    expect(fake.connections).toHaveLength(1);
    // The half-open socket was torn down, not left behind.
    await new Promise<void>((resolve) => (fake.connections[0].ws.readyState === fake.connections[0].ws.CLOSED ? resolve() : fake.connections[0].ws.once('close', () => resolve())));
  });

  it('rejects a session whose server reports a different output format', async () => {
    await start({ faults: { sessionOutputFormat: { type: 'audio/pcm', rate: 24000 } } });
    await expect(connect()).rejects.toMatchObject({ code: 'GW_ERR_PROVIDER_PROTOCOL' });
  });

  it('reports garbage, stray and malformed audio as non-fatal protocol errors, passes unknown events on as unknownEvent (not errors), and goes on', async () => {
    await start({ faults: { garbage: true, unknownEvent: true, strayDelta: true, badAudio: 'odd-bytes' } });
    const session = await connect({ input: PCM24, caller: WEBRTC });
    const events = new Collector(session);
    for (const f of pcmFrames(25)) session.pushAudio(f);
    session.endTurn({ startMs: 0, endMs: 500 });
    await events.until('responseDone', () => events.of('responseDone').length === 1);
    // A second reply: each problem again.
    for (const f of pcmFrames(25)) session.pushAudio(f);
    session.endTurn({ startMs: 500, endMs: 1000 });
    await events.until('second responseDone', () => events.of('responseDone').length === 2);

    const protocol = events.errors('GW_ERR_PROVIDER_PROTOCOL');
    const messages = protocol.map((e) => e.error.message);
    expect(messages.filter((m) => m.includes('not JSON'))).toHaveLength(4); // a text and a binary frame per reply
    // A newer API's event type is not an error: it is passed on (the guard counts and logs it).
    expect(messages.filter((m) => m.includes('teleported'))).toHaveLength(0);
    expect(events.of('unknownEvent').map((e) => e.name)).toEqual(['response.teleported', 'response.teleported']);
    expect(messages.filter((m) => m.includes('unknown response'))).toHaveLength(2);
    expect(messages.filter((m) => m.includes('odd byte count'))).toHaveLength(2);
    expect(protocol.every((e) => !e.fatal)).toBe(true);
    expect(events.of('error')).toHaveLength(protocol.length);
    // Both replies still played, minus the one corrupt delta each.
    expect(events.of('responseStart')).toHaveLength(2);
    expect(events.of('audio').length).toBeGreaterThan(2);
    const warned = logs.records().filter((r) => r.event === 'openai_protocol_error');
    expect(warned.length).toBe(protocol.length);
    expect(warned.every((r) => r.level === 40)).toBe(true);
  });

  it('reports a delta that is not base64 on a G.711 session', async () => {
    await start({ faults: { badAudio: 'not-base64' } });
    const session = await connect();
    const events = new Collector(session);
    for (const f of g711Frames('mulaw', 50)) session.pushAudio(f);
    session.endTurn({ startMs: 0, endMs: 1000 });
    await events.until('responseDone', () => events.of('responseDone').length === 1);
    expect(events.errors('GW_ERR_PROVIDER_PROTOCOL').map((e) => e.error.message)).toEqual([expect.stringContaining('not valid base64')]);
    expect(events.of('audio').length).toBe(9);
  });

  it('with END_CALL_TOOL declares end_call, and turns the model calling it into a hangup event', async () => {
    await start();
    const session = await connect({ over: { endCallTool: true } });
    const events = new Collector(session);
    const [update] = fake.received('session.update') as unknown as { session: { tools: { name: string; type: string }[]; tool_choice: string } }[];
    expect(update.session.tools.map((t) => [t.type, t.name])).toEqual([['function', 'end_call']]);
    expect(update.session.tool_choice).toBe('auto');
    const call = { type: 'response.function_call_arguments.done', event_id: 'e1', item_id: 'i1', output_index: 0, response_id: 'r1', call_id: 'c1' };
    fake.sendEvent({ ...call, name: 'end_call', arguments: '{"reason":"caller said goodbye"}' });
    fake.sendEvent({ ...call, name: 'end_call', arguments: 'not json' });
    fake.sendEvent({ ...call, name: 'transfer_money', arguments: '{}' });
    await events.until('two hangups and an error', () => events.of('hangup').length === 2 && events.of('error').length === 1);
    expect(events.of('hangup')).toEqual([
      { type: 'hangup', reason: 'caller said goodbye' },
      { type: 'hangup', reason: 'provider_goodbye' }, // garbled arguments still mean "hang up"
    ]);
    expect(events.errors('GW_ERR_PROVIDER_PROTOCOL').map((e) => [e.error.message, e.fatal])).toEqual([
      [expect.stringContaining('did not declare: transfer_money'), false],
    ]);
  });

  it.each([false, true])('passes end_call on only after its response is done (called before the audio: %s)', async (beforeAudio) => {
    await start({ replyDelayMs: 10, chunkMs: 100, chunkIntervalMs: 20, callFunction: { name: 'end_call', arguments: '{}', beforeAudio } });
    const session = await connect({ over: { endCallTool: true } });
    const events = new Collector(session);
    for (const f of g711Frames('mulaw', 25)) session.pushAudio(f);
    session.endTurn({ startMs: 0, endMs: 500 });
    await events.until('hangup', () => events.of('hangup').length === 1);
    // The goodbye's audio all came first, then its end: a call hanging up on this has nothing left to get.
    const order = events.events.map((e) => e.type).filter((t) => t === 'audio' || t === 'responseDone' || t === 'hangup');
    expect(order.slice(-2)).toEqual(['responseDone', 'hangup']);
    expect(order.filter((t) => t === 'audio').length).toBeGreaterThan(1);
  });

  it('without END_CALL_TOOL declares no tools and treats a function call as a protocol error', async () => {
    await start();
    const session = await connect();
    const events = new Collector(session);
    const [update] = fake.received('session.update') as unknown as { session: { tools?: unknown } }[];
    expect(update.session.tools).toBeUndefined();
    fake.sendEvent({ type: 'response.function_call_arguments.done', event_id: 'e1', item_id: 'i1', output_index: 0, response_id: 'r1', call_id: 'c1', name: 'end_call', arguments: '{}' });
    await events.until('an error', () => events.of('error').length === 1);
    expect(events.of('hangup')).toEqual([]);
  });

  it('maps server error events by code, drops the benign cancel race, and keeps the key out of the message', async () => {
    await start();
    const session = await connect();
    const events = new Collector(session);
    fake.sendEvent({ type: 'error', event_id: 'e1', error: { type: 'invalid_request_error', code: 'invalid_value', message: 'bad value' } });
    fake.sendEvent({ type: 'error', event_id: 'e2', error: { type: 'invalid_request_error', code: 'response_cancel_not_active', message: 'no active response' } });
    fake.sendEvent({ type: 'error', event_id: 'e3', error: { type: 'insufficient_quota', code: 'insufficient_quota', message: `quota gone for ${fake.apiKey}` } });
    await events.until('two errors', () => events.of('error').length === 2);
    await new Promise((r) => setTimeout(r, 50));
    const errors = events.of('error');
    expect(errors.map((e) => [e.error.code, e.fatal])).toEqual([
      ['GW_ERR_PROVIDER_REMOTE', false],
      ['GW_ERR_PROVIDER_QUOTA', true],
    ]);
    expect(errors[1].error.message).not.toContain(fake.apiKey);
    // invalid_value is the server refusing a request of ours: marked so the call never fails over on it.
    expect(errors[0].origin).toBe('request');
    expect(errors[1].origin).toBeUndefined();
  });

  it('a close 3000 invalid_api_key mid-call is an AUTH error, not a plain drop', async () => {
    await start();
    const session = await connect();
    const events = new Collector(session);
    fake.closeClients(3000, 'invalid_api_key');
    await events.done;
    expect(events.events.map((e) => (e.type === 'error' ? [e.type, e.error.code, e.fatal] : [e.type]))).toEqual([['error', 'GW_ERR_PROVIDER_AUTH', true], ['closed']]);
  });

  describe('one response at a time: a caller who speaks twice', () => {
    async function twoTurns(secondAfterCreated: boolean) {
      await start({ replyDelayMs: 300, chunkMs: 100, chunkIntervalMs: 20 });
      const session = await connect();
      const events = new Collector(session);
      for (const f of g711Frames('mulaw', 25)) session.pushAudio(f);
      session.endTurn({ startMs: 0, endMs: 500 });
      // Acks: the commit, then response.created.
      if (secondAfterCreated) await events.until('response.created', () => events.of('ack').length >= 2);
      for (const f of g711Frames('mulaw', 25)) session.pushAudio(f);
      session.endTurn({ startMs: 600, endMs: 1100 });
      await events.until('the second turn answered', () => events.of('responseDone').length >= 1 && fake.received('response.create').length === 2 && fake.sent.filter((e) => e.type === 'response.done').length === 2, 8000);
      return events;
    }

    it.each([
      { when: 'after the first response was created', after: true },
      { when: 'before the server named the first response', after: false },
    ])('$when: cancel, then response.create only after the cancelled response is done; no rejection, no error', async ({ after }) => {
      const events = await twoTurns(after);
      const rejected = fake.sent.filter((e) => e.type === 'error');
      expect(rejected).toEqual([]);
      expect(events.of('error')).toEqual([]);
      // On the wire: the second create follows the first response's response.done (status cancelled).
      const order = fake.messages.map((m) => m.type).filter((t) => t === 'response.create' || t === 'response.cancel');
      expect(order).toEqual(['response.create', 'response.cancel', 'response.create']);
      const firstDone = fake.sent.findIndex((e) => e.type === 'response.done');
      expect((fake.sent[firstDone].response as { status: string }).status).toBe('cancelled');
      // The reply that plays is the second turn's.
      expect(events.of('responseStart')).toHaveLength(1);
    });
  });

  it('a close mid-stream ends the events with a closed event; close() is idempotent', async () => {
    await start({ chunkMs: 100, faults: { closeAfterDeltas: 2 } });
    const session = await connect();
    const events = new Collector(session);
    for (const f of g711Frames('mulaw', 50)) session.pushAudio(f);
    session.endTurn({ startMs: 0, endMs: 1000 });
    await events.done;
    const closed = events.of('closed');
    expect(closed).toHaveLength(1);
    expect(closed[0].reason).toContain('1011');
    expect(events.events.at(-1)?.type).toBe('closed');
    expect(events.of('audio')).toHaveLength(2);
    // Sends after the close are dropped quietly.
    session.pushAudio(g711Frames('mulaw', 1)[0]);
    await session.close();
    await session.close();
  });

  it('our close() ends the events without a closed event and closes the socket', async () => {
    await start();
    const session = await connect();
    const events = new Collector(session);
    await Promise.all([session.close(), session.close()]);
    await events.done;
    expect(events.events).toEqual([]);
    const ws = fake.connections[0].ws;
    if (ws.readyState !== ws.CLOSED) await new Promise((r) => ws.once('close', r));
  });
});

describe('the guard around the OpenAI adapter', () => {
  let fake: OpenAIRealtimeFake;
  let metrics: Metrics;

  beforeEach(async () => {
    fake = await OpenAIRealtimeFake.start();
    metrics = createMetrics();
  });

  afterEach(async () => {
    metrics.loopDelay.disable();
    await fake.close();
  });

  async function breakerGauge(): Promise<number | undefined> {
    const data = await metrics.registry.getSingleMetric('voice_gateway_circuit_breaker_state')!.get();
    return data.values.find((v) => v.labels.provider === 'openai')?.value;
  }

  function guarded(over: Partial<OpenAIProviderConfig> = {}): GuardedProvider {
    const { logger } = captureLogs();
    const breaker = { errorThresholdPercentage: 50, volumeThreshold: 2, resetTimeoutMs: 200, connectTimeoutMs: 3000, rollingWindowMs: 10_000 };
    return new GuardedProvider(new OpenAIRealtimeProvider(config(fake, over)), { metrics, logger, breaker });
  }

  const connectOptions = () => ({ callId: 'c', inputFormat: MULAW, callerFormat: MULAW, history: [], logger: captureLogs().logger });

  it('opens after repeated connect failures, goes half-open after the reset timeout, and closes on a good connect', async () => {
    const provider = guarded();
    fake.faults = { refuse: true };
    expect(await breakerGauge()).toBe(0);
    await expect(provider.connect(connectOptions())).rejects.toMatchObject({ code: 'GW_ERR_PROVIDER_CONNECT' });
    await expect(provider.connect(connectOptions())).rejects.toMatchObject({ code: 'GW_ERR_PROVIDER_CONNECT' });
    expect(await breakerGauge()).toBe(2);
    await expect(provider.connect(connectOptions())).rejects.toMatchObject({ code: 'GW_ERR_PROVIDER_BREAKER_OPEN' });

    await new Promise((r) => setTimeout(r, 300));
    expect(await breakerGauge()).toBe(1);
    fake.faults = {};
    const session = await provider.connect(connectOptions());
    expect(await breakerGauge()).toBe(0);
    expect(provider.state).toBe('closed');
    await session.close();
  });

  it('a rejected key opens the breaker at once', async () => {
    const provider = guarded({ apiKey: 'sk-not-the-right-one' });
    await expect(provider.connect(connectOptions())).rejects.toMatchObject({ code: 'GW_ERR_PROVIDER_AUTH' });
    expect(await breakerGauge()).toBe(2);
    expect(provider.state).toBe('open');
    expect(fake.handshakes).toHaveLength(1);
  });
});

describe('ResponseBook: what a barge-in sends', () => {
  function book(items: [string, number][], done = false): ResponseBook {
    const b = new ResponseBook();
    b.created('r1');
    const r = b.get('r1')!;
    for (const [id, ms] of items) b.addAudio(r, id, ms);
    r.done = done;
    return b;
  }

  it.each([
    { name: 'no audio yet: cancel only', items: [] as [string, number][], done: false, heardMs: 500, plan: { cancel: true, truncate: [] } },
    { name: 'heard part of one item', items: [['i1', 100], ['i1', 100]] as [string, number][], done: false, heardMs: 120.9, plan: { cancel: true, truncate: [{ itemId: 'i1', audioEndMs: 120 }] } },
    { name: 'heard more than arrived: clamped', items: [['i1', 60]] as [string, number][], done: false, heardMs: 5000, plan: { cancel: true, truncate: [{ itemId: 'i1', audioEndMs: 60 }] } },
    { name: 'finished response: truncate only', items: [['i1', 300]] as [string, number][], done: true, heardMs: 200, plan: { cancel: false, truncate: [{ itemId: 'i1', audioEndMs: 200 }] } },
    { name: 'two items: the heard time runs across them', items: [['i1', 300], ['i2', 300]] as [string, number][], done: false, heardMs: 400, plan: { cancel: true, truncate: [{ itemId: 'i1', audioEndMs: 300 }, { itemId: 'i2', audioEndMs: 100 }] } },
    { name: 'negative heard time', items: [['i1', 300]] as [string, number][], done: false, heardMs: -5, plan: { cancel: true, truncate: [{ itemId: 'i1', audioEndMs: 0 }] } },
  ])('$name', ({ items, done, heardMs, plan }) => {
    const b = book(items, done);
    expect(b.interrupt('r1', heardMs)).toEqual(plan);
    // Once interrupted, again is a no-op; an unknown response is too.
    expect(b.interrupt('r1', heardMs)).toBeUndefined();
    expect(b.interrupt('nope', heardMs)).toBeUndefined();
  });

  it('a new turn supersedes only responses still running', () => {
    const b = new ResponseBook();
    b.created('a');
    b.created('b');
    b.created('c');
    b.get('a')!.done = true;
    b.get('b')!.cancelled = true;
    expect(b.supersede()).toEqual(['c']);
    expect(b.supersede()).toEqual([]);
  });
});

describe('the OpenAI fake rejects what the real API rejects', () => {
  let fake: OpenAIRealtimeFake;
  afterEach(async () => {
    await fake.close();
  });

  async function raw(model = 'gpt-realtime'): Promise<{ ws: WebSocket; events: Record<string, unknown>[]; next: (type: string) => Promise<Record<string, unknown>> }> {
    const ws = new WebSocket(`wss://127.0.0.1:${String(fake.port)}/v1/realtime?model=${model}`, { headers: { Authorization: `Bearer ${fake.apiKey}` }, ca: readFileSync(fake.caFile) });
    const events: Record<string, unknown>[] = [];
    const waiters: (() => void)[] = [];
    ws.on('message', (d: Buffer) => {
      events.push(JSON.parse(d.toString()) as Record<string, unknown>);
      for (const w of waiters.splice(0)) w();
    });
    const next = (type: string) =>
      new Promise<Record<string, unknown>>((resolve) => {
        const check = () => {
          const e = events.find((x) => x.type === type);
          if (e) {
            events.splice(events.indexOf(e), 1);
            resolve(e);
          } else waiters.push(check);
        };
        check();
      });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    await next('session.created');
    return { ws, events, next };
  }

  it('a second response.create while one is active (even cancelled, until its response.done)', async () => {
    fake = await OpenAIRealtimeFake.start({ replyDelayMs: 200, cancelDoneDelayMs: 50, reply: { toneMs: 2000 }, chunkIntervalMs: 50 });
    const c = await raw();
    c.ws.send(JSON.stringify({ type: 'response.create' }));
    c.ws.send(JSON.stringify({ type: 'response.create' }));
    expect(((await c.next('error')).error as { code: string }).code).toBe('conversation_already_has_active_response');
    const created = await c.next('response.created');
    c.ws.send(JSON.stringify({ type: 'response.cancel', response_id: (created.response as { id: string }).id }));
    c.ws.send(JSON.stringify({ type: 'response.create' }));
    expect(((await c.next('error')).error as { code: string }).code).toBe('conversation_already_has_active_response');
    expect(((await c.next('response.done')).response as { status: string }).status).toBe('cancelled');
    c.ws.close();
  });

  it('an unknown session.update field, at any level, and keeps the session as it was', async () => {
    fake = await OpenAIRealtimeFake.start();
    const c = await raw();
    for (const session of [{ type: 'realtime', temperature: 0.7 }, { type: 'realtime', audio: { input: { vad: true } } }, { type: 'realtime', audio: { output: { sample_rate: 8000 } } }]) {
      c.ws.send(JSON.stringify({ type: 'session.update', session }));
      const err = (await c.next('error')).error as { code: string; message: string };
      expect(err.code).toBe('unknown_parameter');
    }
    expect(c.events.filter((e) => e.type === 'session.updated')).toEqual([]);
    c.ws.close();
  });

  it('a retired model name', async () => {
    fake = await OpenAIRealtimeFake.start();
    await expect(raw('gpt-4o-realtime-preview-2024-10-01')).rejects.toThrow(/404/);
  });
});

describe('VAD_ENGINE=off: each provider ends turns itself (issue 13, item 7)', () => {
  it('resolves OpenAI server_vad, Gemini automatic activity detection and Deepgram endpointing, unless configured, and logs it at start', () => {
    const env = { PROVIDERS: 'openai,gemini,deepgram', OPENAI_API_KEY: 'sk-x', GEMINI_API_KEY: 'g-x', DEEPGRAM_API_KEY: 'd-x' };
    const off = loadConfig({ ...env, VAD_ENGINE: 'off' });
    expect(off.openai.turnDetection).toBe('server_vad');
    expect(off.gemini.activityDetection).toBe('automatic');
    expect(off.deepgram.endpointing).toBe(true);
    // Configured otherwise: kept.
    const semantic = loadConfig({ ...env, VAD_ENGINE: 'off', OPENAI_TURN_DETECTION: 'semantic_vad', GEMINI_ACTIVITY_DETECTION: 'client', DEEPGRAM_ENDPOINTING: 'false' });
    expect([semantic.openai.turnDetection, semantic.gemini.activityDetection, semantic.deepgram.endpointing]).toEqual(['semantic_vad', 'client', false]);
    // Our VAD on: it ends turns for everyone.
    const on = loadConfig({ ...env, VAD_ENGINE: 'energy' });
    expect([on.openai.turnDetection, on.gemini.activityDetection, on.deepgram.endpointing]).toEqual(['none', 'client', false]);

    const logs = captureLogs();
    const metrics = createMetrics();
    createProviders(off, { metrics, logger: logs.logger });
    metrics.loopDelay.disable();
    const resolved = logs.records().filter((r) => r.event === 'provider_turn_detection');
    expect(resolved.map((r) => [r.provider, r.turnDetection])).toEqual([
      ['openai', 'openai server_vad'],
      ['gemini', 'gemini automatic activity detection'],
      ['deepgram', 'the deepgram agent'],
    ]);
  });

  it('with server_vad the session asks the server to end turns and answer them', async () => {
    const fake = await OpenAIRealtimeFake.start();
    try {
      const provider = new OpenAIRealtimeProvider(config(fake, { turnDetection: loadConfig({ VAD_ENGINE: 'off' }).openai.turnDetection }));
      const session = await provider.connect({ callId: 'c', inputFormat: MULAW, callerFormat: MULAW, history: [], logger: captureLogs().logger });
      const update = fake.received('session.update')[0].session as { audio: { input: { turn_detection: unknown } } };
      expect(update.audio.input.turn_detection).toEqual({ type: 'server_vad', create_response: true, interrupt_response: true });
      await session.close();
    } finally {
      await fake.close();
    }
  });
});
