/**
 * One caller. Owns the ingress graph (decode -> VAD tap -> resample -> provider sink), the provider
 * session, the egress queue and the turn logic that ties them: a caller turn end asks the provider to
 * answer; caller speech over a reply is a barge-in (clear the carrier, drop our queue, interrupt the
 * provider, record how much was heard).
 */
import { createHistogram } from 'node:perf_hooks';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { AudioFrame, WireFormat } from '../pipeline/frame.js';
import { pcmFormatOf, type TransportName } from '../transports/media-events.js';
import { Resampler } from '../pipeline/resample/resampler.js';
import { isPassthrough } from '../pipeline/ingress-graph.js';
import type { CallVad } from '../pipeline/vad/call-vad.js';
import type { TurnEvent } from '../pipeline/vad/turn-detector.js';
import type { VadService } from '../pipeline/vad/vad-service.js';
import type { AudioFormat } from '../pipeline/frame.js';
import type { ConversationTurn, Provider, ProviderSession, TurnInfo } from '../providers/types.js';
import { isGatewayError } from '../errors.js';
import { Egress } from './egress.js';
import { pcmCodec } from '../pipeline/codecs/wire-codec.js';
import { ProviderLink } from './provider-link.js';
import { FrameRing } from './frame-ring.js';
import { DEFAULT_FAILOVER, fallbackOrder, type FailoverSettings, type GuardedLike, type SwitchAttempt, type SwitchReason, type SwitchRecord } from './failover.js';
import type { WireFrame } from '../pipeline/stages.js';

export interface CallTransport {
  readonly name: TransportName;
  readonly format: WireFormat;
  sendMedia(payload: Uint8Array): void;
  sendMark(name: string): void;
  sendClear(): void;
  /** Close the media connection (for Twilio: the TwiML after <Connect> runs). */
  close(code?: number, reason?: string): void;
}

export interface CallOptions {
  readonly id: string;
  readonly carrierCallId: string;
  readonly correlationId: string;
  readonly transport: CallTransport;
  /** The provider to start on. */
  readonly provider: Provider;
  /** Every configured provider, in PROVIDERS order: the failover candidates. */
  readonly providers?: readonly GuardedLike[];
  readonly failover?: FailoverSettings;
  readonly vad: VadService;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly media: { egressLeadMs: number; egressMaxQueueMs: number };
  readonly customParameters?: Record<string, string>;
  readonly instructions?: string;
  readonly direction?: 'inbound' | 'outbound';
  readonly from?: string;
  readonly to?: string;
  readonly metadata?: Record<string, unknown>;
  /** Caller key presses go to the provider as text ("The caller pressed 5."). */
  readonly dtmfToProvider?: boolean;
  readonly onEnded?: (call: Call) => void;
}

export interface BargeIn {
  readonly atMs: number;
  readonly responseId: string;
  readonly heardMs: number;
  readonly framesDropped: number;
}

export type CallState = 'connecting' | 'active' | 'ending' | 'ended';

export interface TranscriptEntry {
  role: 'user' | 'assistant';
  text: string;
  /** Call media time when it was received. */
  atMs: number;
  provider: string;
}

export interface CallSnapshot {
  callId: string;
  carrierCallId: string;
  correlationId: string;
  direction: 'inbound' | 'outbound';
  from: string | undefined;
  to: string | undefined;
  metadata: Record<string, unknown> | undefined;
  transport: string;
  codec: string;
  sampleRate: number;
  provider: string;
  state: CallState;
  startedAt: string;
  endedAt: string | undefined;
  endReason: string | undefined;
  framesIn: number;
  framesOut: number;
  framesDropped: number;
  turns: number;
  bargeIns: BargeIn[];
  dtmf: { digit: string; atMs: number; direction: 'in' | 'out' }[];
  vadEngine: string;
  providersUsed: string[];
  transcripts: TranscriptEntry[];
  latency: { ingressP50Ms: number; ingressP99Ms: number; ingressMaxMs: number; replyLatencyMs: number[] };
  switches: SwitchRecord[];
  switching: boolean;
}

/** Choose what the provider gets: the carrier codec untouched if it takes it, else PCM16 at its first rate. */
export function negotiateInput(wire: WireFormat, accepted: readonly AudioFormat[]): AudioFormat {
  const direct = accepted.find((f) => isPassthrough(wire, f));
  if (direct) return direct;
  return accepted.find((f) => f.codec === 'pcm16') ?? { codec: 'pcm16', sampleRate: wire.sampleRate };
}

const IDLE_KEEP_FRAMES = 50; // 1 s of lead-in kept while nobody speaks, so a turn's start is never trimmed
const RING_FRAMES = 2048; // ~40 s of 20 ms frames: the longest turn a failover can replay whole

export class Call {
  readonly id: string;
  readonly carrierCallId: string;
  readonly correlationId: string;
  readonly startedAt = new Date();
  readonly #opts: CallOptions;
  readonly #failover: FailoverSettings;
  readonly #log: Logger;
  readonly #transport: CallTransport;
  readonly #egress: Egress;
  readonly #vad: CallVad;
  readonly #onVadPcm: (pcm: AudioFrame) => void;
  readonly #ring = new FrameRing(RING_FRAMES);
  readonly #bargeIns: BargeIn[] = [];
  readonly #dtmf: { digit: string; atMs: number; direction: 'in' | 'out' }[] = [];
  readonly #transcripts: TranscriptEntry[] = [];
  /** The conversation as text, turns the provider finished answering; what a new provider is given. */
  readonly #history: ConversationTurn[] = [];
  /** Final transcripts of the turn being answered, committed to history when the answer completes. */
  #pendingHistory: ConversationTurn[] = [];
  /** Turns the provider finished answering whose reply the caller has not yet heard to the end. */
  #answeredNotPlayed = 0;
  readonly #providersUsed: string[] = [];
  readonly #switches: SwitchRecord[] = [];
  readonly #ingressLatency = createHistogram({ lowest: 1, highest: 60_000_000_000, figures: 2 });
  readonly #replyLatencyMs: number[] = [];
  readonly #abort = new AbortController();
  readonly #unsubscribe: (() => void)[] = [];
  #link: ProviderLink;
  /** The session whose events reach the caller; none while a switch is in progress. */
  #activeSession: ProviderSession | undefined;
  /** A warm session on the next provider (STANDBY=1), its relay loop already running. */
  #standby: { provider: GuardedLike; session: ProviderSession; inputFormat: AudioFormat } | undefined;
  #standbyTimer: NodeJS.Timeout | undefined;
  #switching: Promise<SwitchRecord> | undefined;
  #turnEndedAt: number | undefined;
  #responseTimer: NodeJS.Timeout | undefined;
  #lastResponseId: string | undefined;
  #state: CallState = 'connecting';
  #endedAt: Date | undefined;
  #endReason: string | undefined;
  #seq = 0;
  #samplesIn = 0;
  #framesIn = 0;
  #framesDropped = 0;
  #turns = 0;
  #ended: Promise<void> | undefined;

  constructor(opts: CallOptions) {
    this.#opts = opts;
    this.#failover = opts.failover ?? DEFAULT_FAILOVER;
    this.id = opts.id;
    this.carrierCallId = opts.carrierCallId;
    this.correlationId = opts.correlationId;
    this.#transport = opts.transport;
    this.#log = opts.logger;
    const wire = opts.transport.format;
    // Silero runs at 8 or 16 kHz: telephony audio goes in as it is, anything else is brought to 16 kHz.
    const vadRate = wire.sampleRate === 8000 || wire.sampleRate === 16000 ? wire.sampleRate : 16000;
    const vadResampler = vadRate === wire.sampleRate ? undefined : new Resampler({ from: wire.sampleRate, to: vadRate });
    this.#vad = opts.vad.createCallVad({ callId: this.id, sampleRate: vadRate, onEvent: (e) => this.#onTurnEvent(e), logger: this.#log });
    // The resampler's filter delay shifts VAD time a few ms late; turn timestamps stay in caller media time.
    const vadDelayMs = vadResampler?.delayMs ?? 0;
    this.#onVadPcm = (pcm: AudioFrame) => {
      if (!vadResampler) this.#vad.push(pcm.samples, pcm.timestampMs);
      else {
        const samples = vadResampler.process(pcm.samples);
        if (samples.length > 0) this.#vad.push(samples, Math.max(0, pcm.timestampMs - vadDelayMs));
      }
    };
    this.#link = this.#newLink(opts.provider);
    this.#egress = new Egress({
      format: wire,
      sink: {
        sendMedia: (payload) => {
          this.#transport.sendMedia(payload);
          opts.metrics.framesOutTotal.inc({ transport: this.#transport.name });
        },
        sendMark: (name) => this.#transport.sendMark(name),
      },
      leadMs: opts.media.egressLeadMs,
      maxQueueMs: opts.media.egressMaxQueueMs,
      onDrop: (n) => this.#drop('egress_overflow', n),
      onFirstFrame: (ms) => opts.metrics.latency.recordSince('egress', performance.now() - ms),
      onPlayed: () => {
        if (this.#answeredNotPlayed > 0) this.#acceptTurn();
      },
    });
    const fixed = opts.metrics.latency.fixedDelayMs;
    if (this.#link.fixedDelayMs > 0) {
      fixed.set(`ingress_resample_${String(wire.sampleRate)}_${String(this.#link.inputFormat.sampleRate)}`, this.#link.fixedDelayMs);
    }
    // Silero scores 32 ms windows at both rates (256 samples at 8 kHz, 512 at 16 kHz).
    fixed.set(`vad_window_${String(vadRate)}`, 32);
  }

  get state(): CallState {
    return this.#state;
  }

  get inputFormat(): AudioFormat {
    return this.#link.inputFormat;
  }

  get provider(): string {
    return this.#link.provider.name;
  }

  get switching(): boolean {
    return this.#switching !== undefined;
  }

  #drop(stage: string, n: number): void {
    this.#framesDropped += n;
    this.#opts.metrics.framesDroppedTotal.inc({ stage }, n);
  }

  #newLink(provider: Provider): ProviderLink {
    return new ProviderLink({
      provider,
      inputFormat: negotiateInput(this.#transport.format, provider.inputFormats),
      wire: this.#transport.format,
      onPcm: this.#onVadPcm,
      onDelivered: (receivedAtMs) => {
        this.#opts.metrics.latency.recordSince('ingress', receivedAtMs);
        const ns = Math.round((performance.now() - receivedAtMs) * 1e6);
        this.#ingressLatency.record(ns > 0 ? ns : 1);
      },
      onDrop: (stage, n) => this.#drop(stage, n),
      onError: (err) => this.#log.error({ event: 'ingress_error', err }, 'ingress graph failed'),
      maxHeldFrames: RING_FRAMES,
    });
  }

  #connectOptions(link: ProviderLink, signal: AbortSignal) {
    return {
      callId: this.id,
      inputFormat: link.inputFormat,
      callerFormat: pcmFormatOf(this.#transport.format),
      instructions: this.#opts.instructions,
      history: [...this.#history],
      logger: this.#log,
      signal,
    };
  }

  /** Connect the first provider and start relaying. Frames that arrive meanwhile are held. */
  async start(): Promise<void> {
    for (const p of this.#opts.providers ?? []) {
      if (p.onOpen) {
        this.#unsubscribe.push(
          p.onOpen(() => {
            if (this.#link.provider.name === p.name && this.#link.session) void this.switchProvider('breaker_open');
          }),
        );
      }
    }
    const link = this.#link;
    try {
      const session = await link.provider.connect(this.#connectOptions(link, this.#abort.signal));
      if (this.#isOver()) {
        await session.close();
        return;
      }
      this.#adopt(link, session);
      this.#state = 'active';
    } catch (err) {
      this.#log.warn({ event: 'provider_connect_failed', provider: link.provider.name, code: isGatewayError(err) ? err.code : undefined }, 'first provider failed to connect');
      if (this.#isOver()) return;
      const record = await this.switchProvider('connect_failed');
      if (record.result === 'ok') this.#state = 'active';
    }
  }

  #isOver(): boolean {
    return this.#state === 'ending' || this.#state === 'ended';
  }

  #adopt(link: ProviderLink, session: ProviderSession, relayRunning = false): void {
    link.attach(session);
    this.#activeSession = session;
    this.#providersUsed.push(session.provider);
    if (!relayRunning) void this.#relay(session);
    this.#refreshStandby();
  }

  /** Keep one connected session on the next provider in order (STANDBY=1); replaced if it drops. */
  #refreshStandby(delayMs = 0): void {
    if (!this.#failover.standby || this.#isOver() || this.#standbyTimer) return;
    const next = fallbackOrder(this.#opts.providers ?? [], this.provider, new Set())[0];
    if (this.#standby && this.#standby.provider === next) return;
    const stale = this.#standby;
    this.#standby = undefined;
    if (stale) void stale.session.close().catch(() => undefined);
    if (!next) return;
    this.#standbyTimer = setTimeout(() => {
      this.#standbyTimer = undefined;
      if (this.#isOver() || this.#standby) return;
      const inputFormat = negotiateInput(this.#transport.format, next.inputFormats);
      next
        .connect({
          callId: this.id,
          inputFormat,
          callerFormat: pcmFormatOf(this.#transport.format),
          instructions: this.#opts.instructions,
          // The conversation is handed over when the standby takes the call (appendHistory).
          history: [],
          logger: this.#log,
          signal: this.#abort.signal,
        })
        .then(
          (session) => {
            if (this.#isOver() || this.#standby || next.name === this.provider) {
              void session.close();
              return;
            }
            this.#standby = { provider: next, session, inputFormat };
            this.#log.debug({ event: 'standby_ready', provider: next.name }, 'warm standby connected');
            void this.#relay(session);
          },
          (err: unknown) => {
            this.#log.warn({ event: 'standby_failed', provider: next.name, code: isGatewayError(err) ? err.code : undefined }, 'warm standby failed to connect');
            this.#refreshStandby(1000);
          },
        );
    }, delayMs);
    this.#standbyTimer.unref();
  }

  /** Take the warm standby for `provider` if it is usable now. */
  #takeStandby(provider: GuardedLike, link: ProviderLink): ProviderSession | undefined {
    const sb = this.#standby;
    if (!sb || sb.provider !== provider || sb.inputFormat.codec !== link.inputFormat.codec || sb.inputFormat.sampleRate !== link.inputFormat.sampleRate) return undefined;
    if (this.#history.length > 0) {
      if (!sb.session.appendHistory) return undefined;
      sb.session.appendHistory([...this.#history]);
    }
    this.#standby = undefined;
    return sb.session;
  }

  /** One media payload from the transport; `receivedAtMs` is performance.now() at its message event. */
  handleMedia(payload: Uint8Array, receivedAtMs = performance.now()): void {
    if (this.#isOver()) return;
    const rate = this.#transport.format.sampleRate;
    const timestampMs = (this.#samplesIn * 1000) / rate;
    this.#samplesIn += pcmCodec(this.#transport.format.codec).bytesPerSample === 2 ? payload.length >> 1 : payload.length;
    this.#framesIn++;
    this.#opts.metrics.framesInTotal.inc({ transport: this.#transport.name });
    const frame: WireFrame = { payload, seq: this.#seq++, timestampMs, receivedAtMs };
    this.#ring.push({ kind: 'frame', frame });
    if (this.#ring.pendingTurns === 0 && !this.#vad.speaking) this.#ring.trimIdle(IDLE_KEEP_FRAMES);
    this.#link.write(frame);
  }

  handleMark(name: string): void {
    this.#egress.onMark(name);
  }

  handleDtmf(digit: string): void {
    this.#dtmf.push({ digit, atMs: Math.round(this.mediaTimeMs), direction: 'in' });
    this.#log.info({ event: 'dtmf', digit }, 'caller pressed a key');
    if (this.#opts.dtmfToProvider !== false) this.#link.session?.sendText?.(`The caller pressed ${digit} on the keypad.`);
  }

  /** Caller media time now: how much caller audio has arrived, in ms. */
  get mediaTimeMs(): number {
    return (this.#samplesIn * 1000) / this.#transport.format.sampleRate;
  }

  /** Note digits we sent toward the caller (the route does the sending). */
  recordDtmfOut(digits: string): void {
    for (const digit of digits) this.#dtmf.push({ digit, atMs: Math.round(this.mediaTimeMs), direction: 'out' });
  }

  /** Play audio to the caller outside any provider reply (tones, prompts), paced like a reply. */
  playAudio(frame: AudioFrame, label: string): void {
    const id = `${label}:${String(this.#seq)}`;
    this.#egress.pushAudio(frame, id);
    this.#egress.endResponse(id);
  }

  #onTurnEvent(e: TurnEvent): void {
    if (this.#isOver()) return;
    if (e.type === 'speechStart') {
      if (this.#egress.playing) this.#bargeIn(e.timestampMs);
      return;
    }
    this.#turns++;
    this.#turnEndedAt = performance.now();
    this.#opts.metrics.turnsTotal.inc();
    this.#log.debug({ event: 'turn_end', startMs: e.startMs, endMs: e.timestampMs }, 'caller turn ended');
    const turn: TurnInfo = { startMs: e.startMs, endMs: e.timestampMs };
    // The caller has moved on: answers already given count as taken, heard to the end or not.
    while (this.#answeredNotPlayed > 0) this.#acceptTurn();
    this.#ring.push({ kind: 'turnEnd', turn, afterSeq: this.#seq - 1 });
    this.#link.endTurn(turn);
    this.#armResponseTimer();
  }

  /** A provider that says nothing after a turn end is as good as down. */
  #armResponseTimer(): void {
    if (this.#responseTimer) return;
    this.#responseTimer = setTimeout(() => {
      this.#responseTimer = undefined;
      if (this.#isOver() || this.#switching || !this.#link.session) return;
      this.#log.warn({ event: 'provider_silent', provider: this.provider, timeoutMs: this.#failover.responseTimeoutMs }, 'provider did not answer the turn in time');
      void this.switchProvider('provider_silent');
    }, this.#failover.responseTimeoutMs);
  }

  #providerSpoke(): void {
    if (this.#responseTimer) {
      clearTimeout(this.#responseTimer);
      this.#responseTimer = undefined;
    }
  }

  #bargeIn(atMs: number): void {
    const responseId = this.#egress.currentResponseId ?? this.#lastResponseId ?? '';
    const heardMs = this.#egress.heardMs(responseId);
    this.#transport.sendClear();
    const framesDropped = this.#egress.clear();
    this.#opts.metrics.bargeInsTotal.inc();
    if (framesDropped > 0) this.#opts.metrics.framesDroppedTotal.inc({ stage: 'barge_in' }, framesDropped);
    this.#link.session?.interrupt({ responseId, heardMs });
    // The interrupted answer is over for the caller: its turn is not asked again after a failover.
    if (this.#answeredNotPlayed > 0 || this.#ring.pendingTurns > 0) this.#acceptTurn();
    const record = { atMs, responseId, heardMs, framesDropped };
    this.#bargeIns.push(record);
    this.#log.info({ event: 'barge_in', ...record }, 'caller spoke over the reply');
  }

  /** One loop per session for its whole life; only the active session's events reach the caller. */
  async #relay(session: ProviderSession): Promise<void> {
    try {
      for await (const ev of session.events) {
        if (this.#isOver()) break;
        // A session being switched away from may still talk (or be rolled back to): not to this caller now.
        if (session !== this.#activeSession) {
          if (session === this.#standby?.session && (ev.type === 'closed' || (ev.type === 'error' && ev.fatal))) {
            this.#standby = undefined;
            this.#refreshStandby(1000);
          }
          continue;
        }
        switch (ev.type) {
          case 'responseStart':
            this.#providerSpoke();
            this.#lastResponseId = ev.responseId;
            break;
          case 'audio':
            this.#providerSpoke();
            if (this.#turnEndedAt !== undefined) {
              this.#replyLatencyMs.push(Math.round(performance.now() - this.#turnEndedAt));
              this.#turnEndedAt = undefined;
            }
            this.#egress.pushAudio(ev.frame, ev.responseId);
            break;
          case 'responseDone':
            this.#providerSpoke();
            this.#egress.endResponse(ev.responseId);
            // The turn counts as accepted once the caller has heard the answer (end mark), not before:
            // a failover while the answer plays must have the next provider answer it again.
            if (this.#ring.pendingTurns > this.#answeredNotPlayed) this.#answeredNotPlayed++;
            if (this.#ring.pendingTurns > this.#answeredNotPlayed) this.#armResponseTimer();
            else if (this.#failover.failback) this.#maybeFailBack();
            break;
          case 'transcript':
            // Hearing the caller (a user transcript) is not answering: only the assistant's words count.
            if (ev.role === 'assistant') this.#providerSpoke();
            if (ev.final && ev.text.trim() !== '') {
              this.#transcripts.push({ role: ev.role, text: ev.text, atMs: Math.round(this.mediaTimeMs), provider: session.provider });
              this.#pendingHistory.push({ role: ev.role, text: ev.text });
            }
            break;
          case 'speechStarted':
            // Provider-side VAD (server VAD modes) heard the caller: same barge-in as our own VAD.
            if (this.#egress.playing) this.#bargeIn(this.mediaTimeMs);
            break;
          case 'speechStopped':
          case 'goAway':
            // goAway: adapters that can resume (Gemini) reconnect themselves; if they cannot, 'closed' follows.
            break;
          case 'error':
            // Fatal: the session is gone. Non-fatal while a turn waits for its answer: that answer is
            // not coming (the provider refused the request), so do not wait out the deadline.
            if (ev.fatal || (this.#responseTimer !== undefined && ev.error.code !== 'GW_ERR_PROVIDER_PROTOCOL')) void this.switchProvider('provider_error');
            break;
          case 'closed':
            void this.switchProvider('provider_closed');
            break;
        }
      }
    } catch (err) {
      this.#log.error({ event: 'provider_stream_failed', provider: session.provider, err }, 'provider event stream failed');
      if (session === this.#activeSession && !this.#isOver()) void this.switchProvider('provider_error');
    }
  }

  /** The oldest pending turn is done with: drop its audio from the replay ring, keep its text. */
  #acceptTurn(): void {
    this.#ring.acceptOldestTurn();
    if (this.#answeredNotPlayed > 0) this.#answeredNotPlayed--;
    this.#history.push(...this.#pendingHistory);
    this.#pendingHistory = [];
  }

  #maybeFailBack(): void {
    const providers = this.#opts.providers ?? [];
    // Only a provider whose breaker has closed again (another call's trial succeeded) is gone back to.
    const preferred = providers.find((p) => p.state === undefined || p.state === 'closed');
    if (!preferred || preferred.name === this.provider || this.#switching || this.#vad.speaking) return;
    const currentIndex = providers.findIndex((p) => p.name === this.provider);
    if (currentIndex > providers.indexOf(preferred)) void this.switchProvider('recovery', preferred.name);
  }

  /**
   * Move the call to another provider without losing a frame: new frames are held in order (in the new
   * link's sink), the unaccepted audio of the current turn is replayed ahead of them, the new provider
   * gets the conversation so far, and only when it is up is the old one let go. A manual switch to a
   * provider that fails rolls back; a failure-driven one tries the next candidate; when none is left,
   * the configured all-down outcome applies. Never throws; resolves with the switch record.
   */
  switchProvider(reason: SwitchReason, target?: string): Promise<SwitchRecord> {
    if (this.#switching) return this.#switching;
    const p = this.#doSwitch(reason, target).finally(() => {
      this.#switching = undefined;
    });
    this.#switching = p;
    return p;
  }

  async #doSwitch(reason: SwitchReason, target: string | undefined): Promise<SwitchRecord> {
    const { metrics } = this.#opts;
    const t0 = performance.now();
    const startedAt = new Date();
    const old = this.#link;
    const from = old.provider.name;
    const heldFromSeq = this.#seq;
    const providers = this.#opts.providers ?? [this.#opts.provider];
    let candidates: GuardedLike[];
    if (target !== undefined) {
      // The API checks the name first; an unknown one here simply finds no candidate and rolls back.
      candidates = providers.filter((p) => p.name === target);
    } else {
      candidates = fallbackOrder(providers, from, new Set());
    }
    this.#providerSpoke();
    this.#activeSession = undefined;
    // Answers the caller has not heard to the end are asked again of the new provider.
    this.#answeredNotPlayed = 0;
    this.#pendingHistory = [];
    this.#log.info({ event: 'switch_started', from, reason, candidates: candidates.map((c) => c.name) }, 'switching provider');

    // A reply in progress ends now, cleanly: the caller stops hearing it and the old provider stops it.
    if (this.#egress.playing) {
      const responseId = this.#egress.currentResponseId ?? this.#lastResponseId ?? '';
      const heardMs = this.#egress.heardMs(responseId);
      this.#transport.sendClear();
      const dropped = this.#egress.clear();
      if (dropped > 0) metrics.framesDroppedTotal.inc({ stage: 'switch' }, dropped);
      try {
        old.session?.interrupt({ responseId, heardMs });
      } catch {
        /* the old provider may be the broken one */
      }
    }

    const attempts: SwitchAttempt[] = [];
    for (const candidate of candidates) {
      if (this.#isOver()) break;
      const ta = performance.now();
      const link = this.#newLink(candidate);
      // Replay first, then point live frames at the new link: order is the ring's, then arrival.
      const replay = this.#ring.entries();
      let replayed = 0;
      let turnsReplayed = 0;
      let firstSeq: number | undefined;
      let lastSeq: number | undefined;
      for (const e of replay) {
        if (e.kind === 'frame') {
          link.write({ ...e.frame, replay: true });
          replayed++;
          firstSeq ??= e.frame.seq;
          lastSeq = e.frame.seq;
        } else {
          link.endTurn(e.turn);
          turnsReplayed++;
        }
      }
      const liveFromSeq = this.#seq;
      this.#link = link;
      const deadline = AbortSignal.timeout(this.#failover.switchDeadlineMs);
      const warm = this.#takeStandby(candidate, link);
      try {
        const session = warm ?? (await link.provider.connect(this.#connectOptions(link, AbortSignal.any([this.#abort.signal, deadline]))));
        if (this.#isOver()) {
          await session.close();
          break;
        }
        const framesHeld = this.#seq - liveFromSeq;
        if (framesHeld > 0) lastSeq = this.#seq - 1;
        firstSeq ??= framesHeld > 0 ? liveFromSeq : undefined;
        this.#adopt(link, session, warm !== undefined);
        attempts.push({ provider: candidate.name, ok: true, durationMs: Math.round(performance.now() - ta), ...(warm ? { warm: true } : {}) });
        void old.retire({ closeSession: true }).catch(() => undefined);
        if (this.#ring.pendingTurns > 0) this.#armResponseTimer();
        return this.#finishSwitch({ from, to: candidate.name, reason, startedAt, t0, framesHeld, framesReplayed: replayed, turnsReplayed, firstSeq, lastSeq, result: 'ok', attempts });
      } catch (err) {
        attempts.push({ provider: candidate.name, ok: false, error: isGatewayError(err) ? err.code : (err as Error).message, durationMs: Math.round(performance.now() - ta) });
        this.#log.warn({ event: 'switch_attempt_failed', from, to: candidate.name, err }, 'switch attempt failed');
        await link.retire({ closeSession: true });
      }
    }

    // Nothing took the call. A manual switch returns to the provider it came from, which still works.
    if (reason === 'manual' || reason === 'recovery') {
      if (old.session && !old.retired && !this.#isOver()) {
        const back = this.#newLink(old.provider);
        const missed = this.#ring.entries(heldFromSeq);
        for (const e of missed) {
          if (e.kind === 'frame') back.write({ ...e.frame, replay: true });
          else back.endTurn(e.turn);
        }
        this.#link = back;
        const session = old.session;
        await old.retire({ closeSession: false });
        // Its relay loop never stopped: making it active again is all it takes.
        back.attach(session);
        this.#activeSession = session;
        return this.#finishSwitch({ from, to: from, reason, startedAt, t0, framesHeld: missed.length, framesReplayed: 0, firstSeq: undefined, lastSeq: undefined, result: 'rolled_back', attempts });
      }
    }
    const record = this.#finishSwitch({ from, to: 'none', reason, startedAt, t0, framesHeld: 0, framesReplayed: 0, firstSeq: undefined, lastSeq: undefined, result: 'failed', attempts });
    void this.#allProvidersDown(old);
    return record;
  }

  #finishSwitch(r: {
    from: string;
    to: string;
    reason: SwitchReason;
    startedAt: Date;
    t0: number;
    framesHeld: number;
    framesReplayed: number;
    turnsReplayed?: number;
    firstSeq: number | undefined;
    lastSeq: number | undefined;
    result: SwitchRecord['result'];
    attempts: SwitchAttempt[];
  }): SwitchRecord {
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
      turnsReplayed: r.turnsReplayed ?? 0,
      firstSeq: r.firstSeq,
      lastSeq: r.lastSeq,
      result: r.result,
      attempts: r.attempts,
    };
    this.#switches.push(record);
    const { metrics } = this.#opts;
    metrics.providerSwitchesTotal.inc({ from: r.from, to: r.to, reason: r.reason, result: r.result });
    metrics.providerSwitchDurationSeconds.observe({ result: r.result }, durationMs / 1000);
    const level = r.result === 'ok' ? 'info' : 'warn';
    this.#log[level]({ event: 'switch_finished', ...record }, `provider switch ${r.from} -> ${r.to}: ${r.result}`);
    return record;
  }

  /** Every provider is down: a short falling tone (the caller hears that something ended), then hang up. */
  async #allProvidersDown(old: ProviderLink): Promise<void> {
    this.#log.error({ event: 'all_providers_down' }, 'no provider can take the call; apologising and hanging up');
    await old.retire({ closeSession: true }).catch(() => undefined);
    const rate = this.#transport.format.sampleRate;
    const tone = new Int16Array(Math.round(rate * 0.9));
    for (let i = 0; i < tone.length; i++) {
      const f = i < tone.length / 3 ? 660 : i < (2 * tone.length) / 3 ? 550 : 440;
      tone[i] = Math.round(6000 * Math.sin((2 * Math.PI * f * i) / rate));
    }
    this.playAudio({ samples: tone, sampleRate: rate, seq: 0, timestampMs: 0 }, 'apology');
    await new Promise((r) => setTimeout(r, 1000).unref());
    await this.end('all_providers_down');
  }

  /** End the call: flush what the graph holds to the provider, close everything, once. */
  end(reason: string): Promise<void> {
    this.#ended ??= this.#end(reason);
    return this.#ended;
  }

  async #end(reason: string): Promise<void> {
    this.#state = 'ending';
    this.#endReason = reason;
    this.#abort.abort();
    this.#providerSpoke();
    for (const u of this.#unsubscribe) u();
    if (this.#switching) await this.#switching.catch(() => undefined);
    if (this.#standbyTimer) clearTimeout(this.#standbyTimer);
    const standby = this.#standby;
    this.#standby = undefined;
    if (standby) await standby.session.close().catch(() => undefined);
    this.#vad.close();
    this.#egress.close();
    await this.#link.finish().catch((err: unknown) => this.#log.warn({ event: 'provider_close_failed', err }, 'provider close failed'));
    this.#transport.close(1000, reason);
    this.#state = 'ended';
    this.#endedAt = new Date();
    this.#log.info(
      { event: 'call_ended', reason, carrierCallId: this.carrierCallId, framesIn: this.#framesIn, framesOut: this.#egress.framesSent, framesDropped: this.#framesDropped, turns: this.#turns, switches: this.#switches.length },
      'call ended',
    );
    this.#opts.onEnded?.(this);
  }

  snapshot(): CallSnapshot {
    const wire = pcmFormatOf(this.#transport.format);
    const h = this.#ingressLatency;
    const ms = (ns: number) => Number((ns / 1e6).toFixed(3));
    return {
      callId: this.id,
      carrierCallId: this.carrierCallId,
      correlationId: this.correlationId,
      direction: this.#opts.direction ?? 'inbound',
      from: this.#opts.from,
      to: this.#opts.to,
      metadata: this.#opts.metadata,
      transport: this.#transport.name,
      codec: this.#transport.format.codec,
      sampleRate: wire.sampleRate,
      provider: this.#link.provider.name,
      state: this.#state,
      startedAt: this.startedAt.toISOString(),
      endedAt: this.#endedAt?.toISOString(),
      endReason: this.#endReason,
      framesIn: this.#framesIn,
      framesOut: this.#egress.framesSent,
      framesDropped: this.#framesDropped,
      turns: this.#turns,
      bargeIns: [...this.#bargeIns],
      dtmf: [...this.#dtmf],
      vadEngine: this.#vad.engine,
      providersUsed: [...this.#providersUsed],
      transcripts: [...this.#transcripts],
      latency: {
        ingressP50Ms: h.count ? ms(h.percentile(50)) : 0,
        ingressP99Ms: h.count ? ms(h.percentile(99)) : 0,
        ingressMaxMs: h.count ? ms(h.max) : 0,
        replyLatencyMs: [...this.#replyLatencyMs],
      },
      switches: [...this.#switches],
      switching: this.#switching !== undefined,
    };
  }

  /** The conversation so far as given to a new provider (for tests and the API). */
  get history(): readonly ConversationTurn[] {
    return this.#history;
  }
}
