/**
 * One Deepgram Voice Agent session over the SDK's agent v1 socket: `Settings` first (the docs: "send
 * a Settings message immediately after opening the websocket and before sending any audio"), then
 * caller audio in as binary frames and the agent's speech out as binary frames. A reply starts with
 * its first audio and ends at `AgentAudioDone`, or at `UserStartedSpeaking`, when the agent stops
 * it. (`AgentStartedSpeaking` would mark the start, but Deepgram sends it only to sessions with
 * `experimental` settings, which we never ask for: the SDK's AgentEvents enum, and the server-events
 * list at https://developers.deepgram.com/docs/voice-agent-outputs does not name it.)
 *
 * Turn-taking: Deepgram's agent decides when the caller's turn ends (it owns the LLM call, so it must).
 * With a Flux listen model (the default) our VAD also ends turns: `endTurn` sends `ForceEndTurn`, and
 * whichever of Flux's end-of-turn and ours comes first ends the turn (Deepgram's "semi-manual" mode,
 * https://developers.deepgram.com/docs/flux/force-end-turn). With a Nova model `ForceEndTurn` is not
 * supported (FORCE_END_TURN_UNSUPPORTED), so endTurn sends nothing and the agent's own detection rules.
 * Barge-in: the agent stops speaking by itself on `UserStartedSpeaking` ("the client ... should stop
 * playback immediately and discard all of its buffered agent audio",
 * https://developers.deepgram.com/docs/voice-agent-user-started-speaking); we pass that on as
 * `speechStarted` and end the reply there, so the next audio opens the next reply. When our own VAD
 * interrupts first, the reply's audio still on the wire is dropped until the agent stops it too.
 */
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import { pcm16FromBytes, pcm16ToBytes, type AudioFormat, type AudioFrame, type EncodedFrame } from '../../pipeline/frame.js';
import { AsyncQueue } from '../../util/async-queue.js';
import type { ProviderEvent, ProviderSession, TurnInfo } from '../types.js';
import { codeOfAgentError, KNOWN_AGENT_MESSAGES, str } from './agent-events.js';
import { audioFormatOfAgent, type AgentAudio, type AgentSettings } from './agent-settings.js';
import { END_CALL_NAME, endCallReason } from './end-call.js';
import type { DeepgramClient } from '@deepgram/sdk';
import type { Inbound, SocketLink } from './socket.js';

export type AgentSocket = Awaited<ReturnType<DeepgramClient['agent']['v1']['connect']>>;

export interface AgentSessionDeps {
  readonly socket: AgentSocket;
  readonly link: SocketLink;
  readonly input: AudioFormat;
  readonly output: AgentAudio;
  readonly settings: AgentSettings;
  /** The listen model is Flux: endTurn sends ForceEndTurn. */
  readonly forceEndTurn: boolean;
  readonly endCallTool: boolean;
  readonly keepAliveMs: number;
  readonly closeWaitMs: number;
  readonly log: Logger;
}

type Wire = Record<string, unknown>;

interface Reply {
  readonly id: string;
  tMs: number;
  /** Interrupted: its remaining audio is dropped. */
  cancelled: boolean;
}

const EVENT_QUEUE_LIMIT = 10_000;

export class DeepgramAgentSession implements ProviderSession {
  readonly provider = 'deepgram';
  readonly inputFormat: AudioFormat;
  readonly outputFormat: AudioFormat;
  readonly #deps: AgentSessionDeps;
  readonly #log: Logger;
  readonly #queue = new AsyncQueue<ProviderEvent>({ limit: EVENT_QUEUE_LIMIT });
  #handshake: { resolve: () => void; reject: (err: GatewayError) => void } | undefined;
  readonly #opened: Promise<void>;
  #reply: Reply | undefined;
  /** end_call asked while a reply still plays: passed on at that reply's AgentAudioDone. */
  #hangupAfterReply: string | undefined;
  #seq = 0;
  #keepAlive: NodeJS.Timeout | undefined;
  #audioSinceTick = false;
  #idleTicks = 0;
  #ended = false;
  #closing: Promise<void> | undefined;

  constructor(deps: AgentSessionDeps) {
    this.#deps = deps;
    this.#log = deps.log;
    this.inputFormat = deps.input;
    this.outputFormat = audioFormatOfAgent(deps.output);
    this.#opened = new Promise<void>((resolve, reject) => {
      this.#handshake = { resolve, reject };
    });
  }

  /** Send Settings and resolve once the server has applied them. Rejects with a typed error. */
  async open(signal: AbortSignal | undefined): Promise<void> {
    this.#deps.link.start({ message: (m) => this.#onMessage(m), ended: (code, reason) => this.#onEnded(code, reason) });
    this.#deps.socket.sendSettings(this.#deps.settings);
    const onAbort = () => this.#failHandshake(new GatewayError('GW_ERR_PROVIDER_CONNECT', 'deepgram agent: connect aborted'));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#opened;
    } catch (err) {
      await this.#shutdown();
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    // Ticks at half the period: a KeepAlive goes out between 1 and 1.5 periods after the last audio.
    this.#keepAlive = setInterval(() => this.#tick(), this.#deps.keepAliveMs / 2);
    this.#keepAlive.unref();
  }

  get events(): AsyncIterable<ProviderEvent> {
    return this.#queue;
  }

  pushAudio(frame: AudioFrame | EncodedFrame): void {
    if (this.#ended || this.#handshake || !this.#deps.link.isOpen) return;
    // G.711 goes out byte for byte (the Settings declare the carrier's codec); PCM16 as its bytes, no copy.
    this.#deps.socket.sendMedia('payload' in frame ? frame.payload : pcm16ToBytes(frame.samples));
    this.#audioSinceTick = true;
  }

  endTurn(_turn: TurnInfo): void {
    if (this.#ended || !this.#deps.forceEndTurn || !this.#deps.link.isOpen) return;
    // Ignored by the server when no turn is in progress (Flux already ended it): no warning, no harm.
    this.#deps.socket.sendForceEndTurn({ type: 'ForceEndTurn' });
  }

  interrupt(info: { responseId: string; heardMs: number }): void {
    const r = this.#reply;
    // Only the reply the caller heard: one the agent already stopped is over, and a newer one is not meant.
    if (this.#ended || !r || r.cancelled || r.id !== info.responseId) return;
    // Our VAD heard the caller first: what the agent sends of this reply until it stops is dropped.
    r.cancelled = true;
    this.#queue.push({ type: 'responseDone', responseId: r.id });
    this.#log.debug({ event: 'deepgram_agent_interrupted', responseId: info.responseId, heardMs: info.heardMs }, 'reply cut short');
  }

  /** A text note in the caller's turn (a DTMF key press): the agent answers it as the caller's words. */
  sendText(text: string): void {
    if (this.#ended || this.#handshake || !this.#deps.link.isOpen) return;
    this.#deps.socket.sendInjectUserMessage({ type: 'InjectUserMessage', content: text });
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown().then(() => this.#queue.end());
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#ended = true;
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
    // The agent API has no goodbye message: closing the socket ends the session.
    await this.#deps.link.close(undefined, this.#deps.closeWaitMs);
  }

  #tick(): void {
    if (this.#audioSinceTick) {
      this.#audioSinceTick = false;
      this.#idleTicks = 0;
      return;
    }
    if (++this.#idleTicks < 2 || !this.#deps.link.isOpen) return;
    this.#idleTicks = 0;
    // "While idle, send one KeepAlive every 8 seconds" (https://developers.deepgram.com/docs/agent-keep-alive).
    this.#deps.socket.sendKeepAlive({ type: 'KeepAlive' });
  }

  #failHandshake(err: GatewayError): void {
    const h = this.#handshake;
    if (!h) return;
    this.#handshake = undefined;
    h.reject(err);
  }

  #onEnded(code: number, reason: string): void {
    const detail = `deepgram agent socket closed (${String(code)}${reason ? ` ${reason}` : ''})`;
    if (this.#handshake) {
      this.#failHandshake(new GatewayError('GW_ERR_PROVIDER_CONNECT', `${detail} before the settings were applied`));
      return;
    }
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#keepAlive);
    this.#log.warn({ event: 'deepgram_socket_closed', socket: 'agent', code, reason }, detail);
    this.#queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_CLOSED', detail), fatal: true });
    this.#queue.push({ type: 'closed', reason: detail });
    this.#queue.end();
    this.#closing = this.#deps.link.close(undefined, this.#deps.closeWaitMs);
  }

  #protocolError(detail: string): void {
    if (this.#ended) return;
    this.#log.warn({ event: 'deepgram_protocol_error', socket: 'agent', detail }, 'deepgram agent sent something unusable');
    this.#queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_PROTOCOL', `deepgram agent: ${detail}`), fatal: false });
  }

  #onMessage(m: Inbound): void {
    if (m.kind === 'binary') return this.#onAudio(m.bytes);
    if (m.kind === 'text') return this.#protocolError(`unparseable text frame (${String(m.raw.length)} chars)`);
    const msg = m.value;
    const type = typeof msg === 'object' && msg !== null ? str((msg as Wire).type) : undefined;
    if (type === undefined) return this.#protocolError('a message without a type');
    const ev = msg as Wire;
    if (this.#handshake) return this.#onHandshakeMessage(type, ev);
    switch (type) {
      case 'ConversationText':
        return this.#onConversationText(ev);
      case 'AgentThinking':
        // The agent has the caller's turn and its LLM is at work: the call waits the reply deadline.
        this.#queue.push({ type: 'ack' });
        return;
      case 'UserStartedSpeaking':
        this.#queue.push({ type: 'speechStarted' });
        this.#endReplyHere();
        return;
      case 'AgentStartedSpeaking':
        // Only with `experimental` settings (see the header): a new reply begins here.
        this.#endReplyHere();
        this.#startReply();
        return;
      case 'AgentAudioDone':
        return this.#onAudioDone();
      case 'FunctionCallRequest':
        return this.#onFunctionCall(ev);
      case 'FunctionCallCancelled':
        // The caller kept talking: a deferred end_call is void (docs: "the call is void").
        this.#hangupAfterReply = undefined;
        return;
      case 'Error':
        return this.#onError(ev);
      case 'Warning':
        this.#log.warn({ event: 'deepgram_agent_warning', code: str(ev.code), description: str(ev.description) }, 'deepgram agent warning');
        return;
      case 'InjectionRefused':
        this.#log.warn({ event: 'deepgram_agent_injection_refused', message: str(ev.message) }, 'deepgram agent refused a text message');
        return;
      default:
        if (!KNOWN_AGENT_MESSAGES.has(type)) this.#protocolError(`unknown message type '${type.slice(0, 40)}'`);
    }
  }

  #onHandshakeMessage(type: string, ev: Wire): void {
    if (type === 'SettingsApplied') {
      const h = this.#handshake;
      this.#handshake = undefined;
      h?.resolve();
      return;
    }
    if (type === 'Error') {
      const code = str(ev.code) ?? 'UNKNOWN';
      const ours = codeOfAgentError(code);
      this.#failHandshake(new GatewayError(ours === 'GW_ERR_PROVIDER_REMOTE' ? 'GW_ERR_PROVIDER_CONNECT' : ours, `deepgram agent refused the settings: ${code} ${str(ev.description) ?? ''}`.trim()));
      return;
    }
    // Welcome (and anything harmless) before SettingsApplied.
    if (type === 'Welcome') this.#log.debug({ event: 'deepgram_agent_welcome', requestId: str(ev.request_id) }, 'deepgram agent connected');
  }

  #startReply(): Reply {
    const r: Reply = { id: randomUUID(), tMs: 0, cancelled: false };
    this.#reply = r;
    this.#queue.push({ type: 'responseStart', responseId: r.id });
    return r;
  }

  #onAudio(bytes: Uint8Array): void {
    if (this.#ended || bytes.length === 0) return;
    // Audio with no AgentStartedSpeaking before it (a greeting) opens a reply of its own.
    const r = this.#reply ?? this.#startReply();
    if (r.cancelled) return;
    const { encoding, sampleRate } = this.#deps.output;
    const seq = this.#seq++;
    const timestampMs = r.tMs;
    if (encoding === 'linear16') {
      if (bytes.length % 2 !== 0) return this.#protocolError(`linear16 audio frame with an odd byte count (${String(bytes.length)})`);
      const samples = pcm16FromBytes(bytes);
      r.tMs += (samples.length * 1000) / sampleRate;
      this.#queue.push({ type: 'audio', responseId: r.id, frame: { samples, sampleRate, seq, timestampMs } });
      return;
    }
    r.tMs += (bytes.length * 1000) / sampleRate;
    this.#queue.push({ type: 'audio', responseId: r.id, frame: { codec: encoding, payload: bytes, sampleRate, seq, timestampMs, sampleCount: bytes.length } });
  }

  /** The agent stopped the reply in progress: it is done, and the next audio opens another. */
  #endReplyHere(): void {
    const r = this.#reply;
    this.#reply = undefined;
    if (r && !r.cancelled) this.#queue.push({ type: 'responseDone', responseId: r.id });
  }

  #onAudioDone(): void {
    const r = this.#reply;
    this.#reply = undefined;
    if (r && !r.cancelled) this.#queue.push({ type: 'responseDone', responseId: r.id });
    const hangup = this.#hangupAfterReply;
    this.#hangupAfterReply = undefined;
    if (hangup !== undefined) this.#queue.push({ type: 'hangup', reason: hangup });
  }

  #onConversationText(ev: Wire): void {
    const role = str(ev.role);
    const content = str(ev.content);
    if ((role !== 'user' && role !== 'assistant') || content === undefined) {
      this.#protocolError(`ConversationText with role ${String(role)} and ${content === undefined ? 'no' : 'some'} content`);
      return;
    }
    // The caller's words are the agent's end of turn: it is answering them (sign of life before its
    // LLM and TTS latency, so a slow reply is waited for, not failed over).
    if (role === 'user') this.#queue.push({ type: 'ack' });
    // Each ConversationText is one finished statement: final, and the call's history grows from it.
    this.#queue.push({ type: 'transcript', role, text: content, final: true });
  }

  #onFunctionCall(ev: Wire): void {
    const functions = Array.isArray(ev.functions) ? (ev.functions as unknown[]) : undefined;
    if (!functions) return this.#protocolError('FunctionCallRequest without functions');
    for (const raw of functions) {
      const f = (typeof raw === 'object' && raw !== null ? raw : {}) as Wire;
      const id = str(f.id);
      const name = str(f.name);
      // client_side false: Deepgram runs it and answers itself.
      if (f.client_side !== true) continue;
      if (id === undefined || name === undefined) {
        this.#protocolError('FunctionCallRequest item without id or name');
        continue;
      }
      if (!this.#deps.endCallTool || name !== END_CALL_NAME) {
        this.#protocolError(`deepgram agent called a function we did not declare: ${name.slice(0, 60)}`);
        // Answer anyway: the agent waits for a response to every client-side call.
        this.#deps.socket.sendFunctionCallResponse({ type: 'FunctionCallResponse', id, name, content: JSON.stringify({ error: 'unknown function' }) });
        continue;
      }
      const reason = endCallReason(f.arguments);
      this.#log.info({ event: 'deepgram_end_call', reason }, 'the agent ended the call');
      this.#deps.socket.sendFunctionCallResponse({ type: 'FunctionCallResponse', id, name, content: JSON.stringify({ ok: true }) });
      // The call hangs up once what it was sent has played: after the goodbye that may still be coming.
      if (this.#reply && !this.#reply.cancelled) this.#hangupAfterReply = reason;
      else this.#queue.push({ type: 'hangup', reason });
    }
  }

  #onError(ev: Wire): void {
    if (this.#ended) return;
    const code = str(ev.code) ?? 'UNKNOWN';
    const description = str(ev.description) ?? '';
    const error = new GatewayError(codeOfAgentError(code), `deepgram agent: ${code}${description ? ` ${description}` : ''}`);
    this.#log.warn({ event: 'deepgram_remote_error', socket: 'agent', code, description }, 'deepgram agent reported an error');
    // Every agent Error ends the session (docs); the call fails over.
    this.#queue.push({ type: 'error', error, fatal: true });
  }
}

