/**
 * Turns from per-window speech probabilities: a pure, synchronous state machine (tests feed it
 * arrays). Same rules as silero-vad's streaming iterator, plus a minimum speech duration:
 *
 * - a turn may start when a window reaches `startThreshold`; it is confirmed (speechStart) once the
 *   probability has stayed at or above `stopThreshold` for `minSpeechMs`, so clicks do not count;
 * - speechStart's timestamp is the start of the first speech window minus `speechPadMs` (never
 *   before the previous turn's end), so the onset of the first word is inside the turn;
 * - once speaking, a window below `stopThreshold` starts a silence; the silence is cancelled only
 *   by a window back at `startThreshold` (hysteresis), and after `minSilenceMs` the turn ends
 *   (speechEnd) at the silence start plus `speechPadMs`.
 *
 * All times are call media time in ms; `windowEndMs` is the media time just after the window.
 */
import { GatewayError } from '../../errors.js';

export interface TurnOptions {
  /** Probability at which speech may start. */
  startThreshold: number;
  /** Probability below which speech may end (< startThreshold: hysteresis). */
  stopThreshold: number;
  /** Speech must last this long before speechStart is emitted. */
  minSpeechMs: number;
  /** Silence must last this long to end a turn (pauses inside an utterance are shorter). */
  minSilenceMs: number;
  /** Padding added before the start and after the end of speech. */
  speechPadMs: number;
}

/**
 * Silero's own defaults (start 0.5, stop 0.5 - 0.15, minimum speech 250 ms, padding 30 ms) except
 * minimum silence: Silero's 100 ms splits a sentence at every breath, so a turn ends after 500 ms of
 * silence (voice-agent practice; the fixture utterances pause for at most ~200 ms inside and are
 * ~1.2 s apart, so anything from ~300 to ~1000 ms separates them). The end of a turn is then known
 * 500 ms after the speech stops, which is the latency the echo provider and barge-in logic see.
 */
export const DEFAULT_TURN_OPTIONS: Readonly<TurnOptions> = Object.freeze({
  startThreshold: 0.5,
  stopThreshold: 0.35,
  minSpeechMs: 250,
  minSilenceMs: 500,
  speechPadMs: 30,
});

export type TurnEvent =
  | {
      type: 'speechStart';
      /** The turn's start: the first speech window's start less the padding. */
      timestampMs: number;
      probability: number;
      /** The first speech window's start, unpadded: where the VAD first heard the caller. */
      onsetMs: number;
      /** The end of the window that confirmed the turn: the media time the decision was made at. */
      confirmedAtMs: number;
      /**
       * Wall-clock ms the confirming window waited for its score after its last sample arrived (a
       * Silero batch and worker round trip; about 0 for the energy VAD). Set by CallVad, never by
       * this pure detector.
       */
      scoringLagMs?: number;
    }
  | { type: 'speechEnd'; timestampMs: number; startMs: number; durationMs: number };

const enum Phase {
  Silence,
  Pending,
  Speech,
}

/** Returned when a window changes nothing: no allocation per window on the hot path. */
const NO_EVENTS: readonly TurnEvent[] = Object.freeze([]);

export function resolveTurnOptions(options: Partial<TurnOptions> = {}): TurnOptions {
  const o: TurnOptions = { ...DEFAULT_TURN_OPTIONS, ...options };
  const valid =
    o.stopThreshold > 0 &&
    o.stopThreshold <= o.startThreshold &&
    o.startThreshold <= 1 &&
    o.minSpeechMs >= 0 &&
    o.minSilenceMs >= 0 &&
    o.speechPadMs >= 0 &&
    o.speechPadMs <= o.minSilenceMs;
  if (!valid) {
    throw new GatewayError(
      'GW_ERR_CONFIG_INVALID',
      `turn options need 0 < stop <= start <= 1 and 0 <= speechPad <= minSilence: ${JSON.stringify(o)}`,
    );
  }
  return o;
}

export class TurnDetector {
  readonly options: Readonly<TurnOptions>;
  readonly windowMs: number;
  #phase = Phase.Silence;
  #candidateStartMs = 0;
  #turnStartMs = 0;
  /** Start of the current silence inside a turn, NaN when none. */
  #silenceStartMs = Number.NaN;
  #previousEndMs = 0;
  #lastProbability = 0;

  constructor(options: Partial<TurnOptions> & { windowMs: number }) {
    if (!(options.windowMs > 0)) {
      throw new GatewayError('GW_ERR_CONFIG_INVALID', `windowMs must be positive, got ${String(options.windowMs)}`);
    }
    this.windowMs = options.windowMs;
    this.options = Object.freeze(resolveTurnOptions(options));
  }

  /** True between speechStart and speechEnd. */
  get speaking(): boolean {
    return this.#phase === Phase.Speech;
  }

  /** The probability of the last window seen (for debugging and dashboards). */
  get lastProbability(): number {
    return this.#lastProbability;
  }

  process(probability: number, windowEndMs: number): readonly TurnEvent[] {
    const o = this.options;
    const windowStartMs = windowEndMs - this.windowMs;
    this.#lastProbability = probability;

    if (this.#phase === Phase.Silence) {
      if (probability < o.startThreshold) return NO_EVENTS;
      this.#phase = Phase.Pending;
      this.#candidateStartMs = windowStartMs;
    } else if (this.#phase === Phase.Pending && probability < o.stopThreshold) {
      this.#phase = Phase.Silence;
      return NO_EVENTS;
    }

    if (this.#phase === Phase.Pending) {
      if (windowEndMs - this.#candidateStartMs < o.minSpeechMs) return NO_EVENTS;
      this.#phase = Phase.Speech;
      this.#silenceStartMs = Number.NaN;
      this.#turnStartMs = Math.max(this.#candidateStartMs - o.speechPadMs, this.#previousEndMs, 0);
      return [{ type: 'speechStart', timestampMs: this.#turnStartMs, probability, onsetMs: this.#candidateStartMs, confirmedAtMs: windowEndMs }];
    }

    // Speaking.
    if (probability >= o.startThreshold) {
      this.#silenceStartMs = Number.NaN;
      return NO_EVENTS;
    }
    if (probability < o.stopThreshold && Number.isNaN(this.#silenceStartMs)) this.#silenceStartMs = windowStartMs;
    if (Number.isNaN(this.#silenceStartMs) || windowEndMs - this.#silenceStartMs < o.minSilenceMs) return NO_EVENTS;
    return [this.#end(Math.min(this.#silenceStartMs + o.speechPadMs, windowEndMs))];
  }

  /**
   * End of the stream at `endMs`: closes a turn still open (at its silence start plus padding if a
   * silence had begun, else at `endMs`). An unconfirmed candidate is dropped.
   */
  finish(endMs: number): readonly TurnEvent[] {
    if (this.#phase === Phase.Pending) this.#phase = Phase.Silence;
    if (this.#phase !== Phase.Speech) return NO_EVENTS;
    const silence = this.#silenceStartMs;
    const end = Number.isNaN(silence) ? endMs : Math.min(silence + this.options.speechPadMs, endMs);
    return [this.#end(Math.max(end, this.#turnStartMs))];
  }

  #end(endMs: number): TurnEvent {
    this.#phase = Phase.Silence;
    this.#silenceStartMs = Number.NaN;
    this.#previousEndMs = endMs;
    return { type: 'speechEnd', timestampMs: endMs, startMs: this.#turnStartMs, durationMs: endMs - this.#turnStartMs };
  }
}
