/**
 * One caller. Owns the ingress graph (decode -> VAD tap -> resample -> provider sink), the provider
 * session, the egress queue and the turn logic that ties them: a caller turn end asks the provider to
 * answer; caller speech over a reply is a barge-in (clear the carrier, drop our queue, interrupt the
 * provider, record how much was heard).
 */
import { createHistogram } from 'node:perf_hooks';
import { isGatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { TallySlot } from '../observability/tally.js';
import { pcmCodec, pcmFormatOf } from '../pipeline/codecs/wire-codec.js';
import type { AudioFormat, AudioFrame } from '../pipeline/frame.js';
import { Resampler } from '../pipeline/resample/resampler.js';
import { fallingTone } from '../pipeline/tones.js';
import type { WireFrame } from '../pipeline/stages.js';
import type { CallVad } from '../pipeline/vad/call-vad.js';
import type { TurnEvent } from '../pipeline/vad/turn-detector.js';
import type { ConversationTurn, Provider, ProviderConnectOptions, ProviderSession, TurnInfo } from '../providers/types.js';
import type { BargeIn, CallOptions, CallSnapshot, CallState, CallTransport, TranscriptEntry } from './call-types.js';
import { negotiateInput } from './call-types.js';
import { DtmfGate, MAX_DTMF_RECORDED } from './dtmf-digit.js';
import { Egress } from './egress.js';
import { DEFAULT_FAILOVER, type FailoverSettings, type SwitchReason, type SwitchRecord } from './failover.js';
import { FrameRing } from './frame-ring.js';
import { ProviderLink } from './provider-link.js';
import { ProviderSwitcher, type SwitchHost } from './switcher.js';

export * from './call-types.js';

const IDLE_KEEP_FRAMES = 50; // 1 s of lead-in kept while nobody speaks, so a turn's start is never trimmed
/** A provider's goodbye plays out before the hangup, but a stuck playout never keeps a call up past this. */
const GOODBYE_MAX_WAIT_MS = 15_000;
/** Egress lead for a far end that keeps its buffer on `clear` (the lead before EGRESS_LEAD_MS grew to 250 ms). */
export const SHORT_EGRESS_LEAD_MS = 60;
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
  /** framesInTotal / framesOutTotal for this call's transport, bumped per frame (see observability/tally.ts). */
  readonly #framesInSlot: TallySlot;
  readonly #framesOutSlot: TallySlot;
  readonly #ring = new FrameRing(RING_FRAMES);
  readonly #bargeIns: BargeIn[] = [];
  readonly #dtmf: { digit: string; atMs: number; direction: 'in' | 'out' }[] = [];
  readonly #dtmfGate: DtmfGate;
  readonly #transcripts: TranscriptEntry[] = [];
  /** The conversation as text, turns the provider finished answering; what a new provider is given. */
  readonly #history: ConversationTurn[] = [];
  /** Final transcripts of the turn being answered, committed to history when the answer completes. */
  #pendingHistory: ConversationTurn[] = [];
  /** Turns the provider finished answering whose reply the caller has not yet heard to the end. */
  #answeredNotPlayed = 0;
  readonly #providersUsed: string[] = [];
  readonly #ingressLatency = createHistogram({ lowest: 1, highest: 60_000_000_000, figures: 2 });
  readonly #replyLatencyMs: number[] = [];
  readonly #abort = new AbortController();
  readonly #unsubscribe: (() => void)[] = [];
  #link: ProviderLink;
  /** The session whose events reach the caller; none while a switch is in progress. */
  #activeSession: ProviderSession | undefined;
  readonly #switcher: ProviderSwitcher;
  #turnEndedAt: number | undefined;
  #responseTimer: NodeJS.Timeout | undefined;
  /** The active session showed a sign of life since the turn the timer waits on ended. */
  #lifeSinceTurn = false;
  /**
   * The provider acknowledged a turn since the caller's last turn ended. A provider that takes turns
   * as they come (the Deepgram agent) may acknowledge the next turn while the previous reply still
   * plays; the deadline armed when that reply is done must not forget it.
   */
  #ackedSinceLastTurn = false;
  #lastResponseId: string | undefined;
  /** Between a provider's responseStart and its responseDone. */
  #replyOpen = false;
  #goodbyeRequested = false;
  #goodbyeTimer: NodeJS.Timeout | undefined;
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
    this.#dtmfGate = new DtmfGate({ metrics: opts.metrics, logger: opts.logger });
    this.#framesInSlot = opts.metrics.framesInTally.slot({ transport: opts.transport.name });
    this.#framesOutSlot = opts.metrics.framesOutTally.slot({ transport: opts.transport.name });
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
    this.#switcher = new ProviderSwitcher(this.#switchHost());
    this.#egress = new Egress({
      format: wire,
      sink: {
        sendMedia: (payload) => {
          this.#transport.sendMedia(payload);
          this.#framesOutSlot.count++;
        },
        sendMark: (name) => this.#transport.sendMark(name),
        cork: () => this.#transport.cork?.(),
        uncork: () => this.#transport.uncork?.(),
      },
      clock: opts.egressClock,
      leadMs: opts.transport.dropsBufferOnClear ? opts.media.egressLeadMs : Math.min(opts.media.egressLeadMs, SHORT_EGRESS_LEAD_MS),
      maxQueueMs: opts.media.egressMaxQueueMs,
      onDrop: (n) => this.#drop('egress_overflow', n),
      onFirstFrame: (ms) => opts.metrics.latency.recordSince('egress', performance.now() - ms),
      onPacingJitter: (ms) => opts.metrics.latency.recordPacingJitter(ms),
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
    return this.#switcher.switching;
  }

  #drop(stage: string, n: number): void {
    this.#framesDropped += n;
    this.#opts.metrics.framesDroppedTotal.inc({ stage }, n);
  }

  #newLink(provider: Provider): ProviderLink {
    const link: ProviderLink = new ProviderLink({
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
      onError: (err) => this.#onGraphFailed(link, err),
      maxHeldFrames: RING_FRAMES,
    });
    return link;
  }

  /**
   * The live link's stream graph died (a stage threw): every later frame would be dropped, so the
   * call is ended, with a reason, through call control (the carrier leg hangs up and the record says
   * why), never left as a silent line.
   */
  #onGraphFailed(link: ProviderLink, err: Error): void {
    if (link !== this.#link || this.#isOver()) {
      this.#log.debug({ event: 'ingress_error', err }, 'a retired ingress graph failed');
      return;
    }
    this.#opts.metrics.callGraphFailuresTotal.inc();
    this.#log.error({ event: 'ingress_failed', err }, 'ingress graph failed; hanging up rather than leaving a silent line');
    if (this.#opts.onProviderHangup) this.#opts.onProviderHangup(this.id, 'ingress_failed');
    else void this.end('ingress_failed');
  }

  #connectOptions(inputFormat: AudioFormat, signal: AbortSignal, history: readonly ConversationTurn[] = this.#history): ProviderConnectOptions {
    return {
      callId: this.id,
      inputFormat,
      callerFormat: pcmFormatOf(this.#transport.format),
      instructions: this.#opts.instructions,
      history: [...history],
      logger: this.#log,
      signal,
    };
  }

  /** Connect the first provider and start relaying. Frames that arrive meanwhile are held. */
  async start(): Promise<void> {
    // An open breaker stops new sessions only: this call keeps a session that still works, and
    // switches when its own session fails (see guard.ts).
    const link = this.#link;
    try {
      const session = await link.provider.connect(this.#connectOptions(link.inputFormat, this.#abort.signal));
      if (this.#isOver()) {
        await session.close();
        return;
      }
      this.#adopt(link, session);
      this.#switcher.refreshStandby();
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
    if (this.#providersUsed.at(-1) !== session.provider || !relayRunning) this.#providersUsed.push(session.provider);
    if (!relayRunning) void this.#relay(session);
  }

  /** One media payload from the transport; `receivedAtMs` is performance.now() at its message event. */
  handleMedia(payload: Uint8Array, receivedAtMs = performance.now()): void {
    if (this.#isOver()) return;
    const rate = this.#transport.format.sampleRate;
    const timestampMs = (this.#samplesIn * 1000) / rate;
    this.#samplesIn += pcmCodec(this.#transport.format.codec).bytesPerSample === 2 ? payload.length >> 1 : payload.length;
    this.#framesIn++;
    this.#framesInSlot.count++;
    const frame: WireFrame = { payload, seq: this.#seq++, timestampMs, receivedAtMs };
    this.#ring.push({ kind: 'frame', frame });
    if (this.#ring.pendingTurns === 0 && !this.#vad.speaking) this.#ring.trimIdle(IDLE_KEEP_FRAMES);
    this.#link.write(frame);
  }

  handleMark(name: string): void {
    this.#egress.onMark(name);
  }

  handleDtmf(digit: string): void {
    // Only one keypad key per event, at a human pace, into a bounded record; the gate counts and logs.
    if (!this.#dtmfGate.admit(digit, this.#dtmf.length)) return;
    this.#dtmf.push({ digit, atMs: Math.round(this.mediaTimeMs), direction: 'in' });
    if (this.#opts.dtmfToProvider !== false) this.#link.session?.sendText?.(`The caller pressed ${digit} on the keypad.`);
  }

  /** Caller media time now: how much caller audio has arrived, in ms. */
  get mediaTimeMs(): number {
    return (this.#samplesIn * 1000) / this.#transport.format.sampleRate;
  }

  /** Note digits we sent toward the caller (the route does the sending). */
  recordDtmfOut(digits: string): void {
    for (const digit of digits) if (this.#dtmf.length < MAX_DTMF_RECORDED) this.#dtmf.push({ digit, atMs: Math.round(this.mediaTimeMs), direction: 'out' });
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
    this.#ackedSinceLastTurn = false;
    this.#opts.metrics.turnsTotal.inc();
    this.#log.debug({ event: 'turn_end', startMs: e.startMs, endMs: e.timestampMs }, 'caller turn ended');
    const turn: TurnInfo = { startMs: e.startMs, endMs: e.timestampMs };
    // The caller has moved on: answers already given count as taken, heard to the end or not.
    while (this.#answeredNotPlayed > 0) this.#acceptTurn();
    this.#ring.push({ kind: 'turnEnd', turn, afterSeq: this.#seq - 1 });
    this.#link.endTurn(turn);
    this.#armResponseTimer();
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
    const silentMs = this.#failover.responseTimeoutByProviderMs?.[provider] ?? this.#failover.responseTimeoutMs;
    const replyMs = Math.max(silentMs, this.#failover.replyTimeoutMs ?? DEFAULT_FAILOVER.replyTimeoutMs ?? silentMs);
    const giveUp = (phase: 'silent' | 'reply') => {
      this.#responseTimer = undefined;
      if (this.#isOver() || this.#switcher.switching || !this.#link.session) return;
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
          if (this.#switcher.isStandby(session) && (ev.type === 'closed' || (ev.type === 'error' && ev.fatal))) this.#switcher.standbyLost();
          continue;
        }
        // Any event from the active session is a sign of life (see #armResponseTimer).
        this.#lifeSinceTurn = true;
        switch (ev.type) {
          case 'ack':
            if (!ev.empty) this.#ackedSinceLastTurn = true;
            // An empty turn (nothing to answer) is done with; it is not a failure.
            if (ev.empty && this.#ring.pendingTurns > this.#answeredNotPlayed) {
              this.#providerSpoke();
              // Accepted now if nothing before it waits to be heard; else with those, when they have played.
              if (this.#answeredNotPlayed === 0) this.#acceptTurn();
              else this.#answeredNotPlayed++;
              if (this.#ring.pendingTurns > this.#answeredNotPlayed) this.#armResponseTimer();
            }
            break;
          case 'unknownEvent':
            break;
          case 'responseStart':
            this.#providerSpoke();
            this.#lastResponseId = ev.responseId;
            this.#replyOpen = true;
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
            this.#replyOpen = false;
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
            // A refusal of our own request (origin 'request') is our bug: never a failover.
            if (ev.origin === 'request' && !ev.fatal) break;
            if (ev.fatal || (this.#responseTimer !== undefined && ev.error.code !== 'GW_ERR_PROVIDER_PROTOCOL')) void this.switchProvider('provider_error');
            break;
          case 'hangup':
            this.#hangUpAfterGoodbye(ev.reason);
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

  /** The provider ends the call: once its reply is complete and has played to the caller, hang up. */
  #hangUpAfterGoodbye(reason: string): void {
    if (this.#goodbyeRequested || this.#isOver()) return;
    this.#goodbyeRequested = true;
    this.#log.info({ event: 'provider_hangup', reason }, 'the provider ends the call once its goodbye has played');
    const deadline = performance.now() + GOODBYE_MAX_WAIT_MS;
    const check = (): void => {
      this.#goodbyeTimer = undefined;
      if (this.#isOver()) return;
      if ((this.#replyOpen || this.#egress.playing) && performance.now() < deadline) {
        this.#goodbyeTimer = setTimeout(check, 50);
        return;
      }
      if (this.#opts.onProviderHangup) this.#opts.onProviderHangup(this.id, 'provider_goodbye');
      else void this.end('provider_goodbye');
    };
    this.#goodbyeTimer = setTimeout(check, 50);
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
    if (!preferred || preferred.name === this.provider || this.#switcher.switching || this.#vad.speaking) return;
    const currentIndex = providers.findIndex((p) => p.name === this.provider);
    if (currentIndex > providers.indexOf(preferred)) void this.switchProvider('recovery', preferred.name);
  }

  /**
   * Move the call to another provider without losing a frame (see switcher.ts). Never throws;
   * resolves with the switch record.
   */
  switchProvider(reason: SwitchReason, target?: string): Promise<SwitchRecord> {
    return this.#switcher.switchProvider(reason, target);
  }

  /** What the switcher needs of this call, and nothing more. */
  #switchHost(): SwitchHost {
    return {
      log: this.#log,
      metrics: this.#opts.metrics,
      signal: this.#abort.signal,
      providers: this.#opts.providers ?? [this.#opts.provider],
      settings: this.#failover,
      isOver: () => this.#isOver(),
      link: () => this.#link,
      setLink: (link) => {
        this.#link = link;
      },
      newLink: (provider) => this.#newLink(provider),
      unaccepted: (fromSeq) => this.#ring.entries(fromSeq),
      nextSeq: () => this.#seq,
      pendingTurns: () => this.#ring.pendingTurns,
      history: () => this.#history,
      inputFormatFor: (provider) => negotiateInput(this.#transport.format, provider.inputFormats),
      connectOptions: (inputFormat, signal, history) => this.#connectOptions(inputFormat, signal, history),
      quiesce: (old) => this.#quiesce(old),
      adopt: (link, session, relayRunning) => this.#adopt(link, session, relayRunning),
      watch: (session) => void this.#relay(session),
      armResponseTimer: () => this.#armResponseTimer(),
      allProvidersDown: (old) => this.#allProvidersDown(old),
    };
  }

  /** A switch begins: nothing the old provider says reaches the caller, and a reply in progress ends cleanly. */
  #quiesce(old: ProviderLink): void {
    this.#providerSpoke();
    this.#activeSession = undefined;
    this.#replyOpen = false; // the old provider's responseDone will not reach us
    // Answers the caller has not heard to the end are asked again of the new provider.
    this.#answeredNotPlayed = 0;
    this.#pendingHistory = [];
    if (!this.#egress.playing) return;
    const responseId = this.#egress.currentResponseId ?? this.#lastResponseId ?? '';
    const heardMs = this.#egress.heardMs(responseId);
    this.#transport.sendClear();
    const dropped = this.#egress.clear();
    if (dropped > 0) this.#opts.metrics.framesDroppedTotal.inc({ stage: 'switch' }, dropped);
    try {
      old.session?.interrupt({ responseId, heardMs });
    } catch {
      /* the old provider may be the broken one */
    }
  }

  /** Every provider is down: a short falling tone (the caller hears that something ended), then hang up. */
  async #allProvidersDown(old: ProviderLink): Promise<void> {
    this.#log.error({ event: 'all_providers_down' }, 'no provider can take the call; apologising and hanging up');
    await old.retire({ closeSession: true }).catch(() => undefined);
    const rate = this.#transport.format.sampleRate;
    this.playAudio({ samples: fallingTone(rate), sampleRate: rate, seq: 0, timestampMs: 0 }, 'apology');
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
    clearTimeout(this.#goodbyeTimer);
    this.#providerSpoke();
    for (const u of this.#unsubscribe) u();
    await this.#switcher.close();
    this.#vad.close();
    this.#egress.close();
    await this.#link.finish().catch((err: unknown) => this.#log.warn({ event: 'provider_close_failed', err }, 'provider close failed'));
    this.#transport.close(1000, reason);
    this.#state = 'ended';
    this.#endedAt = new Date();
    this.#log.info(
      { event: 'call_ended', reason, carrierCallId: this.carrierCallId, framesIn: this.#framesIn, framesOut: this.#egress.framesSent, framesDropped: this.#framesDropped, turns: this.#turns, switches: this.#switcher.records.length },
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
      switches: [...this.#switcher.records],
      switching: this.#switcher.switching,
    };
  }

  /** The conversation so far as given to a new provider (for tests and the API). */
  get history(): readonly ConversationTurn[] {
    return this.#history;
  }
}
