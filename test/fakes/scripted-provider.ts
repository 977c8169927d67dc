/**
 * An in-process provider for failover tests: it records every frame's sequence number, every turn end
 * and the history it was given, answers turns on a script, and misbehaves on cue (close, hang, error,
 * reject the key, answer slowly) — mid-utterance or mid-reply.
 */
import { GatewayError } from '../../src/errors.js';
import type { AudioFormat, AudioFrame, EncodedFrame } from '../../src/pipeline/frame.js';
import type { ConversationTurn, Provider, ProviderConnectOptions, ProviderEvent, ProviderSession, TurnInfo } from '../../src/providers/types.js';
import { AsyncQueue } from '../../src/util/async-queue.js';

export type Fault = 'close' | 'hang' | 'error' | 'auth' | 'slow' | 'quota' | 'unknown' | 'ackSlow' | 'empty' | 'rejectRequest';

export interface ScriptedOptions {
  inputFormats?: AudioFormat[];
  /** Reply this long after a turn ends. */
  replyDelayMs?: number;
  /** Reply audio length. */
  replyMs?: number;
  /** After answering this turn (1-based), ask to end the call, as a model calling an end-call tool does. */
  hangUpAfterTurn?: number;
  /** With 'ackSlow': acknowledge the turn at once, answer this long after the turn end. */
  ackReplyDelayMs?: number;
  /** Make connect fail with this error code. */
  failConnect?: 'GW_ERR_PROVIDER_CONNECT' | 'GW_ERR_PROVIDER_AUTH' | 'hang';
  connectDelayMs?: number;
}

export interface SessionLog {
  history: ConversationTurn[];
  seqs: number[];
  turns: TurnInfo[];
  interrupts: { responseId: string; heardMs: number }[];
  texts: string[];
  closed: boolean;
}

export class ScriptedProvider implements Provider {
  readonly name: string;
  readonly inputFormats: readonly AudioFormat[];
  readonly sessions: SessionLog[] = [];
  readonly opts: ScriptedOptions;
  connectAttempts = 0;
  #live: ScriptedSession[] = [];

  constructor(name: string, opts: ScriptedOptions = {}) {
    this.name = name;
    this.opts = opts;
    this.inputFormats = opts.inputFormats ?? [{ codec: 'pcm16', sampleRate: 16000 }];
  }

  async connect(options: ProviderConnectOptions): Promise<ProviderSession> {
    this.connectAttempts++;
    if (this.opts.connectDelayMs) await new Promise((r) => setTimeout(r, this.opts.connectDelayMs));
    if (this.opts.failConnect === 'hang') {
      await new Promise<void>((_r, reject) => options.signal?.addEventListener('abort', () => reject(new GatewayError('GW_ERR_PROVIDER_TIMEOUT', 'hung'))));
    }
    if (this.opts.failConnect) throw new GatewayError(this.opts.failConnect as 'GW_ERR_PROVIDER_CONNECT', `${this.name} refused`);
    const log: SessionLog = { history: [...options.history], seqs: [], turns: [], interrupts: [], texts: [], closed: false };
    this.sessions.push(log);
    const s = new ScriptedSession(this, log, options.inputFormat);
    this.#live.push(s);
    return s;
  }

  /** The newest session misbehaves from now on. */
  fault(kind: Fault): void {
    this.#live.at(-1)?.fault(kind);
  }

  /** Session `index` (in connect order) misbehaves from now on. */
  faultSession(index: number, kind: Fault): void {
    this.#live[index]?.fault(kind);
  }

  get current(): SessionLog | undefined {
    return this.sessions.at(-1);
  }
}

class ScriptedSession implements ProviderSession {
  readonly provider: string;
  readonly inputFormat: AudioFormat;
  readonly outputFormat: AudioFormat = { codec: 'pcm16', sampleRate: 16000 };
  readonly #queue = new AsyncQueue<ProviderEvent>();
  readonly #owner: ScriptedProvider;
  readonly #log: SessionLog;
  #fault: Fault | undefined;
  #timers = new Set<NodeJS.Timeout>();
  #turnNo = 0;

  constructor(owner: ScriptedProvider, log: SessionLog, inputFormat: AudioFormat) {
    this.#owner = owner;
    this.#log = log;
    this.provider = owner.name;
    this.inputFormat = inputFormat;
  }

  get events(): AsyncIterable<ProviderEvent> {
    return this.#queue;
  }

  fault(kind: Fault): void {
    this.#fault = kind;
    if (kind === 'close') {
      this.#queue.push({ type: 'closed', reason: 'socket closed by provider' });
      this.#queue.end();
    } else if (kind === 'error') {
      this.#queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_REMOTE', 'server_error'), fatal: true });
    } else if (kind === 'auth') {
      this.#queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_AUTH', 'invalid_api_key'), fatal: true });
    } else if (kind === 'quota') {
      // A 429 on this one session (OpenAI sends rate_limit_exceeded as an error event, then closes).
      this.#queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_QUOTA', 'rate_limit_exceeded'), fatal: true });
    } else if (kind === 'unknown') {
      this.#queue.push({ type: 'unknownEvent', name: 'response.teleported' });
    }
  }

  pushAudio(frame: AudioFrame | EncodedFrame): void {
    if (this.#fault === 'close' || this.#log.closed) throw new GatewayError('GW_ERR_PROVIDER_CLOSED', this.provider);
    this.#log.seqs.push(frame.seq);
  }

  appendHistory(turns: readonly ConversationTurn[]): void {
    this.#log.history.push(...turns);
  }

  sendText(text: string): void {
    this.#log.texts.push(text);
  }

  endTurn(turn: TurnInfo): void {
    this.#log.turns.push(turn);
    if (this.#fault === 'hang' || this.#fault === 'close' || this.#fault === 'quota') return;
    if (this.#fault === 'empty') {
      this.#queue.push({ type: 'ack', empty: true });
      return;
    }
    const n = ++this.#turnNo;
    if (this.#fault === 'ackSlow') this.#queue.push({ type: 'ack' });
    // The provider refuses one of our requests (our protocol misuse), then answers anyway.
    if (this.#fault === 'rejectRequest') this.#queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_REMOTE', 'conversation_already_has_active_response'), fatal: false, origin: 'request' });
    const delay = this.#fault === 'slow' ? 2000 : this.#fault === 'ackSlow' ? (this.#owner.opts.ackReplyDelayMs ?? 2000) : (this.#owner.opts.replyDelayMs ?? 20);
    const t = setTimeout(() => {
      this.#timers.delete(t);
      this.#reply(n, turn);
    }, delay);
    this.#timers.add(t);
  }

  #reply(n: number, turn: TurnInfo): void {
    if (this.#log.closed) return;
    const responseId = `${this.provider}-r${String(n)}`;
    this.#queue.push({ type: 'transcript', role: 'user', text: `turn ${String(turn.startMs)}`, final: true });
    this.#queue.push({ type: 'responseStart', responseId });
    const frames = Math.round((this.#owner.opts.replyMs ?? 200) / 20);
    for (let i = 0; i < frames; i++) {
      const samples = new Int16Array(320);
      for (let j = 0; j < 320; j++) samples[j] = Math.round(4000 * Math.sin((2 * Math.PI * 500 * (i * 320 + j)) / 16000));
      this.#queue.push({ type: 'audio', responseId, frame: { samples, sampleRate: 16000, seq: i, timestampMs: i * 20 } });
    }
    this.#queue.push({ type: 'transcript', role: 'assistant', text: `${this.provider} answer ${String(n)}`, final: true });
    // Like OpenAI: the tool call comes inside the response, before response.done.
    if (this.#owner.opts.hangUpAfterTurn === n) this.#queue.push({ type: 'hangup', reason: 'the caller said goodbye' });
    this.#queue.push({ type: 'responseDone', responseId });
  }

  interrupt(info: { responseId: string; heardMs: number }): void {
    this.#log.interrupts.push(info);
  }

  async close(): Promise<void> {
    this.#log.closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#queue.end();
  }
}
