/**
 * One Gemini Live session (see gemini-provider.ts). By default our VAD drives turns, so the server's
 * automatic activity detection is off and the session brackets caller speech with activityStart /
 * activityEnd. With activityDetection 'automatic' (VAD_ENGINE=off) the server's own activity detection
 * ends turns and cuts replies: audio streams through unbracketed and endTurn does nothing. With START_OF_ACTIVITY_INTERRUPTS an activityStart cuts whatever the model is saying:
 * that is how barge-in reaches Gemini (it has no cancel message), and it is also why the next
 * activity is not opened the moment a turn ends. Audio pushed while the model answers is held and
 * sent (after an activityStart) when the answer completes, or at once when the caller barges in.
 *
 * goAway is handled here, below the failover switch: a second link is opened with the latest
 * resumption handle (or fresh, with the conversation as initial history), sends are held in order
 * meanwhile, the old link may finish a reply in progress, then the new one takes over. Context window
 * compression (sliding window) is always on: without it an audio session ends at 15 minutes
 * (ai.google.dev/gemini-api/docs/live-session, "Session lifetime").
 *
 * History (a failover's conversation, a fresh reconnect's) goes in the one way every Live model
 * documents: historyConfig.initialHistoryInClientContent in the setup, then role-tagged turns with
 * turnComplete true before any realtime input (see ./models.ts). A standby cannot be handed history
 * after it started (content mid-session is not the initial history), so appendHistory is not offered.
 */
import { randomUUID } from 'node:crypto';
import { ActivityHandling, Modality, Type, type LiveConnectConfig } from '@google/genai';
import { GatewayError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { AudioFormat, AudioFrame, EncodedFrame } from '../../pipeline/frame.js';
import { AsyncQueue } from '../../util/async-queue.js';
import type { ConversationTurn, ProviderConnectOptions, ProviderEvent, ProviderSession, TurnInfo } from '../types.js';
import { GEMINI_INPUT, type GeminiProviderOptions } from './options.js';
import { LiveLink, type LinkHandlers, type ToolResponse } from './live-link.js';
import { liveModelTraits } from './models.js';
import { decodeServerMessage, type LiveAction, type Problem } from './server-message.js';

/** The goodbye tool, as a Gemini function declaration (FunctionDeclaration, parameters as a Schema). */
export const END_CALL_FUNCTION = {
  name: 'end_call',
  description: 'End the phone call. Call this only after you have said goodbye and the caller has nothing more to ask.',
  parameters: { type: Type.OBJECT, properties: { reason: { type: Type.STRING, description: 'Why the call ends, in a few words.' } } },
};

const OUTPUT: AudioFormat = { codec: 'pcm16', sampleRate: 24000 };
const INPUT_MIME = 'audio/pcm;rate=16000';
/** Base64 characters per second of the input (16 kHz PCM16: 32,000 bytes). */
const INPUT_BASE64_PER_S = (16000 * 2 * 4) / 3;
/**
 * Caller audio held while the model answers: 15 s, oldest dropped past that. Counted in base64
 * characters, not messages: a message is 20 ms or a chunk of several frames (PROVIDER_AUDIO_CHUNK_MS).
 */
const MAX_HELD_CHARS = 15 * INPUT_BASE64_PER_S;
/** Audio of the latest caller activity kept for replay on a new link: 30 s (counted as MAX_HELD_CHARS). */
const MAX_ACTIVITY_CHARS = 30 * INPUT_BASE64_PER_S;
/** Swap to the new link at the latest this long before the server's goAway deadline. */
const SWAP_MARGIN_MS = 500;

type WireTurn = { role: 'user' | 'model'; text: string };
type Op = { k: 'audio'; data: string } | { k: 'start' } | { k: 'end' };

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
  #heldChars = 0;
  #activity: string[] = [];
  #activityChars = 0;
  /** activityEnds sent whose turnComplete has not come back. */
  #pendingGenerations = 0;
  #answerStarted = false;
  /** The server said something since our last activityEnd: the turn is acknowledged (a sign of life). */
  #acked = true;
  #interruptedThisTurn = false;
  /** end_call arrived while a reply was still coming: hang up once that turn completes. */
  #hangupAfterTurn: string | undefined;
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
    this.#link = await this.#open(undefined, signal, this.#conversation);
    this.#log.info(
      { event: 'gemini_connected', ms: Math.round(performance.now() - t0), historyTurns: this.#conversation.length, model: this.#options.model, activityDetection: this.#automatic ? 'automatic' : 'client' },
      'gemini live session open',
    );
  }

  /** A standby cannot take history after it started (see the file comment): never offered. */
  get appendHistory(): undefined {
    return undefined;
  }

  get #automatic(): boolean {
    return this.#options.activityDetection === 'automatic';
  }

  /** Opens a link: resumed from `handle`, or fresh with `history` as its initial history. */
  async #open(handle: string | undefined, signal: AbortSignal | undefined, history: readonly ConversationTurn[]): Promise<LiveLink> {
    const o = this.#options;
    const traits = liveModelTraits(o.model);
    const config: LiveConnectConfig = {
      responseModalities: [Modality.AUDIO],
      inputAudioTranscription: {},
      outputAudioTranscription: {},
      realtimeInputConfig: this.#automatic
        ? { automaticActivityDetection: { disabled: false } }
        : { automaticActivityDetection: { disabled: true }, activityHandling: ActivityHandling.START_OF_ACTIVITY_INTERRUPTS },
      sessionResumption: handle ? { handle } : {},
      // A sliding window keeps the context under the limit, so the session is not ended at 15 minutes.
      contextWindowCompression: { slidingWindow: {} },
    };
    if (traits.thinkingConfig) config.thinkingConfig = traits.thinkingConfig;
    if (this.#instructions) config.systemInstruction = { parts: [{ text: this.#instructions }] };
    if (o.voice) config.speechConfig = { voiceConfig: { prebuiltVoiceConfig: { voiceName: o.voice } } };
    if (o.endCallTool) config.tools = [{ functionDeclarations: [END_CALL_FUNCTION] }];
    // A resumed session has its history on the server already.
    const initial = handle === undefined ? wireTurns(history) : [];
    const link = await LiveLink.open({
      apiKey: o.apiKey ?? '',
      baseUrl: o.baseUrl,
      model: o.model,
      config,
      setupExtras: initial.length > 0 ? { historyConfig: { initialHistoryInClientContent: true } } : undefined,
      handlers: this.#handlers,
      signal,
    });
    link.sendInitialHistory(initial);
    return link;
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
    if (this.#automatic) {
      // The server's activity detection hears turns in the stream itself: no brackets, nothing held.
      this.#issue({ k: 'audio', data });
      return;
    }
    if (this.#turn === 'awaiting') {
      this.#held.push(data);
      this.#heldChars += data.length;
      while (this.#heldChars > MAX_HELD_CHARS && this.#held.length > 1) {
        this.#heldChars -= this.#held.shift()!.length;
        if (this.#droppedHeld++ === 0) this.#log.warn({ event: 'gemini_held_audio_dropped' }, 'caller audio held too long while waiting for the answer');
      }
      return;
    }
    if (this.#turn === 'idle') this.#openActivity();
    this.#issueAudio(data);
  }

  endTurn(_turn: TurnInfo): void {
    if (this.#dead || this.#automatic || this.#turn === 'idle') return;
    if (this.#turn === 'awaiting') {
      // The caller spoke again before the answer came (no barge-in: nothing was playing): ask anew.
      if (this.#held.length === 0) return;
      this.#openActivity();
    }
    this.#issue({ k: 'end' });
    this.#pendingGenerations++;
    this.#answerStarted = false;
    this.#acked = false;
    this.#turn = 'awaiting';
  }

  interrupt(_info: { responseId: string; heardMs: number }): void {
    if (this.#dead) return;
    // Automatic mode: the server heard the caller too and cuts its reply itself ('interrupted').
    if (this.#automatic) this.#cutResponse();
    else if (this.#turn === 'awaiting') this.#openActivity();
    else if (this.#response) this.#cutResponse();
  }

  /** Opens a caller activity; on the server this interrupts a pending answer, so drop it here too. */
  #openActivity(): void {
    if (this.#pendingGenerations > 0) this.#cutResponse();
    this.#turn = 'speaking';
    this.#activity = [];
    this.#activityChars = 0;
    this.#issue({ k: 'start' });
    const held = this.#held;
    this.#held = [];
    this.#heldChars = 0;
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
    this.#activityChars += data.length;
    // Trimmed in steps (a quarter over the bound), not on every message.
    if (this.#activityChars > MAX_ACTIVITY_CHARS * 1.25) {
      let drop = 0;
      while (this.#activityChars > MAX_ACTIVITY_CHARS && drop < this.#activity.length - 1) this.#activityChars -= this.#activity[drop++].length;
      this.#activity.splice(0, drop);
    }
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
    if (link === this.#link && !this.#acked && this.#pendingGenerations > 0) {
      // Any message on the live link after our activityEnd (usage, transcription, audio): it took the turn.
      this.#acked = true;
      this.#queue.push({ type: 'ack' });
    }
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
        this.#interruptedThisTurn = true;
        this.#cutResponse();
        return;
      case 'generationComplete':
        this.#finishResponse();
        return;
      case 'turnComplete':
        // A turn the model finished without a word (nothing to answer) is not a silence to fail over for.
        if (this.#pendingGenerations > 0 && !this.#answerStarted && !this.#interruptedThisTurn && !this.#response) this.#queue.push({ type: 'ack', empty: true });
        this.#interruptedThisTurn = false;
        this.#finishResponse();
        this.#finishTurn();
        if (this.#hangupAfterTurn !== undefined) {
          this.#queue.push({ type: 'hangup', reason: this.#hangupAfterTurn });
          this.#hangupAfterTurn = undefined;
        }
        this.#dropping = false;
        this.#pendingGenerations = Math.max(0, this.#pendingGenerations - 1);
        if (this.#turn === 'awaiting' && this.#pendingGenerations === 0) this.#openActivity();
        this.#maybeSwap();
        return;
      case 'goAway':
        this.#queue.push({ type: 'goAway', timeLeftMs: a.timeLeftMs });
        this.#reconnect(a.timeLeftMs);
        return;
      case 'toolCall':
        this.#onToolCall(a.calls);
        return;
    }
  }

  /**
   * The only function we declare is end_call (END_CALL_TOOL). Each call is answered with a
   * toolResponse of the same id (the model waits for it); the hangup is passed on once the reply it
   * belongs to has completed, so the goodbye is heard.
   */
  #onToolCall(calls: { id: string | undefined; name: string; args: Record<string, unknown> }[]): void {
    const responses: ToolResponse[] = [];
    for (const call of calls) {
      if (!this.#options.endCallTool || call.name !== END_CALL_FUNCTION.name) {
        this.#problem({ detail: `gemini called a function we did not declare: ${call.name.slice(0, 64)}` });
        responses.push({ id: call.id, name: call.name, response: { error: 'no such function' } });
        continue;
      }
      const reason = typeof call.args.reason === 'string' && call.args.reason !== '' ? call.args.reason.slice(0, 200) : 'provider_goodbye';
      this.#log.info({ event: 'gemini_end_call', reason }, 'the model ended the call');
      // SILENT: into the context only. gemini-3.8-live calls functions NON_BLOCKING by default, and the
      // default WHEN_IDLE would have the model speak again after its goodbye, as the call is hung up
      // (FunctionResponse.scheduling in @google/genai: "Only add the result to the conversation context,
      // do not interrupt or trigger generation"; ignored for blocking calls).
      responses.push({ id: call.id, name: call.name, response: { output: 'the call will end after your goodbye has played' }, scheduling: 'SILENT' });
      if (this.#response || this.#pendingGenerations > 0) this.#hangupAfterTurn = reason;
      else this.#queue.push({ type: 'hangup', reason });
    }
    this.#link?.sendToolResponse(responses);
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
      // A field of a newer API version: counted and logged by the guard, never an error.
      if (!this.#reportedFields.has(p.unknownField)) {
        this.#reportedFields.add(p.unknownField);
        this.#log.info({ event: 'gemini_unknown_field', field: p.unknownField }, 'gemini sent a field this adapter does not know; ignored');
      }
      this.#queue.push({ type: 'unknownEvent', name: p.unknownField });
      return;
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
    // Without a handle, the new link starts fresh with the conversation so far as its initial history.
    this.#open(this.#handle, signal, this.#conversation).then(
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
  else link.sendActivityEnd();
}

function wireTurns(turns: readonly ConversationTurn[]): WireTurn[] {
  return turns.map((t) => ({ role: t.role === 'assistant' ? 'model' : 'user', text: t.text }));
}
