/**
 * Who speaks when, for one call. A caller turn end asks the provider to answer; caller speech over a
 * reply is a barge-in (clear the carrier, drop our egress queue, interrupt the provider, record how
 * much was heard); a switch of provider cuts the reply the caller hears the same way; a provider's
 * goodbye is waited out until it has played. Which turns still need an answer (the replay ring) is the
 * failover session's business: this module only tells it what happened.
 */
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { AudioFrame, EncodedFrame } from '../pipeline/frame.js';
import type { TurnEvent } from '../pipeline/vad/turn-detector.js';
import type { TurnInfo } from '../providers/types.js';
import type { BargeIn } from './call-types.js';
import type { FailoverEvent } from './failover-session.js';

/** A provider's goodbye plays out before the hangup, but a stuck playout never keeps a call up past this. */
export const GOODBYE_MAX_WAIT_MS = 15_000;
const GOODBYE_POLL_MS = 50;

/** What turn-taking plays replies through (the call's Egress). */
export interface Playout {
  readonly playing: boolean;
  readonly currentResponseId: string | undefined;
  heardMs(responseId: string): number;
  /** Drop everything queued; returns the frames dropped. */
  clear(): number;
  pushAudio(frame: AudioFrame | EncodedFrame, responseId: string): void;
  endResponse(responseId: string): void;
}

/** What turn-taking tells the provider side (the call's FailoverSession). */
export interface TurnPeer {
  endTurn(turn: TurnInfo): void;
  interrupt(info: { responseId: string; heardMs: number }): void;
  interruptOutgoing(info: { responseId: string; heardMs: number }): void;
}

export interface TurnTakingOptions {
  readonly playout: Playout;
  /** Tells the far end to drop what it has buffered (the transport's `clear`). */
  readonly carrier: { sendClear(): void };
  readonly peer: TurnPeer;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export class TurnTaking {
  readonly #playout: Playout;
  readonly #carrier: { sendClear(): void };
  readonly #peer: TurnPeer;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #bargeIns: BargeIn[] = [];
  readonly #replyLatencyMs: number[] = [];
  #turns = 0;
  /** performance.now() at the last caller turn end, until the first audio of the reply to it. */
  #turnEndedAt: number | undefined;
  #lastResponseId: string | undefined;
  /** Between a provider's responseStart and its responseDone. */
  #replyOpen = false;
  #goodbyeRequested = false;
  #goodbyeTimer: NodeJS.Timeout | undefined;
  #goodbyeDone: ((played: boolean) => void) | undefined;
  #closed = false;

  constructor(opts: TurnTakingOptions) {
    this.#playout = opts.playout;
    this.#carrier = opts.carrier;
    this.#peer = opts.peer;
    this.#metrics = opts.metrics;
    this.#log = opts.logger;
  }

  get turns(): number {
    return this.#turns;
  }

  get bargeIns(): readonly BargeIn[] {
    return this.#bargeIns;
  }

  /** From each caller turn end to the first audio of its reply, in ms. */
  get replyLatencyMs(): readonly number[] {
    return this.#replyLatencyMs;
  }

  /** Our VAD: speech started (a barge-in if a reply plays) or a turn ended (ask for the answer). */
  onTurnEvent(e: TurnEvent): void {
    if (this.#closed) return;
    // The reaction: the VAD's confirmation (media time, real time for a live call) and the deciding score's wait.
    if (e.type === 'speechStart') return this.callerSpeechStarted(e.timestampMs, e.confirmedAtMs - e.onsetMs + (e.scoringLagMs ?? 0));
    this.#turns++;
    this.#turnEndedAt = performance.now();
    this.#metrics.turnsTotal.inc();
    this.#log.debug({ event: 'turn_end', startMs: e.startMs, endMs: e.timestampMs }, 'caller turn ended');
    this.#peer.endTurn({ startMs: e.startMs, endMs: e.timestampMs });
  }

  /**
   * The caller started speaking at `atMs` (our VAD, or the provider's in server VAD modes).
   * `reactionMs`, from our VAD only: how long after the caller's first speech window this runs, so the
   * clear below goes out that long after the caller began (the carrier's own buffer drops at once).
   */
  callerSpeechStarted(atMs: number, reactionMs?: number): void {
    if (this.#closed || !this.#playout.playing) return;
    const { responseId, heardMs, framesDropped } = this.#cut('barge_in');
    this.#metrics.bargeInsTotal.inc();
    if (reactionMs !== undefined) this.#metrics.bargeInReactionSeconds.observe(reactionMs / 1000);
    this.#peer.interrupt({ responseId, heardMs });
    const record: BargeIn = { atMs, responseId, heardMs, framesDropped, ...(reactionMs === undefined ? {} : { reactionMs: Math.round(reactionMs) }) };
    this.#bargeIns.push(record);
    this.#log.info({ event: 'barge_in', ...record }, 'caller spoke over the reply');
  }

  /** The provider side's events that concern who speaks; the rest are the call's. */
  onProviderEvent(ev: FailoverEvent, mediaTimeMs: number): void {
    if (ev.type === 'responseStart') this.replyStarted(ev.responseId);
    else if (ev.type === 'audio') this.replyAudio(ev.frame, ev.responseId);
    else if (ev.type === 'responseDone') this.replyDone(ev.responseId);
    // Provider-side VAD (server VAD modes) heard the caller: the same barge-in as our own VAD.
    else if (ev.type === 'speechStarted') this.callerSpeechStarted(mediaTimeMs);
    else if (ev.type === 'switchStarted') this.switchStarted();
  }

  replyStarted(responseId: string): void {
    this.#lastResponseId = responseId;
    this.#replyOpen = true;
  }

  replyAudio(frame: AudioFrame | EncodedFrame, responseId: string): void {
    if (this.#turnEndedAt !== undefined) {
      this.#replyLatencyMs.push(Math.round(performance.now() - this.#turnEndedAt));
      this.#turnEndedAt = undefined;
    }
    this.#playout.pushAudio(frame, responseId);
  }

  replyDone(responseId: string): void {
    this.#replyOpen = false;
    this.#playout.endResponse(responseId);
  }

  /** The provider is being switched: its reply in progress ends here, cut where the caller is. */
  switchStarted(): void {
    this.#replyOpen = false; // the old provider's responseDone will not come
    if (!this.#playout.playing) return;
    const { responseId, heardMs } = this.#cut('switch');
    this.#peer.interruptOutgoing({ responseId, heardMs });
  }

  /**
   * The provider ends the call: resolves true once its reply is complete and has played to the caller
   * (or GOODBYE_MAX_WAIT_MS has passed); false if the call ended first or a goodbye was already asked.
   */
  goodbye(reason: string): Promise<boolean> {
    if (this.#goodbyeRequested || this.#closed) return Promise.resolve(false);
    this.#goodbyeRequested = true;
    this.#log.info({ event: 'provider_hangup', reason }, 'the provider ends the call once its goodbye has played');
    const deadline = performance.now() + GOODBYE_MAX_WAIT_MS;
    return new Promise((resolve) => {
      this.#goodbyeDone = resolve;
      const check = (): void => {
        this.#goodbyeTimer = undefined;
        if (this.#closed) return;
        if ((this.#replyOpen || this.#playout.playing) && performance.now() < deadline) {
          this.#goodbyeTimer = setTimeout(check, GOODBYE_POLL_MS);
          return;
        }
        this.#goodbyeDone = undefined;
        resolve(true);
      };
      this.#goodbyeTimer = setTimeout(check, GOODBYE_POLL_MS);
    });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#goodbyeTimer);
    this.#goodbyeDone?.(false);
    this.#goodbyeDone = undefined;
  }

  /** Stop the reply the caller hears: the carrier drops its buffer, we drop our queue. */
  #cut(stage: 'barge_in' | 'switch'): { responseId: string; heardMs: number; framesDropped: number } {
    const responseId = this.#playout.currentResponseId ?? this.#lastResponseId ?? '';
    const heardMs = this.#playout.heardMs(responseId);
    this.#carrier.sendClear();
    const framesDropped = this.#playout.clear();
    if (framesDropped > 0) this.#metrics.framesDroppedTotal.inc({ stage }, framesDropped);
    return { responseId, heardMs, framesDropped };
  }
}
