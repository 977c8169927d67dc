/**
 * One OpenAI Realtime session: the handshake (session.created -> session.update -> session.updated,
 * then the history), caller audio in, model audio and transcripts out, barge-in, and every way the
 * socket can go wrong turned into a typed event. Bad server output is reported, never thrown.
 */
import type { OpenAIRealtimeWS } from 'openai/realtime/ws';
import type { RealtimeAudioFormats, RealtimeClientEvent } from 'openai/resources/realtime/realtime';
import { GatewayError, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import { pcm16FromBytes, pcm16ToBytes, type AudioFormat, type AudioFrame, type EncodedFrame } from '../../pipeline/frame.js';
import { AsyncQueue } from '../../util/async-queue.js';
import type { ConversationTurn, ProviderEvent, ProviderSession, TurnInfo } from '../types.js';
import {
  BENIGN_CODES,
  KNOWN_SERVER_EVENTS,
  codeOfClose,
  codeOfHandshakeFailure,
  codeOfRemote,
  isRequestRejection,
  decodeAudioDelta,
  isFatalRemote,
  redact,
  type RemoteError,
} from './events.js';
import { ResponseBook } from './responses.js';
import { TranscriptLog } from './transcripts.js';
import { END_CALL_TOOL_NAME, historyItem, sameWireFormat, sessionUpdate, wireFormatOf, type TurnDetectionMode } from './session-config.js';

export interface SessionSettings {
  readonly apiKey: string;
  readonly input: AudioFormat;
  readonly output: AudioFormat;
  readonly instructions: string;
  readonly voice: string;
  readonly turnDetection: TurnDetectionMode;
  readonly endCallTool?: boolean;
  readonly history: readonly ConversationTurn[];
  readonly logger: Logger;
}

/** The server rejects a commit of less audio than this (input_audio_buffer_commit_empty). */
const MIN_COMMIT_MS = 100;
const EVENT_QUEUE_LIMIT = 10_000;
const CLOSE_GRACE_MS = 1000;
/** `{"type":"input_audio_buffer.append","audio":"<base64>"}` in two halves (see #sendAppend). */
const APPEND_HEAD = `{"type":"input_audio_buffer.append","audio":"`;
const APPEND_TAIL = '"}';
const base64Of = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

type Wire = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export class OpenAIRealtimeSession implements ProviderSession {
  readonly provider = 'openai';
  readonly inputFormat: AudioFormat;
  readonly outputFormat: AudioFormat;
  readonly #rt: OpenAIRealtimeWS;
  readonly #settings: SessionSettings;
  readonly #log: Logger;
  readonly #queue = new AsyncQueue<ProviderEvent>({ limit: EVENT_QUEUE_LIMIT });
  readonly #outputWire: RealtimeAudioFormats;
  readonly #outputBytesPerSample: 1 | 2;
  readonly #responses = new ResponseBook();
  /** end_call requests waiting for the rest of their response. */
  readonly #hangupAfter = new Map<string, Extract<ProviderEvent, { type: 'hangup' }>>();
  readonly #transcripts = new TranscriptLog();
  #handshake: { resolve: () => void; reject: (err: GatewayError) => void; updateSent: boolean } | undefined;
  readonly #opened: Promise<void>;
  #seq = 0;
  /**
   * The response lifecycle as the server sees it: one response at a time, from response.create (or the
   * server's own, in server-VAD modes) to its response.done. `#active`: created, not done;
   * `#requested`: our response.create sent, response.created not yet seen; `#wantCreate`: a turn
   * waits for its response.create until the active one's response.done; `#cancelOnCreated`: the
   * requested response was superseded before the server named it, cancel it as soon as it does.
   */
  #active: string | undefined;
  #requested = false;
  #wantCreate = false;
  #cancelOnCreated = false;
  #appendedMs = 0;
  #warnedFormat = false;
  #closing = false;
  #closed: Promise<void> | undefined;
  #lastSocketError: string | undefined;

  constructor(rt: OpenAIRealtimeWS, settings: SessionSettings) {
    this.#rt = rt;
    this.#settings = settings;
    this.#log = settings.logger;
    this.inputFormat = settings.input;
    this.outputFormat = settings.output;
    this.#outputWire = wireFormatOf(settings.output);
    this.#outputBytesPerSample = settings.output.codec === 'pcm16' ? 2 : 1;
    settings.history.forEach((turn, i) => this.#transcripts.record(`history:${String(i)}`, turn));
    this.#opened = new Promise<void>((resolve, reject) => {
      this.#handshake = { resolve, reject, updateSent: false };
    });
    // Without an `error` listener the SDK turns every error into an unhandled rejection.
    rt.on('error', (err) => this.#onSdkError(err));
    rt.on('event', (ev) => this.#onEvent(ev as unknown));
    rt.socket.on('close', (code: number, reason: Buffer) => this.#onClose(code, reason.toString()));
  }

  /** Resolves once the server has confirmed our session configuration and the history is sent. */
  async opened(signal?: AbortSignal): Promise<void> {
    if (!signal) return this.#opened;
    const onAbort = () => this.#failHandshake(new GatewayError('GW_ERR_PROVIDER_CONNECT', 'openai connect aborted'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#opened;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  #appendedHistory = 0;

  get events(): AsyncIterable<ProviderEvent> {
    return this.#queue;
  }

  /** Both sides' final transcripts so far, in conversation order, starting with the history given. */
  get transcripts(): readonly ConversationTurn[] {
    return this.#transcripts.turns;
  }

  pushAudio(frame: AudioFrame | EncodedFrame): void {
    if (this.#closing || this.#handshake) return;
    const input = this.inputFormat;
    let audio: string;
    let samples: number;
    if ('payload' in frame) {
      if (frame.codec !== input.codec || frame.sampleRate !== input.sampleRate) return this.#wrongInput(frame.codec, frame.sampleRate);
      // G.711 passthrough: the carrier's own base64 goes on as it came.
      audio = frame.base64 ?? base64Of(frame.payload);
      samples = frame.sampleCount;
    } else {
      if (input.codec !== 'pcm16' || frame.sampleRate !== input.sampleRate) return this.#wrongInput('pcm16', frame.sampleRate);
      audio = base64Of(pcm16ToBytes(frame.samples));
      samples = frame.samples.length;
    }
    if (this.#sendAppend(audio)) this.#appendedMs += (samples * 1000) / input.sampleRate;
  }

  /**
   * `input_audio_buffer.append`, 50 times a second per call: the JSON is written out rather than
   * built by JSON.stringify. Base64 text never needs escaping, so this is the same JSON.
   */
  #sendAppend(audio: string): boolean {
    const socket = this.#rt.socket;
    if (socket.readyState !== socket.OPEN) return false;
    socket.send(APPEND_HEAD + audio + APPEND_TAIL);
    return true;
  }

  /** A warm standby taking over a call: the conversation so far as conversation items. */
  appendHistory(turns: readonly ConversationTurn[]): void {
    if (this.#closing) return;
    turns.forEach((turn, i) => {
      this.#transcripts.record(`appended:${String(this.#appendedHistory++)}:${String(i)}`, turn);
      this.#send(historyItem(turn));
    });
  }

  /** A text note in the caller's turn (a DTMF key press): a user message item the model will see. */
  sendText(text: string): void {
    if (this.#closing || this.#handshake) return;
    this.#send(historyItem({ role: 'user', text }));
  }

  endTurn(_turn: TurnInfo): void {
    // In server-VAD modes the server ends turns and answers by itself.
    if (this.#closing || this.#handshake || this.#settings.turnDetection !== 'none') return;
    if (this.#appendedMs < MIN_COMMIT_MS) {
      this.#log.debug({ event: 'openai_turn_skipped', appendedMs: this.#appendedMs }, 'turn ended with too little audio to commit');
      // Nothing to answer: not a silence the call should fail over for.
      this.#queue.push({ type: 'ack', empty: true });
      return;
    }
    this.#send({ type: 'input_audio_buffer.commit' });
    this.#appendedMs = 0;
    // A reply still being generated for an earlier turn is superseded by this one (the caller has moved
    // on). The server allows one active response until its response.done (a response.create before it
    // is rejected with conversation_already_has_active_response): cancel, and create at that done.
    for (const id of this.#responses.supersede()) this.#send({ type: 'response.cancel', response_id: id });
    if (this.#requested) this.#cancelOnCreated = true;
    this.#requestResponse();
  }

  /** Ask for a response now if none is active or requested; otherwise at the active one's response.done. */
  #requestResponse(): void {
    if (this.#active !== undefined || this.#requested) {
      this.#wantCreate = true;
      return;
    }
    this.#wantCreate = false;
    if (this.#send({ type: 'response.create' })) this.#requested = true;
  }

  interrupt(info: { responseId: string; heardMs: number }): void {
    if (this.#closing) return;
    const plan = this.#responses.interrupt(info.responseId, info.heardMs);
    if (!plan) return;
    // A finished response cannot be cancelled (the server answers response_cancel_not_active).
    if (plan.cancel) this.#send({ type: 'response.cancel', response_id: info.responseId });
    // Truncate only audio we actually received: truncating an item whose audio has not arrived yet is
    // rejected by the server (and races its creation), so with no audio yet a cancel is all there is.
    for (const t of plan.truncate) {
      this.#send({ type: 'conversation.item.truncate', item_id: t.itemId, content_index: 0, audio_end_ms: t.audioEndMs });
    }
    this.#log.debug({ event: 'openai_interrupt', responseId: info.responseId, heardMs: info.heardMs, truncated: plan.truncate.length }, 'response interrupted');
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    this.#failHandshake(new GatewayError('GW_ERR_PROVIDER_CLOSED', 'openai session closed during connect'));
    const socket = this.#rt.socket;
    if (socket.readyState !== socket.CLOSED) {
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      if (socket.readyState === socket.CONNECTING) socket.terminate();
      else this.#rt.close({ code: 1000, reason: 'session closed' });
      const timer = setTimeout(() => socket.terminate(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(timer);
    }
    this.#queue.end();
  }

  #send(event: RealtimeClientEvent): boolean {
    const socket = this.#rt.socket;
    if (socket.readyState !== socket.OPEN) return false;
    this.#rt.send(event);
    return true;
  }

  #wrongInput(codec: string, sampleRate: number): void {
    if (this.#warnedFormat) return;
    this.#warnedFormat = true;
    this.#log.warn({ event: 'openai_wrong_input_format', codec, sampleRate, expected: this.inputFormat }, 'audio in a format this session was not set up for is dropped');
  }

  #failHandshake(err: GatewayError): void {
    const hs = this.#handshake;
    if (!hs) return;
    this.#handshake = undefined;
    this.#closing = true;
    const socket = this.#rt.socket;
    if (socket.readyState !== socket.CLOSED) socket.terminate();
    this.#queue.end();
    hs.reject(err);
  }

  #protocolError(detail: string, fields: Record<string, unknown> = {}): void {
    const error = new GatewayError('GW_ERR_PROVIDER_PROTOCOL', redact(detail, this.#settings.apiKey));
    this.#log.warn({ event: 'openai_protocol_error', ...fields }, error.message);
    this.#queue.push({ type: 'error', error, fatal: false });
  }

  #onSdkError(err: Error & { error?: unknown; cause?: unknown }): void {
    if (err.error !== undefined) return; // a server `error` event: handled with the other events
    if (err.cause instanceof SyntaxError) {
      this.#protocolError('openai sent a frame that is not JSON');
      return;
    }
    if (this.#closing) return;
    const message = redact(err.message, this.#settings.apiKey);
    if (this.#handshake) {
      this.#failHandshake(new GatewayError(codeOfHandshakeFailure(message).code, `openai: ${message}`, { cause: err.cause }));
      return;
    }
    this.#lastSocketError = message;
    this.#log.warn({ event: 'openai_socket_error', detail: message }, 'openai socket error');
  }

  #onClose(code: number, reason: string): void {
    const why = redact(`${String(code)}${reason ? ` ${reason}` : ''}${this.#lastSocketError ? ` (${this.#lastSocketError})` : ''}`, this.#settings.apiKey);
    const byClose = codeOfClose(code, reason);
    if (this.#handshake) {
      this.#failHandshake(new GatewayError(byClose ?? 'GW_ERR_PROVIDER_CONNECT', `openai closed the connection during the handshake: ${why}`));
      return;
    }
    if (!this.#closing) {
      this.#closing = true;
      this.#log.info({ event: 'openai_closed', code, reason }, 'openai closed the session');
      if (byClose) this.#queue.push({ type: 'error', error: new GatewayError(byClose, `openai closed the socket: ${why}`), fatal: true });
      this.#queue.push({ type: 'closed', reason: `openai closed the socket: ${why}` });
    }
    this.#queue.end();
  }

  /** The only function we declare is end_call; anything else is the model inventing one. */
  #onFunctionCall(ev: Wire): void {
    const name = str(ev.name);
    if (!this.#settings.endCallTool || name !== END_CALL_TOOL_NAME) {
      this.#protocolError(`openai called a function we did not declare: ${String(name)}`);
      return;
    }
    let reason: string | undefined;
    try {
      const args: unknown = JSON.parse(str(ev.arguments) ?? '{}');
      if (typeof args === 'object' && args !== null) reason = str((args as Wire).reason);
    } catch {
      // Arguments the model garbled do not change that it wants to hang up.
    }
    this.#log.info({ event: 'openai_end_call', reason }, 'the model ended the call');
    const hangup = { type: 'hangup' as const, reason: reason?.slice(0, 200) ?? 'provider_goodbye' };
    // The call hangs up once what it has been sent has played: so pass this on only after the rest of its
    // response (the goodbye's audio may still be coming), at that response's response.done.
    const responseId = str(ev.response_id);
    const r = this.#responses.get(responseId);
    if (r && !r.done && responseId !== undefined) this.#hangupAfter.set(responseId, hangup);
    else this.#queue.push(hangup);
  }

  #onEvent(raw: unknown): void {
    if (typeof raw !== 'object' || raw === null || typeof (raw as Wire).type !== 'string') {
      this.#protocolError('openai sent an event without a type');
      return;
    }
    const ev = raw as Wire;
    const type = ev.type as string;
    if (this.#handshake) {
      this.#onHandshakeEvent(type, ev);
      return;
    }
    switch (type) {
      case 'response.output_audio.delta':
        this.#onAudioDelta(ev);
        break;
      case 'response.created':
        this.#onResponseCreated(ev);
        break;
      case 'response.done':
        this.#onResponseDone(ev);
        break;
      case 'input_audio_buffer.speech_started':
        this.#queue.push({ type: 'speechStarted' });
        break;
      case 'input_audio_buffer.speech_stopped':
        this.#queue.push({ type: 'speechStopped' });
        break;
      case 'input_audio_buffer.committed':
        this.#transcripts.note(str(ev.item_id));
        // The server has the caller's turn: a sign of life, the answer is being made.
        this.#queue.push({ type: 'ack' });
        break;
      case 'response.output_audio_transcript.delta':
        this.#onTranscript('assistant', ev, str(ev.delta), false);
        break;
      case 'response.output_audio_transcript.done':
        this.#onTranscript('assistant', ev, str(ev.transcript), true);
        break;
      case 'conversation.item.input_audio_transcription.delta':
        this.#onTranscript('user', ev, str(ev.delta), false);
        break;
      case 'conversation.item.input_audio_transcription.completed':
        this.#onTranscript('user', ev, str(ev.transcript), true);
        break;
      case 'conversation.item.input_audio_transcription.failed':
        this.#log.warn({ event: 'openai_transcription_failed', itemId: str(ev.item_id) }, 'openai could not transcribe the caller');
        break;
      case 'response.function_call_arguments.done':
        this.#onFunctionCall(ev);
        break;
      case 'error':
        this.#onRemoteError(ev);
        break;
      default:
        // A new event type in a newer API version: counted and logged by the guard, never a failure.
        if (!KNOWN_SERVER_EVENTS.has(type)) this.#queue.push({ type: 'unknownEvent', name: type });
    }
  }

  #onHandshakeEvent(type: string, ev: Wire): void {
    const hs = this.#handshake;
    if (!hs) return;
    if (type === 'error') {
      const remote = (typeof ev.error === 'object' && ev.error !== null ? ev.error : {}) as RemoteError;
      this.#failHandshake(new GatewayError(codeOfRemote(remote), `openai: ${redact(remote.message ?? 'error during session setup', this.#settings.apiKey)}`));
    } else if (type === 'session.created' && !hs.updateSent) {
      hs.updateSent = true;
      this.#send(sessionUpdate(this.#settings));
    } else if (type === 'session.updated' && hs.updateSent) {
      const session = (ev.session ?? {}) as { audio?: { output?: { format?: unknown } } };
      const got = session.audio?.output?.format;
      if (got !== undefined && !sameWireFormat(this.#outputWire, got)) {
        this.#failHandshake(new GatewayError('GW_ERR_PROVIDER_PROTOCOL', `openai set output audio to ${JSON.stringify(got)}, not ${JSON.stringify(this.#outputWire)}`));
        return;
      }
      for (const turn of this.#settings.history) this.#send(historyItem(turn));
      this.#handshake = undefined;
      this.#log.debug({ event: 'openai_session_ready', input: this.inputFormat, output: this.outputFormat, turnDetection: this.#settings.turnDetection, historyTurns: this.#settings.history.length }, 'openai session configured');
      hs.resolve();
    }
  }

  #onResponseCreated(ev: Wire): void {
    const id = str((ev.response as Wire | undefined)?.id);
    if (!id) return this.#protocolError('openai sent response.created without a response id');
    this.#responses.created(id);
    this.#active = id;
    this.#requested = false;
    this.#queue.push({ type: 'ack' });
    if (this.#cancelOnCreated) {
      // Superseded before the server named it: cancel now, the waiting turn is created at its done.
      this.#cancelOnCreated = false;
      for (const superseded of this.#responses.supersede()) this.#send({ type: 'response.cancel', response_id: superseded });
    }
  }

  #onAudioDelta(ev: Wire): void {
    const responseId = str(ev.response_id);
    const itemId = str(ev.item_id);
    const r = this.#responses.get(responseId);
    if (!r || responseId === undefined || itemId === undefined) {
      this.#protocolError(`openai sent audio for an unknown response '${String(responseId)}'`, { responseId });
      return;
    }
    if (r.cancelled) return; // already in flight when we cancelled: never played
    let bytes: Uint8Array;
    try {
      bytes = decodeAudioDelta(ev.delta, this.#outputBytesPerSample);
    } catch (err) {
      this.#protocolError((err as Error).message, { responseId });
      return;
    }
    if (bytes.length === 0) return;
    if (!r.started) {
      r.started = true;
      this.#queue.push({ type: 'responseStart', responseId });
    }
    const out = this.outputFormat;
    const samples = bytes.length / this.#outputBytesPerSample;
    const ms = (samples * 1000) / out.sampleRate;
    if (this.#responses.addAudio(r, itemId, ms)) this.#transcripts.note(itemId);
    const frame: AudioFrame | EncodedFrame =
      out.codec === 'pcm16'
        ? { samples: pcm16FromBytes(bytes), sampleRate: out.sampleRate, seq: this.#seq++, timestampMs: r.mediaMs }
        : { codec: out.codec as EncodedFrame['codec'], payload: bytes, sampleRate: out.sampleRate, seq: this.#seq++, timestampMs: r.mediaMs, sampleCount: samples };
    r.mediaMs += ms;
    this.#queue.push({ type: 'audio', responseId, frame });
  }

  #onResponseDone(ev: Wire): void {
    const response = (ev.response ?? {}) as { id?: unknown; status?: unknown; status_details?: { error?: RemoteError } | null };
    const id = str(response.id);
    const r = this.#responses.get(id);
    if (!r || id === undefined) {
      this.#protocolError(`openai sent response.done for an unknown response '${String(id)}'`);
      return;
    }
    r.done = true;
    if (this.#active === id) this.#active = undefined;
    if (this.#wantCreate) this.#requestResponse();
    const hangup = this.#hangupAfter.get(id);
    this.#hangupAfter.delete(id);
    if (response.status === 'failed') {
      const remote = response.status_details?.error ?? {};
      this.#pushRemote(remote, codeOfRemote(remote), 'openai response failed');
    }
    this.#queue.push({ type: 'responseDone', responseId: id });
    if (hangup) this.#queue.push(hangup);
  }

  #onTranscript(role: 'user' | 'assistant', ev: Wire, text: string | undefined, final: boolean): void {
    if (text === undefined) return this.#protocolError(`openai sent a ${role} transcript without text`);
    const responseId = str(ev.response_id);
    // Partial text of a reply we cancelled is never spoken; its final transcript is still kept.
    if (!final && role === 'assistant' && this.#responses.get(responseId)?.cancelled) return;
    if (final) this.#transcripts.record(str(ev.item_id), { role, text });
    this.#queue.push({ type: 'transcript', role, text, final });
  }

  #onRemoteError(ev: Wire): void {
    const remote = (typeof ev.error === 'object' && ev.error !== null ? ev.error : {}) as RemoteError;
    if (remote.code && BENIGN_CODES.has(remote.code)) {
      this.#log.debug({ event: 'openai_benign_error', remoteCode: remote.code }, redact(remote.message ?? '', this.#settings.apiKey));
      return;
    }
    if (isRequestRejection(remote)) {
      if (remote.code === 'conversation_already_has_active_response' && this.#requested) {
        // Our create crossed a response the server started itself: ask again at that one's done.
        this.#requested = false;
        this.#wantCreate = true;
      }
      // The server refused a request of ours: our bug, reported as such, never a reason to fail over.
      const error = new GatewayError('GW_ERR_PROVIDER_REMOTE', `openai rejected our request: ${redact(remote.message ?? String(remote.code), this.#settings.apiKey)}`);
      this.#log.error({ event: 'openai_request_rejected', remoteCode: remote.code }, error.message);
      this.#queue.push({ type: 'error', error, fatal: false, origin: 'request' });
      return;
    }
    this.#pushRemote(remote, codeOfRemote(remote), 'openai reported an error');
  }

  #pushRemote(remote: RemoteError, code: ErrorCode, fallback: string): void {
    const fatal = isFatalRemote(remote);
    const error = new GatewayError(code, redact(remote.message ?? fallback, this.#settings.apiKey));
    this.#log.warn({ event: 'openai_remote_error', code, remoteCode: remote.code, remoteType: remote.type, fatal }, error.message);
    this.#queue.push({ type: 'error', error, fatal });
  }
}
