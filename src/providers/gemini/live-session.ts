/**
 * One Gemini Live session (see gemini-provider.ts). Our VAD drives turns, so the server's
 * automatic activity detection is off and the session brackets caller speech with activityStart /
 * activityEnd. With START_OF_ACTIVITY_INTERRUPTS an activityStart cuts whatever the model is saying:
 * that is how barge-in reaches Gemini (it has no cancel message), and it is also why the next
 * activity is not opened the moment a turn ends. Audio pushed while the model answers is held and
 * sent (after an activityStart) when the answer completes, or at once when the caller barges in.
 *
 * goAway is handled here, below the failover switch: a second link is opened with the latest
 * resumption handle (or fresh, with the conversation resent as text), sends are held in order
 * meanwhile, the old link may finish a reply in progress, then the new one takes over.
 */
import { randomUUID } from 'node:crypto';
import { ActivityHandling, Modality, type LiveConnectConfig } from '@google/genai';
import { GatewayError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { AudioFormat, AudioFrame, EncodedFrame } from '../../pipeline/frame.js';
import { AsyncQueue } from '../../util/async-queue.js';
import type { ConversationTurn, ProviderConnectOptions, ProviderEvent, ProviderSession, TurnInfo } from '../types.js';
import type { GeminiProviderOptions } from './gemini-provider.js';
import { LiveLink, type LinkHandlers } from './live-link.js';
import { decodeServerMessage, type LiveAction, type Problem } from './server-message.js';

export const GEMINI_INPUT: AudioFormat = { codec: 'pcm16', sampleRate: 16000 };
const OUTPUT: AudioFormat = { codec: 'pcm16', sampleRate: 24000 };
const INPUT_MIME = 'audio/pcm;rate=16000';
/** Caller audio held while the model answers: 15 s of 20 ms frames, oldest dropped past that. */
const MAX_HELD_CHUNKS = 750;
/** Audio of the latest caller activity kept for replay on a new link: 30 s of 20 ms frames. */
const MAX_ACTIVITY_CHUNKS = 1500;
/** Swap to the new link at the latest this long before the server's goAway deadline. */
const SWAP_MARGIN_MS = 500;

type WireTurn = { role: 'user' | 'model'; text: string };
type Op = { k: 'audio'; data: string } | { k: 'start' } | { k: 'end' } | { k: 'history'; turns: WireTurn[] };

interface Swap {
  readonly from: LiveLink;
  readonly ops: Op[];
  /** The caller activity that was open on the old link, as sent there: replayed on the new one. */
  readonly replayOpen: string[] | undefined;
  readonly resumed: boolean;
  readonly startedAt: number;
  readonly deadline: number;
  readonly abort: AbortController;
  next: LiveLink | undefined;
  oldGone: boolean;
  timer: NodeJS.Timeout | undefined;
}

export class GeminiLiveSession implements ProviderSession {
  readonly provider = 'gemini';
  readonly inputFormat = GEMINI_INPUT;
  readonly outputFormat = OUTPUT;
  readonly #queue = new AsyncQueue<ProviderEvent>();
  readonly #options: GeminiProviderOptions;
  readonly #instructions: string | undefined;
  /** History given at connect or appended, then this session's final turns: what a fresh link is told. */
  readonly #conversation: ConversationTurn[];
  readonly #log: Logger;
  readonly #handlers: LinkHandlers;
  #link: LiveLink | undefined;
  #swap: Swap | undefined;
  #handle: string | undefined;
  #dead = false;
  #closing: Promise<void> | undefined;
  // Caller side: 'speaking' = an activity is open on the server; 'awaiting' = closed, answer pending.
  #turn: 'idle' | 'speaking' | 'awaiting' = 'idle';
  #held: string[] = [];
  #activity: string[] = [];
  /** activityEnds sent whose turnComplete has not come back. */
  #pendingGenerations = 0;
  #answerStarted = false;
  // Model side.
  #response: { id: string; ms: number } | undefined;
  #dropping = false;
  #seq = 0;
  #userText = '';
  #assistantText = '';
  #assistantCut = false;
  readonly #transcripts: ConversationTurn[] = [];
  readonly #reportedFields = new Set<string>();
  #warnedFormat = false;
  #droppedHeld = 0;

  constructor(options: GeminiProviderOptions, connect: ProviderConnectOptions) {
    this.#options = options;
    this.#instructions = connect.instructions ?? options.instructions;
    this.#conversation = [...connect.history];
    this.#log = connect.logger.child({ provider: 'gemini' });
    this.#handlers = {
      onMessage: (link, msg) => this.#onMessage(link, msg),
      onBadFrame: (_link, detail) => this.#problem({ detail }),
      onClose: (link, error, reason) => this.#onLinkClose(link, error, reason),
    };
  }

  get events(): AsyncIterable<ProviderEvent> {
    return this.#queue;
  }

  /** Final text per turn, in order (history for a fresh reconnect or a failover). */
  get transcripts(): readonly ConversationTurn[] {
    return this.#transcripts;
  }

  async start(signal?: AbortSignal): Promise<void> {
    const t0 = performance.now();
    this.#link = await this.#open(undefined, signal);
    this.#link.sendHistory(wireTurns(this.#conversation));
    this.#log.info({ event: 'gemini_connected', ms: Math.round(performance.now() - t0), historyTurns: this.#conversation.length }, 'gemini live session open');
  }

  #open(handle: string | undefined, signal: AbortSignal | undefined): Promise<LiveLink> {
    const o = this.#options;
    const config: LiveConnectConfig = {
      responseModalities: [Modality.AUDIO],
      inputAudioTranscription: {},
      outputAudioTranscription: {},
      realtimeInputConfig: {
        automaticActivityDetection: { disabled: true },
        activityHandling: ActivityHandling.START_OF_ACTIVITY_INTERRUPTS,
      },
      sessionResumption: handle ? { handle } : {},
    };
    if (this.#instructions) config.systemInstruction = { parts: [{ text: this.#instructions }] };
    if (o.voice) config.speechConfig = { voiceConfig: { prebuiltVoiceConfig: { voiceName: o.voice } } };
    return LiveLink.open({ apiKey: o.apiKey ?? '', baseUrl: o.baseUrl, model: o.model, config, handlers: this.#handlers, signal });
  }

  pushAudio(frame: AudioFrame | EncodedFrame): void {
    if (this.#dead) return;
    if (!('samples' in frame) || frame.sampleRate !== GEMINI_INPUT.sampleRate) {
      if (!this.#warnedFormat) {
        this.#warnedFormat = true;
        this.#log.warn({ event: 'gemini_bad_input_format', sampleRate: frame.sampleRate }, 'gemini takes pcm16 at 16 kHz; frame dropped');
      }
      return;
    }
    const s = frame.samples;
    const data = Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString('base64');
    if (this.#turn === 'awaiting') {
      this.#held.push(data);
      if (this.#held.length > MAX_HELD_CHUNKS) {
        this.#held.shift();
        if (this.#droppedHeld++ === 0) this.#log.warn({ event: 'gemini_held_audio_dropped' }, 'caller audio held too long while waiting for the answer');
      }
      return;
    }
    if (this.#turn === 'idle') this.#openActivity();
    this.#issueAudio(data);
  }

  endTurn(_turn: TurnInfo): void {
    if (this.#dead || this.#turn === 'idle') return;
    if (this.#turn === 'awaiting') {
      // The caller spoke again before the answer came (no barge-in: nothing was playing): ask anew.
      if (this.#held.length === 0) return;
      this.#openActivity();
    }
    this.#issue({ k: 'end' });
    this.#pendingGenerations++;
    this.#answerStarted = false;
    this.#turn = 'awaiting';
  }

  /** More conversation as context (a standby taking over): clientContent that asks for no answer. */
  appendHistory(turns: readonly ConversationTurn[]): void {
    if (this.#dead || turns.length === 0) return;
    this.#conversation.push(...turns);
    this.#issue({ k: 'history', turns: wireTurns(turns) });
  }

  interrupt(_info: { responseId: string; heardMs: number }): void {
    if (this.#dead) return;
    if (this.#turn === 'awaiting') this.#openActivity();
    else if (this.#response) this.#cutResponse();
  }

  /** Opens a caller activity; on the server this interrupts a pending answer, so drop it here too. */
  #openActivity(): void {
    if (this.#pendingGenerations > 0) this.#cutResponse();
    this.#turn = 'speaking';
    this.#activity = [];
    this.#issue({ k: 'start' });
    const held = this.#held;
    this.#held = [];
    for (const data of held) this.#issueAudio(data);
  }

  #cutResponse(): void {
    this.#dropping = true;
    if (this.#response) {
      this.#response = undefined;
      this.#assistantCut = true;
    }
  }

  #issueAudio(data: string): void {
    this.#activity.push(data);
    if (this.#activity.length > MAX_ACTIVITY_CHUNKS * 1.25) this.#activity.splice(0, this.#activity.length - MAX_ACTIVITY_CHUNKS);
    this.#issue({ k: 'audio', data });
  }

  #issue(op: Op): void {
    if (this.#swap) this.#swap.ops.push(op);
    else if (this.#link) send(this.#link, op);
  }

  #onMessage(link: LiveLink, msg: Record<string, unknown>): void {
    if (this.#dead) return;
    const { actions, problems } = decodeServerMessage(msg, OUTPUT.sampleRate);
    for (const p of problems) this.#problem(p);
    for (const a of actions) {
      if (a.kind === 'resumption') this.#handle = a.handle;
      // Content from a retired link, or from the next one before the swap, is not ours to play.
      else if (link === this.#link) this.#act(a);
    }
  }

  #act(a: Exclude<LiveAction, { kind: 'resumption' }>): void {
    switch (a.kind) {
      case 'audio': {
        if (this.#dropping) return;
        if (!this.#response) {
          this.#response = { id: randomUUID(), ms: 0 };
          this.#answerStarted = true;
          this.#queue.push({ type: 'responseStart', responseId: this.#response.id });
        }
        const r = this.#response;
        this.#queue.push({ type: 'audio', responseId: r.id, frame: { samples: a.samples, sampleRate: OUTPUT.sampleRate, seq: this.#seq++, timestampMs: r.ms } });
        r.ms += (a.samples.length * 1000) / OUTPUT.sampleRate;
        return;
      }
      case 'inputText':
        this.#userText += a.text;
        this.#queue.push({ type: 'transcript', role: 'user', text: a.text, final: false });
        return;
      case 'outputText':
        if (this.#dropping) return;
        this.#assistantText += a.text;
        this.#queue.push({ type: 'transcript', role: 'assistant', text: a.text, final: false });
        return;
      case 'interrupted':
        this.#cutResponse();
        return;
      case 'generationComplete':
        this.#finishResponse();
        return;
      case 'turnComplete':
        this.#finishResponse();
        this.#finishTurn();
        this.#dropping = false;
        this.#pendingGenerations = Math.max(0, this.#pendingGenerations - 1);
        if (this.#turn === 'awaiting' && this.#pendingGenerations === 0) this.#openActivity();
        this.#maybeSwap();
        return;
      case 'goAway':
        this.#queue.push({ type: 'goAway', timeLeftMs: a.timeLeftMs });
        this.#reconnect(a.timeLeftMs);
        return;
    }
  }

  #finishResponse(): void {
    if (!this.#response || this.#dropping) return;
    this.#queue.push({ type: 'responseDone', responseId: this.#response.id });
    this.#response = undefined;
  }

  #finishTurn(): void {
    const user = this.#userText.trim();
    const assistant = this.#assistantText.trim();
    if (user) {
      this.#queue.push({ type: 'transcript', role: 'user', text: user, final: true });
      this.#transcripts.push({ role: 'user', text: user });
      this.#conversation.push({ role: 'user', text: user });
    }
    if (assistant) {
      // A cut reply was partly heard: it stays in the history, but nothing more is said about it.
      if (!this.#assistantCut) this.#queue.push({ type: 'transcript', role: 'assistant', text: assistant, final: true });
      this.#transcripts.push({ role: 'assistant', text: assistant });
      this.#conversation.push({ role: 'assistant', text: assistant });
    }
    this.#userText = '';
    this.#assistantText = '';
    this.#assistantCut = false;
  }

  #problem(p: Problem): void {
    if (this.#dead) return;
    if (p.unknownField !== undefined) {
      if (this.#reportedFields.has(p.unknownField)) return;
      this.#reportedFields.add(p.unknownField);
    }
    this.#log.warn({ event: 'gemini_protocol_error', detail: p.detail }, 'gemini sent something we cannot use');
    this.#queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_PROTOCOL', `gemini: ${p.detail}`), fatal: false });
  }

  #reconnect(timeLeftMs: number): void {
    if (this.#swap || this.#dead || !this.#link) return;
    const now = performance.now();
    const swap: Swap = {
      from: this.#link,
      ops: [],
      replayOpen: this.#turn === 'speaking' ? this.#activity.slice() : undefined,
      resumed: this.#handle !== undefined,
      startedAt: now,
      deadline: now + Math.max(0, timeLeftMs - SWAP_MARGIN_MS),
      abort: new AbortController(),
      next: undefined,
      oldGone: false,
      timer: undefined,
    };
    this.#swap = swap;
    this.#log.info({ event: 'gemini_reconnecting', timeLeftMs, resumed: swap.resumed }, 'gemini goAway: opening a new session');
    const signal = AbortSignal.any([swap.abort.signal, AbortSignal.timeout(this.#options.reconnectTimeoutMs ?? 10_000)]);
    this.#open(this.#handle, signal).then(
      (next) => {
        if (this.#dead || this.#swap !== swap) {
          void next.close();
          return;
        }
        swap.next = next;
        swap.timer = setTimeout(() => this.#maybeSwap(), Math.max(0, swap.deadline - performance.now()));
        this.#maybeSwap();
      },
      (err: unknown) => {
        if (this.#dead || this.#swap !== swap) return;
        const error = err instanceof GatewayError ? err : new GatewayError('GW_ERR_PROVIDER_CONNECT', 'gemini reconnect failed');
        this.#log.warn({ event: 'gemini_reconnect_failed', code: error.code, detail: error.message }, 'gemini reconnect failed');
        this.#fail(error, 'reconnect after goAway failed');
      },
    );
  }

  /** Swaps when the new link is up and the old one has finished its reply (or is out of time). */
  #maybeSwap(): void {
    const swap = this.#swap;
    if (!swap?.next || this.#dead) return;
    const endsHeld = swap.ops.reduce((n, op) => n + (op.k === 'end' ? 1 : 0), 0);
    const pendingOnOld = this.#pendingGenerations - endsHeld;
    if (pendingOnOld > 0 && !swap.oldGone && performance.now() < swap.deadline) return;
    clearTimeout(swap.timer);
    const next = swap.next;
    const replay: Op[] = [];
    if (swap.replayOpen) {
      replay.push({ k: 'start' }, ...swap.replayOpen.map((data): Op => ({ k: 'audio', data })));
    } else if (pendingOnOld > 0 && !this.#answerStarted && !swap.ops.some((op) => op.k === 'start')) {
      // The old link never answered the last turn: ask the new one.
      replay.push({ k: 'start' }, ...this.#activity.map((data): Op => ({ k: 'audio', data })), { k: 'end' });
    }
    if (pendingOnOld > 0) {
      // What the old link was saying ends here.
      this.#finishResponse();
      this.#finishTurn();
    }
    this.#response = undefined;
    this.#dropping = false;
    this.#pendingGenerations = endsHeld + (replay.some((op) => op.k === 'end') ? 1 : 0);
    this.#swap = undefined;
    this.#link = next;
    if (!swap.resumed) next.sendHistory(wireTurns(this.#conversation));
    for (const op of replay) send(next, op);
    for (const op of swap.ops) send(next, op);
    void swap.from.close();
    this.#log.info(
      { event: 'gemini_reconnected', resumed: swap.resumed, ms: Math.round(performance.now() - swap.startedAt), opsHeld: swap.ops.length, replayed: replay.length },
      'gemini session swapped to the new link',
    );
    if (this.#turn === 'awaiting' && this.#pendingGenerations === 0) this.#openActivity();
  }

  #onLinkClose(link: LiveLink, error: GatewayError, reason: string): void {
    if (this.#dead) return;
    if (this.#swap?.from === link) {
      // Expected after goAway: the new link takes over as soon as it is up.
      this.#swap.oldGone = true;
      this.#maybeSwap();
      return;
    }
    if (link !== this.#link) return;
    this.#log.warn({ event: 'gemini_closed', code: error.code, reason }, 'gemini closed the session');
    this.#fail(error, reason);
  }

  #fail(error: GatewayError, reason: string): void {
    this.#queue.push({ type: 'error', error, fatal: true });
    this.#queue.push({ type: 'closed', reason });
    this.#queue.end();
    void this.close();
  }

  /** Idempotent: closes every link and ends the events. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#dead = true;
    const swap = this.#swap;
    this.#swap = undefined;
    if (swap) {
      clearTimeout(swap.timer);
      swap.abort.abort();
    }
    this.#queue.end();
    await Promise.all([this.#link?.close(), swap?.next?.close()]);
  }
}

function send(link: LiveLink, op: Op): void {
  if (op.k === 'audio') link.sendAudio(op.data, INPUT_MIME);
  else if (op.k === 'start') link.sendActivityStart();
  else if (op.k === 'end') link.sendActivityEnd();
  else link.sendHistory(op.turns);
}

function wireTurns(turns: readonly ConversationTurn[]): WireTurn[] {
  return turns.map((t) => ({ role: t.role === 'assistant' ? 'model' : 'user', text: t.text }));
}
