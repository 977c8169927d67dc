/**
 * The call's provider, failover included: one session in front of every configured provider (the
 * shape of LiveKit's FallbackAdapter and Pipecat's ServiceSwitcher, plus our zero-loss replay). The
 * call pushes caller frames and turn ends in and reads one stream of events out; which provider
 * answers, and when that changes, is this file's business alone. Events of a standby, of a session
 * being switched away from or of a retired one never come out.
 *
 * It owns the live ProviderLink (one provider's ingress graph, sink and session), the TurnLedger
 * (turn-ledger.ts: the replay ring of caller audio not yet accepted, pending turns, the conversation
 * history), the response timer, the warm standby and the switch. A switch: the call is told
 * (`switchStarted`) and stops the reply the caller hears; the unaccepted audio of the pending turns is
 * replayed into a new link, live frames follow it there (held in the link's sink until the session is
 * up), the new provider gets the conversation so far, and only then is the old link let go. A manual switch to a provider that fails rolls back; a failure-driven
 * one tries the next candidate; when none is left, `allDown` comes out.
 *
 * A caller turn is pending from its end until it is accepted: the caller heard its answer to the end
 * (`replyHeard`), spoke over it (`interrupt`), or ended a newer turn (see turn-ledger.ts).
 */
import { isGatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { pcmFormatOf } from '../pipeline/codecs/wire-codec.js';
import type { AudioFormat, WireFormat } from '../pipeline/frame.js';
import type { VadInput, WireFrame } from '../pipeline/stages.js';
import type { ConversationTurn, Provider, ProviderConnectOptions, ProviderEvent, ProviderSession, TurnInfo } from '../providers/types.js';
import { AsyncQueue } from '../util/async-queue.js';
import { negotiateInput } from './call-types.js';
import { DEFAULT_FAILOVER, fallbackOrder, type FailoverSettings, type GuardedLike, type SwitchAttempt, type SwitchReason, type SwitchRecord } from './failover.js';
import { ProviderLink } from './provider-link.js';
import type { ChunkPool } from './chunk-pool.js';
import { TurnLedger } from './turn-ledger.js';
import { WarmStandby } from './warm-standby.js';

const RING_FRAMES = 2048; // ~40 s of 20 ms frames: the longest turn a failover can replay whole

/** What comes out: the live provider's events the call acts on, and what the failover itself has to say. */
export type FailoverEvent =
  | Extract<ProviderEvent, { type: 'responseStart' | 'audio' | 'responseDone' | 'speechStarted' | 'hangup' }>
  | { type: 'transcript'; role: 'user' | 'assistant'; text: string; final: boolean; provider: string }
  /** A switch begins: stop the reply the caller hears and tell `interruptOutgoing` how much was heard. */
  | { type: 'switchStarted'; from: string; reason: SwitchReason }
  /** No provider can take the call (the old one is already let go). */
  | { type: 'allDown' }
  /** The live ingress graph died (a stage threw): every later frame would be lost. */
  | { type: 'ingressFailed'; error: Error };

/** The caller's VAD: each link's ingress graph feeds it (VadInput); speaking keeps idle audio trimmed. */
export interface CallerVad extends VadInput {
  readonly speaking: boolean;
}

/** Where each live frame's ingress latency goes (replays are not counted). */
export interface IngressMeter {
  delivered(receivedAtMs: number): void;
}

export interface FailoverSessionOptions {
  readonly callId: string;
  /** The provider to start on. */
  readonly first: Provider;
  /** Every configured provider in PROVIDERS order: the candidates. */
  readonly providers: readonly GuardedLike[];
  readonly settings?: FailoverSettings;
  readonly wire: WireFormat;
  readonly instructions?: string;
  readonly vad: CallerVad;
  readonly ingress: IngressMeter;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The process's chunks for the replay ring (one of its own when not given). */
  readonly ringChunks?: ChunkPool;
  /** Caller audio per message to a provider, ms (PROVIDER_AUDIO_CHUNK_MS; absent or 20: each frame as it comes). */
  readonly audioChunkMs?: (provider: string) => number;
}

/**
 * What the call holds: the ProviderSession contract (endTurn, interrupt, sendText, close, events,
 * provider, inputFormat) with three differences. It takes the caller's wire frames (`write`), not a
 * provider's input format, because every provider behind it gets its own ingress graph for its own
 * format and a replay must start from the wire. Its events are the live provider's, plus the
 * failover's own (FailoverEvent). And it is told what the caller heard (`replyHeard`,
 * `interruptOutgoing`), which decides what a switch replays.
 */
export interface CallSession extends Pick<ProviderSession, 'endTurn' | 'interrupt' | 'sendText' | 'close' | 'provider' | 'inputFormat'> {
  readonly events: AsyncIterable<FailoverEvent>;
  readonly switching: boolean;
  start(): Promise<boolean>;
  write(frame: WireFrame): void;
  interruptOutgoing(info: { responseId: string; heardMs: number }): void;
  replyHeard(): void;
  switchProvider(reason: SwitchReason, target?: string): Promise<SwitchRecord>;
}

export class FailoverSession implements CallSession {
  readonly #opts: FailoverSessionOptions;
  readonly #settings: FailoverSettings;
  readonly #log: Logger;
  readonly #events = new AsyncQueue<FailoverEvent>();
  /** The replay ring, pending turns and history: what a new provider is given. */
  readonly #ledger: TurnLedger;
  readonly #abort = new AbortController();
  readonly #providersUsed: string[] = [];
  readonly #records: SwitchRecord[] = [];
  #link: ProviderLink;
  /** The session whose events come out; none while a switch is in progress. */
  #active: ProviderSession | undefined;
  /** The link being switched away from, until the call has stopped its reply (interruptOutgoing). */
  #outgoing: ProviderLink | undefined;
  #switching: Promise<SwitchRecord> | undefined;
  #standby: WarmStandby;
  #responseTimer: NodeJS.Timeout | undefined;
  /** The active session showed a sign of life since the turn the timer waits on ended. */
  #lifeSinceTurn = false;
  /**
   * The provider acknowledged a turn since the caller's last turn ended. A provider that takes turns
   * as they come (the Deepgram agent) may acknowledge the next turn while the previous reply still
   * plays; the deadline armed when that reply is done must not forget it.
   */
  #ackedSinceLastTurn = false;
  #framesDropped = 0;
  /** start() was called: the call reads the events from then on. */
  #started = false;
  #closed = false;

  constructor(opts: FailoverSessionOptions) {
    this.#ledger = new TurnLedger(RING_FRAMES, opts.ringChunks);
    this.#opts = opts;
    this.#settings = opts.settings ?? DEFAULT_FAILOVER;
    this.#log = opts.logger;
    this.#standby = new WarmStandby(opts.logger);
    this.#link = this.#newLink(opts.first);
    if (this.#link.fixedDelayMs > 0) {
      const key = `ingress_resample_${String(opts.wire.sampleRate)}_${String(this.#link.inputFormat.sampleRate)}`;
      opts.metrics.latency.fixedDelayMs.set(key, this.#link.fixedDelayMs);
    }
  }

  get events(): AsyncIterable<FailoverEvent> {
    return this.#events;
  }

  /** The provider answering now (the one switched to, once a switch has begun). */
  get provider(): string {
    return this.#link.provider.name;
  }

  get inputFormat(): AudioFormat {
    return this.#link.inputFormat;
  }

  get switching(): boolean {
    return this.#switching !== undefined;
  }

  get records(): readonly SwitchRecord[] {
    return this.#records;
  }

  get providersUsed(): readonly string[] {
    return this.#providersUsed;
  }

  /** The conversation so far, as a new provider is given it. */
  get history(): readonly ConversationTurn[] {
    return this.#ledger.history;
  }

  /** Caller frames lost on the way to a provider (held too long while none was attached). */
  get framesDropped(): number {
    return this.#framesDropped;
  }

  /** Connect the first provider (or, if it fails, the next that works). Frames pushed meanwhile are held. */
  async start(): Promise<boolean> {
    // An open breaker stops new sessions only: this call keeps a session that still works, and
    // switches when its own session fails (see guard.ts).
    const link = this.#link;
    this.#started = true;
    try {
      const session = await link.provider.connect(this.#connectOptions(link.inputFormat, this.#abort.signal));
      if (this.#closed) {
        await session.close();
        return false;
      }
      this.#adopt(link, session, false);
      this.#refreshStandby();
      return true;
    } catch (err) {
      this.#log.warn({ event: 'provider_connect_failed', provider: link.provider.name, code: isGatewayError(err) ? err.code : undefined }, 'first provider failed to connect');
      if (this.#closed) return false;
      const record = await this.switchProvider('connect_failed');
      return record.result === 'ok';
    }
  }

  /** One caller frame, as the transport delivered it: kept for a replay, then into the live link. */
  write(frame: WireFrame): void {
    if (this.#closed) return;
    // The ring copies the bytes and numbers it keeps (frame-ring.ts), never the carrier's base64 text.
    this.#ledger.frame(frame, this.#opts.vad.speaking);
    this.#link.write(frame);
  }

  /** The caller's turn ended after the frames written so far: the provider is asked to answer it. */
  endTurn(turn: TurnInfo): void {
    if (this.#closed) return;
    this.#ackedSinceLastTurn = false;
    this.#ledger.turnEnded(turn);
    this.#link.endTurn(turn);
    this.#armResponseTimer();
  }

  /** The caller spoke over the reply (barge-in): the provider stops it, and the turn it answered is done with. */
  interrupt(info: { responseId: string; heardMs: number }): void {
    this.#link.session?.interrupt(info);
    this.#ledger.interrupted();
  }

  /** After `switchStarted`: the reply the caller heard was cut at `heardMs`; the provider it came from stops it. */
  interruptOutgoing(info: { responseId: string; heardMs: number }): void {
    try {
      this.#outgoing?.session?.interrupt(info);
    } catch {
      /* the old provider may be the broken one */
    }
  }

  /** The caller heard an answer to the end (its end mark came back): its turn is accepted. */
  replyHeard(): void {
    this.#ledger.heard();
  }

  sendText(text: string): void {
    this.#link.session?.sendText?.(text);
  }

  /**
   * Move the call to another provider without losing a frame. Never throws; resolves with the
   * switch record. A switch asked for during one joins it.
   */
  switchProvider(reason: SwitchReason, target?: string): Promise<SwitchRecord> {
    if (this.#switching) return this.#switching;
    const p = this.#run(reason, target).finally(() => {
      this.#switching = undefined;
    });
    this.#switching = p;
    return p;
  }

  /** End of call: deliver what the graph holds, close the provider and the standby, once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    this.#providerSpoke();
    this.#events.end();
    if (this.#switching) await this.#switching.catch(() => undefined);
    await this.#standby.close();
    await this.#link.finish().catch((err: unknown) => this.#log.warn({ event: 'provider_close_failed', err }, 'provider close failed'));
  }

  #newLink(provider: Provider): ProviderLink {
    const { vad, ingress, metrics } = this.#opts;
    const link: ProviderLink = new ProviderLink({
      provider,
      inputFormat: negotiateInput(this.#opts.wire, provider.inputFormats),
      wire: this.#opts.wire,
      vad,
      onDelivered: (receivedAtMs) => ingress.delivered(receivedAtMs),
      onDrop: (stage, n) => {
        this.#framesDropped += n;
        metrics.framesDroppedTotal.inc({ stage }, n);
      },
      onError: (err) => this.#onGraphFailed(link, err),
      maxHeldFrames: RING_FRAMES,
      chunkMs: this.#opts.audioChunkMs?.(provider.name),
    });
    return link;
  }

  #onGraphFailed(link: ProviderLink, error: Error): void {
    if (link !== this.#link || this.#closed) {
      this.#log.debug({ event: 'ingress_error', err: error }, 'a retired ingress graph failed');
      return;
    }
    this.#events.push({ type: 'ingressFailed', error });
  }

  #connectOptions(inputFormat: AudioFormat, signal: AbortSignal, history: readonly ConversationTurn[] = this.#ledger.history): ProviderConnectOptions {
    return {
      callId: this.#opts.callId,
      inputFormat,
      callerFormat: pcmFormatOf(this.#opts.wire),
      instructions: this.#opts.instructions,
      history: [...history],
      logger: this.#log,
      signal,
    };
  }

  #adopt(link: ProviderLink, session: ProviderSession, pumpRunning: boolean): void {
    link.attach(session);
    this.#active = session;
    if (this.#providersUsed.at(-1) !== session.provider || !pumpRunning) this.#providersUsed.push(session.provider);
    if (!pumpRunning) void this.#pump(session);
  }

  /**
   * A provider that shows no sign of life after a turn end (no acknowledgement, no event) within its
   * response deadline is as good as down. One that acknowledged is generating: it gets the longer reply
   * deadline (from the turn end) to start its answer or say it has none. Either way a timeout is one
   * breaker failure and a switch.
   */
  #armResponseTimer(): void {
    if (this.#responseTimer) return;
    this.#lifeSinceTurn = this.#ackedSinceLastTurn;
    const t0 = performance.now();
    const provider = this.provider;
    const silentMs = this.#settings.responseTimeoutByProviderMs?.[provider] ?? this.#settings.responseTimeoutMs;
    const replyMs = Math.max(silentMs, this.#settings.replyTimeoutMs ?? DEFAULT_FAILOVER.replyTimeoutMs ?? silentMs);
    const giveUp = (phase: 'silent' | 'reply') => {
      this.#responseTimer = undefined;
      if (this.#closed || this.#switching || !this.#link.session) return;
      this.#log.warn(
        { event: 'provider_silent', provider: this.provider, phase, timeoutMs: phase === 'silent' ? silentMs : replyMs },
        phase === 'silent' ? 'provider showed no sign of life after the turn' : 'provider acknowledged the turn but did not answer in time',
      );
      this.#link.session.responseTimedOut?.();
      void this.switchProvider('provider_silent');
    };
    this.#responseTimer = setTimeout(() => {
      if (!this.#lifeSinceTurn) return giveUp('silent');
      this.#responseTimer = setTimeout(() => giveUp('reply'), Math.max(0, replyMs - (performance.now() - t0)));
    }, silentMs);
  }

  #providerSpoke(): void {
    if (this.#responseTimer) {
      clearTimeout(this.#responseTimer);
      this.#responseTimer = undefined;
    }
  }

  /** One loop per session for its whole life; only the active session's events come out. */
  async #pump(session: ProviderSession): Promise<void> {
    try {
      for await (const ev of session.events) {
        if (this.#closed) break;
        // A session being switched away from may still talk (or be rolled back to): not to the caller now.
        if (session !== this.#active) {
          if (this.#standby.isStandby(session) && (ev.type === 'closed' || (ev.type === 'error' && ev.fatal))) {
            // The standby dropped: forget it and connect another shortly.
            this.#standby.lost();
            this.#refreshStandby(1000);
          }
          continue;
        }
        this.#onEvent(session, ev);
      }
    } catch (err) {
      this.#log.error({ event: 'provider_stream_failed', provider: session.provider, err }, 'provider event stream failed');
      if (session === this.#active && !this.#closed) void this.switchProvider('provider_error');
    }
  }

  #onEvent(session: ProviderSession, ev: ProviderEvent): void {
    // Any event from the active session is a sign of life (see #armResponseTimer).
    this.#lifeSinceTurn = true;
    switch (ev.type) {
      case 'ack':
        if (!ev.empty) this.#ackedSinceLastTurn = true;
        // An empty turn (nothing to answer) is done with; it is not a failure.
        if (ev.empty && this.#ledger.awaitingAnswer) {
          this.#providerSpoke();
          this.#ledger.answeredEmpty();
          if (this.#ledger.awaitingAnswer) this.#armResponseTimer();
        }
        return;
      case 'responseStart':
      case 'audio':
        this.#providerSpoke();
        this.#events.push(ev);
        return;
      case 'responseDone':
        this.#providerSpoke();
        this.#events.push(ev);
        // The turn counts as accepted once the caller has heard the answer (replyHeard), not before:
        // a failover while the answer plays must have the next provider answer it again.
        this.#ledger.answered();
        if (this.#ledger.awaitingAnswer) this.#armResponseTimer();
        else if (this.#settings.failback) this.#maybeFailBack();
        return;
      case 'transcript':
        // Hearing the caller (a user transcript) is not answering: only the assistant's words count.
        if (ev.role === 'assistant') this.#providerSpoke();
        if (ev.final && ev.text.trim() !== '') this.#ledger.transcript({ role: ev.role, text: ev.text });
        this.#events.push({ type: 'transcript', role: ev.role, text: ev.text, final: ev.final, provider: session.provider });
        return;
      case 'speechStarted':
      case 'hangup':
        this.#events.push(ev);
        return;
      case 'error':
        // Fatal: the session is gone. Non-fatal while a turn waits for its answer: that answer is
        // not coming (the provider refused the request), so do not wait out the deadline.
        // A refusal of our own request (origin 'request') is our bug: never a failover.
        if (ev.origin === 'request' && !ev.fatal) return;
        if (ev.fatal || (this.#responseTimer !== undefined && ev.error.code !== 'GW_ERR_PROVIDER_PROTOCOL')) void this.switchProvider('provider_error');
        return;
      case 'closed':
        void this.switchProvider('provider_closed');
        return;
      case 'unknownEvent':
      case 'speechStopped':
      case 'goAway':
        // goAway: adapters that can resume (Gemini) reconnect themselves; if they cannot, 'closed' follows.
        return;
    }
  }

  #maybeFailBack(): void {
    const providers = this.#opts.providers;
    // Only a provider whose breaker has closed again (another call's trial succeeded) is gone back to.
    const preferred = providers.find((p) => p.state === undefined || p.state === 'closed');
    if (!preferred || preferred.name === this.provider || this.#switching || this.#opts.vad.speaking) return;
    const currentIndex = providers.findIndex((p) => p.name === this.provider);
    if (currentIndex > providers.indexOf(preferred)) void this.switchProvider('recovery', preferred.name);
  }

  async #run(reason: SwitchReason, target: string | undefined): Promise<SwitchRecord> {
    const t0 = performance.now();
    const startedAt = new Date();
    const old = this.#link;
    const from = old.provider.name;
    const providers = this.#opts.providers;
    // The API checks a target's name first; an unknown one here simply finds no candidate and rolls back.
    const candidates = target !== undefined ? providers.filter((p) => p.name === target) : fallbackOrder(providers, from, new Set());
    this.#log.info({ event: 'switch_started', from, reason, candidates: candidates.map((c) => c.name) }, 'switching provider');
    // Nothing the old provider says comes out from now on; answers the caller has not heard to the end
    // are asked again of the new provider.
    this.#providerSpoke();
    this.#active = undefined;
    this.#ledger.restartAnswers();
    this.#outgoing = old;
    this.#events.push({ type: 'switchStarted', from, reason });
    // The call stops the reply the caller hears (and interrupts it at the old provider) before the
    // old provider can be let go below. Before start() nobody reads the events, and nothing plays.
    if (this.#started) await this.#events.drained();
    this.#outgoing = undefined;
    const heldFromSeq = this.#ledger.nextSeq;

    const attempts: SwitchAttempt[] = [];
    for (const candidate of candidates) {
      if (this.#closed) break;
      const ta = performance.now();
      const link = this.#newLink(candidate);
      // Replay first, then point live frames at the new link: order is the ring's, then arrival.
      const replay = link.replay(this.#ledger.entries());
      let { firstSeq, lastSeq } = replay;
      const liveFromSeq = this.#ledger.nextSeq;
      this.#link = link;
      const deadline = AbortSignal.timeout(this.#settings.switchDeadlineMs);
      const warm = this.#standby.take(candidate, link.inputFormat, this.#ledger.history);
      try {
        const session = warm ?? (await candidate.connect(this.#connectOptions(link.inputFormat, AbortSignal.any([this.#abort.signal, deadline]))));
        if (this.#closed) {
          await session.close();
          break;
        }
        const framesHeld = this.#ledger.nextSeq - liveFromSeq;
        if (framesHeld > 0) lastSeq = this.#ledger.nextSeq - 1;
        firstSeq ??= framesHeld > 0 ? liveFromSeq : undefined;
        this.#adopt(link, session, warm !== undefined);
        attempts.push({ provider: candidate.name, ok: true, durationMs: Math.round(performance.now() - ta), ...(warm ? { warm: true } : {}) });
        void old.retire({ closeSession: true }).catch(() => undefined);
        if (this.#ledger.pendingTurns > 0) this.#armResponseTimer();
        this.#refreshStandby();
        return this.#finish({ from, to: candidate.name, reason, startedAt, t0, framesHeld, framesReplayed: replay.frames, turnsReplayed: replay.turns, firstSeq, lastSeq, result: 'ok', attempts });
      } catch (err) {
        attempts.push({ provider: candidate.name, ok: false, error: isGatewayError(err) ? err.code : (err as Error).message, durationMs: Math.round(performance.now() - ta) });
        this.#log.warn({ event: 'switch_attempt_failed', from, to: candidate.name, err }, 'switch attempt failed');
        await link.retire({ closeSession: true });
      }
    }

    // Nothing took the call. A manual switch returns to the provider it came from, which still works.
    if ((reason === 'manual' || reason === 'recovery') && old.session && !old.retired && !this.#closed) {
      const back = this.#newLink(old.provider);
      const missed = this.#ledger.entries(heldFromSeq);
      back.replay(missed);
      this.#link = back;
      const session = old.session;
      await old.retire({ closeSession: false });
      // Its event loop never stopped: making it heard again is all it takes.
      this.#adopt(back, session, true);
      return this.#finish({ from, to: from, reason, startedAt, t0, framesHeld: missed.length, framesReplayed: 0, turnsReplayed: 0, firstSeq: undefined, lastSeq: undefined, result: 'rolled_back', attempts });
    }
    const record = this.#finish({ from, to: 'none', reason, startedAt, t0, framesHeld: 0, framesReplayed: 0, turnsReplayed: 0, firstSeq: undefined, lastSeq: undefined, result: 'failed', attempts });
    void this.#allDown(old);
    return record;
  }

  async #allDown(old: ProviderLink): Promise<void> {
    this.#log.error({ event: 'all_providers_down' }, 'no provider can take the call; apologising and hanging up');
    await old.retire({ closeSession: true }).catch(() => undefined);
    this.#events.push({ type: 'allDown' });
  }

  #finish(r: Omit<SwitchRecord, 'startedAt' | 'finishedAt' | 'durationMs'> & { startedAt: Date; t0: number }): SwitchRecord {
    const durationMs = performance.now() - r.t0;
    const record: SwitchRecord = {
      from: r.from,
      to: r.to,
      reason: r.reason,
      startedAt: r.startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: Math.round(durationMs * 10) / 10,
      framesHeld: r.framesHeld,
      framesReplayed: r.framesReplayed,
      turnsReplayed: r.turnsReplayed,
      firstSeq: r.firstSeq,
      lastSeq: r.lastSeq,
      result: r.result,
      attempts: r.attempts,
    };
    this.#records.push(record);
    const { metrics } = this.#opts;
    metrics.providerSwitchesTotal.inc({ from: r.from, to: r.to, reason: r.reason, result: r.result });
    metrics.providerSwitchDurationSeconds.observe({ result: r.result }, durationMs / 1000);
    this.#log[r.result === 'ok' ? 'info' : 'warn']({ event: 'switch_finished', ...record }, `provider switch ${r.from} -> ${r.to}: ${r.result}`);
    return record;
  }

  /** Keep one connected session on the next provider in order (STANDBY=1); replaced if it drops. */
  #refreshStandby(delayMs = 0): void {
    if (!this.#settings.standby || this.#closed || this.#standby.scheduled) return;
    const next = fallbackOrder(this.#opts.providers, this.provider, new Set())[0];
    if (this.#standby.provider === next) return;
    this.#standby.drop();
    if (!next) return;
    const inputFormat = negotiateInput(this.#opts.wire, next.inputFormats);
    // The conversation is handed over when the standby takes the call (appendHistory).
    void this.#standby.connect(next, this.#connectOptions(inputFormat, this.#abort.signal, []), delayMs).then((session) => {
      if (session === 'failed') return this.#refreshStandby(1000);
      if (!session) return;
      if (this.#closed || this.#standby.provider || next.name === this.provider) {
        void session.close();
        return;
      }
      this.#standby.hold({ provider: next, session, inputFormat });
      // Watched from now on, so a drop is noticed; heard only once it takes the call.
      void this.#pump(session);
    });
  }
}
