/**
 * `deepgram-cascade`: Deepgram streaming STT hears the caller, a Responder (the LLM, streaming) writes
 * the reply, and Deepgram streaming TTS speaks it sentence by sentence, over the SDK's listen v1 and
 * speak v1 WebSockets. G.711 goes both ways untouched when the caller uses it (mu-law in, mu-law out).
 *
 * Turn end: whichever comes first of our VAD (`endTurn`) and Deepgram's own signals (`speech_final`
 * after its endpointing silence, or `UtteranceEnd`). Either starts the answer at once; the other,
 * arriving later for the same words, finds nothing left to answer.
 * Streaming: the first sentence goes to TTS with a Flush while the LLM still writes; the rest is
 * flushed when the LLM is done (two flushes a reply keep within Deepgram's 20 a minute). A barge-in
 * aborts the LLM stream and clears TTS.
 *
 * Like every adapter this only connects, encodes and decodes: no retries (the SDK's reconnects are
 * off; failover is the one retry layer), no metrics, no breaker. Bad provider output becomes a
 * non-fatal PROTOCOL error event; a socket that drops ends the session with a fatal error.
 */
import type { DeepgramSettings } from './settings.js';
import { GatewayError, isGatewayError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import { pcm16ToBytes, type AudioFormat, type AudioFrame, type EncodedFrame } from '../../pipeline/frame.js';
import { AsyncQueue } from '../../util/async-queue.js';
import type { ConversationTurn, Provider, ProviderConnectOptions, ProviderEvent, ProviderSession, TurnInfo } from '../types.js';
import { abortable } from './abortable.js';
import type { Responder } from './responder.js';
import { SentenceSplitter } from './sentences.js';
import { createClient, deepgramSdk, SocketLink, type ListenSocket, type SpeakSocket } from './socket.js';
import { ListenChannel, type ChannelSink, type ListenTuning } from './stt.js';
import { audioFormatOf, FlushLimiter, SpeakChannel, type SpeakFormat } from './tts.js';

export interface DeepgramCascadeOptions {
  /** Writes the replies (the LLM in production). */
  readonly responder: Responder;
  /** Instructions when the call brings none (ASSISTANT_INSTRUCTIONS). */
  readonly instructions?: string;
  readonly keepAliveMs?: number;
  readonly finalizeWaitMs?: number;
  /** Deepgram endpointing (ms of silence before speech_final). */
  readonly endpointingMs?: number;
  /** Deepgram utterance_end_ms (1000 is its minimum). */
  readonly utteranceEndMs?: number;
  /** Deepgram's flush limit on a speak socket. */
  readonly flushLimit?: { readonly count: number; readonly windowMs: number };
  /** How long close() waits for each socket to close after the goodbye message. */
  readonly closeWaitMs?: number;
}

const INPUT_FORMATS: readonly AudioFormat[] = [
  { codec: 'mulaw', sampleRate: 8000 },
  { codec: 'alaw', sampleRate: 8000 },
  { codec: 'pcm16', sampleRate: 16000 },
];

/** Rates Deepgram TTS produces linear16 at. */
const LINEAR16_RATES = [8000, 16000, 24000, 32000, 48000];

function listenEncoding(format: AudioFormat): { encoding: string; sampleRate: number } {
  if (format.codec === 'mulaw' || format.codec === 'alaw') return { encoding: format.codec, sampleRate: format.sampleRate };
  if (format.codec === 'pcm16') return { encoding: 'linear16', sampleRate: format.sampleRate };
  throw new GatewayError('GW_ERR_AUDIO_UNSUPPORTED_CODEC', `deepgram input ${format.codec}`);
}

/** Answer in the caller's codec when Deepgram speaks it, so egress passes it straight through. */
export function speakFormatFor(caller: AudioFormat): SpeakFormat {
  if (caller.codec === 'mulaw' || caller.codec === 'alaw') return { encoding: caller.codec, sampleRate: 8000 };
  return { encoding: 'linear16', sampleRate: LINEAR16_RATES.includes(caller.sampleRate) ? caller.sampleRate : 24000 };
}

export type DeepgramCascadeConfig = Pick<DeepgramSettings, 'apiKey' | 'baseUrl' | 'sttModel' | 'ttsModel'>;

export class DeepgramCascadeProvider implements Provider {
  readonly name = 'deepgram-cascade';
  readonly inputFormats = INPUT_FORMATS;
  readonly #config: DeepgramCascadeConfig;
  readonly #options: DeepgramCascadeOptions;

  constructor(config: DeepgramCascadeConfig, options: DeepgramCascadeOptions) {
    this.#config = config;
    this.#options = options;
  }

  async preload(): Promise<void> {
    await Promise.all([deepgramSdk(), this.#options.responder.preload?.()]);
  }

  async connect(options: ProviderConnectOptions): Promise<ProviderSession> {
    options.signal?.throwIfAborted();
    const { apiKey, baseUrl, sttModel, ttsModel } = this.#config;
    if (apiKey === undefined) throw new GatewayError('GW_ERR_PROVIDER_AUTH', 'DEEPGRAM_API_KEY is not set');
    const input = listenEncoding(options.inputFormat);
    const output = speakFormatFor(options.callerFormat);
    const o = this.#options;
    const client = await createClient(apiKey, baseUrl);
    // The key goes in the client's auth header (`Token KEY`). reconnectAttempts 0: the SDK would
    // otherwise reconnect up to 30 times behind our back, a second retry layer under failover.
    const common = { reconnectAttempts: 0, shouldReconnect: () => false };
    let listen: ListenSocket;
    let speak: SpeakSocket;
    try {
      [listen, speak] = await Promise.all([
        client.listen.v1.connect({
          ...common,
          model: sttModel,
          encoding: input.encoding,
          sample_rate: input.sampleRate,
          channels: 1,
          interim_results: 'true',
          endpointing: o.endpointingMs ?? 300,
          utterance_end_ms: o.utteranceEndMs ?? 1000,
          vad_events: 'true',
        }),
        client.speak.v1.connect({ ...common, model: ttsModel, encoding: output.encoding, sample_rate: String(output.sampleRate) }),
      ]);
    } catch (err) {
      throw isGatewayError(err) ? err : new GatewayError('GW_ERR_PROVIDER_CONNECT', `deepgram: ${(err as Error).message}`, { cause: err });
    }
    const listenLink = new SocketLink(listen, 'listen');
    const speakLink = new SocketLink(speak, 'speak');
    const opened = await Promise.allSettled([listenLink.open(options.signal), speakLink.open(options.signal)]);
    const failures = opened.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    // Aborted just as both opened: whoever asked has gone, so nobody would close the session.
    if (failures.length === 0 && options.signal?.aborted) failures.push(new GatewayError('GW_ERR_PROVIDER_CONNECT', 'deepgram: connect aborted'));
    if (failures.length > 0) {
      const closeWaitMs = o.closeWaitMs ?? 1000;
      await Promise.all([listenLink.close(undefined, closeWaitMs), speakLink.close(undefined, closeWaitMs)]);
      // A rejected key says the most; report it over a plain connect failure of the other socket.
      throw failures.find((e) => isGatewayError(e, 'GW_ERR_PROVIDER_AUTH') || isGatewayError(e, 'GW_ERR_PROVIDER_QUOTA')) ?? failures[0];
    }
    const session = new DeepgramSession({
      inputFormat: options.inputFormat,
      output,
      history: options.history,
      responder: o.responder,
      instructions: options.instructions ?? o.instructions,
      log: options.logger.child({ provider: 'deepgram' }),
      listen: { socket: listen, link: listenLink },
      speak: { socket: speak, link: speakLink },
      tuning: { keepAliveMs: o.keepAliveMs ?? 4000, finalizeWaitMs: o.finalizeWaitMs ?? 1500, closeWaitMs: o.closeWaitMs ?? 1000 },
      flushLimit: o.flushLimit ?? { count: 20, windowMs: 60_000 },
    });
    session.start();
    return session;
  }
}

interface SessionDeps {
  readonly inputFormat: AudioFormat;
  readonly output: SpeakFormat;
  readonly history: readonly ConversationTurn[];
  readonly responder: Responder;
  readonly instructions: string | undefined;
  readonly log: Logger;
  readonly listen: { socket: ListenSocket; link: SocketLink };
  readonly speak: { socket: SpeakSocket; link: SocketLink };
  readonly tuning: ListenTuning;
  readonly flushLimit: { count: number; windowMs: number };
}

class DeepgramSession implements ProviderSession {
  readonly provider = 'deepgram-cascade';
  readonly inputFormat: AudioFormat;
  readonly outputFormat: AudioFormat;
  readonly #queue = new AsyncQueue<ProviderEvent>();
  readonly #log: Logger;
  readonly #responder: Responder;
  readonly #instructions: string | undefined;
  /** end_call asked for: hang up once this reply has been spoken (its responseDone). */
  #hangupAfter: { responseId: string; reason: string } | undefined;
  readonly #stt: ListenChannel;
  readonly #tts: SpeakChannel;
  /** The conversation so far: seeded by failover, grown by each answered turn. */
  readonly #history: ConversationTurn[];
  /** Aborted when the session ends: stops waits and the responder. */
  readonly #life = new AbortController();
  /** One per turn being answered; a barge-in aborts them all. */
  readonly #turnAborts = new Set<AbortController>();
  #turns: Promise<void> = Promise.resolve();
  #ended = false;
  #closing: Promise<void> | undefined;

  constructor(deps: SessionDeps) {
    this.inputFormat = deps.inputFormat;
    this.outputFormat = audioFormatOf(deps.output);
    this.#log = deps.log;
    this.#responder = deps.responder;
    this.#instructions = deps.instructions;
    this.#history = [...deps.history];
    const listenSink = this.#sinkFor('listen');
    this.#stt = new ListenChannel(deps.listen.socket, deps.listen.link, deps.tuning, listenSink);
    this.#tts = new SpeakChannel({
      socket: deps.speak.socket,
      link: deps.speak.link,
      format: deps.output,
      limiter: new FlushLimiter(deps.flushLimit.count, deps.flushLimit.windowMs),
      sink: this.#sinkFor('speak'),
      log: deps.log,
      closeWaitMs: deps.tuning.closeWaitMs,
    });
  }

  start(): void {
    this.#stt.start((code, reason) => this.#fail('listen', code, reason));
    this.#tts.start((code, reason) => this.#fail('speak', code, reason));
  }

  get events(): AsyncIterable<ProviderEvent> {
    return this.#queue;
  }

  pushAudio(frame: AudioFrame | EncodedFrame): void {
    if (this.#ended) return;
    // G.711 payloads go out byte for byte; PCM16 as its little-endian bytes (a view, no copy).
    this.#stt.send('payload' in frame ? frame.payload : pcm16ToBytes(frame.samples));
  }

  /** A warm standby taking over a call: the responder answers with the conversation so far. */
  appendHistory(turns: readonly ConversationTurn[]): void {
    this.#history.push(...turns);
  }

  /** A text note in the caller's turn (a DTMF key press) joins the responder's history. */
  sendText(text: string): void {
    this.#history.push({ role: 'user', text });
  }

  /** Our VAD ended the caller's turn. */
  endTurn(_turn: TurnInfo): void {
    this.#startAnswer(true);
  }

  /** Deepgram ended it first (its endpointing): answer what it heard, no Finalize needed. */
  #deepgramTurnEnded(): void {
    if (this.#turnAborts.size > 0) return; // an answer is already on its way; it takes these words too
    this.#startAnswer(false);
  }

  #startAnswer(flush: boolean): void {
    if (this.#ended) return;
    const abort = new AbortController();
    this.#turnAborts.add(abort);
    // Turns are answered one after another, in the order they ended.
    this.#turns = this.#turns
      .then(() => this.#answer(abort.signal, flush))
      .catch((err: unknown) => this.#log.warn({ event: 'deepgram_turn_failed', code: isGatewayError(err) ? err.code : undefined, message: (err as Error).message }, 'answering a turn failed'))
      .finally(() => this.#turnAborts.delete(abort));
  }

  interrupt(info: { responseId: string; heardMs: number }): void {
    if (this.#ended) return;
    for (const a of this.#turnAborts) a.abort();
    // A goodbye the caller talked over does not hang up.
    this.#hangupAfter = undefined;
    const cleared = this.#tts.clear();
    for (const responseId of cleared) this.#queue.push({ type: 'responseDone', responseId });
    this.#log.debug({ event: 'deepgram_interrupted', responseId: info.responseId, heardMs: info.heardMs, cleared: cleared.length }, 'reply cleared');
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#ended = true;
    this.#life.abort();
    await Promise.all([this.#stt.close(), this.#tts.close()]);
    this.#queue.end();
  }

  async #answer(turnSignal: AbortSignal, flush: boolean): Promise<void> {
    const signal = AbortSignal.any([turnSignal, this.#life.signal]);
    const transcript = await this.#stt.finalize(signal, { flush });
    // Our VAD's turn (flush) is owed an answer or a word that none is coming; the LLM's first token
    // may be seconds away, so the call waits the reply deadline from here, not the silence one.
    if (flush && !signal.aborted) this.#queue.push({ type: 'ack', empty: transcript === '' });
    if (transcript === '') return;
    if (signal.aborted) {
      if (!this.#ended) this.#stt.restore(transcript);
      return;
    }
    const history = this.#history.slice();
    this.#history.push({ role: 'user', text: transcript });
    // The TTS reply opens with its first sentence: a turn that says nothing leaves nothing to clear.
    let responseId: string | undefined;
    const splitter = new SentenceSplitter();
    const spoken: string[] = [];
    let endCall: string | undefined;
    const say = async (sentence: string): Promise<void> => {
      // The first sentence is flushed at once: first audio comes after it, not after the whole answer.
      responseId ??= this.#tts.begin();
      await this.#tts.say(responseId, sentence, { flush: spoken.length === 0, signal });
      spoken.push(sentence);
      this.#queue.push({ type: 'transcript', role: 'assistant', text: sentence, final: false });
    };
    try {
      // Raced with the signal: a responder that ignores it must not hold up the turns after it.
      for await (const chunk of abortable(this.#responder.respond({ transcript, history, instructions: this.#instructions }, { signal }), signal)) {
        if (chunk.type === 'endCall') endCall = chunk.reason;
        else for (const sentence of splitter.push(chunk.text)) await say(sentence);
      }
      const rest = splitter.end();
      if (rest !== '') await say(rest);
    } catch (err) {
      if (!signal.aborted) this.#responderFailed(err);
    }
    // What was said (all of it, or up to a barge-in or failure) is the assistant's turn.
    const text = spoken.join(' ');
    if (text !== '') {
      this.#history.push({ role: 'assistant', text });
      this.#queue.push({ type: 'transcript', role: 'assistant', text, final: true });
    }
    if (signal.aborted) return;
    if (responseId === undefined) {
      if (endCall !== undefined) this.#queue.push({ type: 'hangup', reason: endCall });
      return;
    }
    try {
      await this.#tts.finish(responseId, signal);
    } catch (err) {
      if (!signal.aborted) throw err;
      return;
    }
    if (endCall === undefined) return;
    // Hang up after the goodbye has been spoken.
    this.#hangupAfter = { responseId, reason: endCall };
  }

  #responderFailed(err: unknown): void {
    const error = isGatewayError(err) ? err : new GatewayError('GW_ERR_PROVIDER_REMOTE', `deepgram-cascade responder: ${(err as Error).message}`, { cause: err });
    // A refused key or an empty quota will refuse every turn: the session is unusable, fail over (and the guard opens the breaker).
    const fatal = error.code === 'GW_ERR_PROVIDER_AUTH' || error.code === 'GW_ERR_PROVIDER_QUOTA';
    this.#log.warn({ event: 'deepgram_responder_failed', code: error.code, fatal }, error.message);
    this.#queue.push({ type: 'error', error, fatal });
  }

  #sinkFor(socket: 'listen' | 'speak'): ChannelSink {
    return {
      emit: (event) => {
        if (this.#ended) return;
        this.#queue.push(event);
        const h = this.#hangupAfter;
        if (h && event.type === 'responseDone' && event.responseId === h.responseId) {
          this.#hangupAfter = undefined;
          this.#queue.push({ type: 'hangup', reason: h.reason });
        }
      },
      protocolError: (detail) => {
        if (this.#ended) return;
        this.#log.warn({ event: 'deepgram_protocol_error', socket, detail }, `deepgram ${socket} sent something unusable`);
        this.#queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_PROTOCOL', `deepgram ${socket}: ${detail}`), fatal: false });
      },
      turnEnded: () => {
        if (socket === 'listen' && !this.#ended) this.#deepgramTurnEnded();
      },
      remoteError: (detail) => {
        if (this.#ended) return;
        this.#log.warn({ event: 'deepgram_remote_error', socket, detail }, `deepgram ${socket} reported an error`);
        this.#queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_REMOTE', `deepgram ${socket}: ${detail}`), fatal: false });
      },
    };
  }

  /** A socket closed or failed on its own: the session is over; say so once and let the call fail over. */
  #fail(socket: 'listen' | 'speak', code: number, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#life.abort();
    const detail = `deepgram ${socket} socket closed (${String(code)}${reason ? ` ${reason}` : ''})`;
    this.#log.warn({ event: 'deepgram_socket_closed', socket, code, reason }, detail);
    this.#queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_CLOSED', detail), fatal: true });
    this.#queue.push({ type: 'closed', reason: detail });
    this.#queue.end();
    this.#closing = Promise.all([this.#stt.abandon(), this.#tts.abandon()]).then(() => undefined);
  }
}
