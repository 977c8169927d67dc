/**
 * Admission of caller key presses. A carrier's media-stream `dtmf` event carries one detected key
 * (`{dtmf:{digit}}`, Twilio and Telnyx alike), and the keys that exist are the 16 DTMF events of
 * RFC 4733 section 3.2: "0"-"9", "*", "#", "A"-"D". Anything else, a 64 KB string for instance, is
 * not a key press: it is refused, counted and logged at a bounded rate, and never reaches the call
 * record, the log at full volume or the provider.
 *
 * Genuine key presses are bounded too: a person presses at most a few keys a second, so past
 * `maxPerSecond` presses are refused (a flood of valid digits would otherwise become a flood of
 * provider messages), and a call keeps at most `MAX_DTMF_RECORDED` of them in its record (the record
 * is rewritten every second while the call lives).
 */
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

/** One key of the DTMF keypad, nothing else (one character per event). */
const DTMF_DIGIT = /^[0-9*#A-D]$/;

/** Most key presses (in and out) one call record keeps; later ones are counted, not stored. */
export const MAX_DTMF_RECORDED = 256;
/** Most caller key presses accepted per second (people manage ~10). */
export const MAX_DTMF_PER_SECOND = 20;
/** Most DTMF log lines a call writes per second; the rest are counted in the next line written. */
const LOG_LINES_PER_SECOND = 5;

export type DtmfRejection = 'not_a_key' | 'too_fast' | 'record_full';

export function isDtmfDigit(digit: unknown): digit is string {
  return typeof digit === 'string' && DTMF_DIGIT.test(digit);
}

/** At most `perSecond` lines per second; says how many were held back since the last one allowed. */
export class LogRate {
  readonly #perSecond: number;
  #windowStart = -Infinity;
  #lines = 0;
  #suppressed = 0;

  constructor(perSecond: number) {
    this.#perSecond = perSecond;
  }

  /** The count of lines suppressed before this one if it may be written, else undefined. */
  take(nowMs: number): number | undefined {
    if (nowMs - this.#windowStart >= 1000) {
      this.#windowStart = nowMs;
      this.#lines = 0;
    }
    if (this.#lines >= this.#perSecond) {
      this.#suppressed++;
      return undefined;
    }
    this.#lines++;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return suppressed;
  }
}

export interface DtmfGateOptions {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly maxPerSecond?: number;
  readonly now?: () => number;
}

/** One call's gate for caller key presses: validates, paces, counts and logs (at a bounded rate). */
export class DtmfGate {
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #maxPerSecond: number;
  readonly #now: () => number;
  readonly #logRate = new LogRate(LOG_LINES_PER_SECOND);
  #windowStart = -Infinity;
  #inWindow = 0;
  #rejected = 0;

  constructor(opts: DtmfGateOptions) {
    this.#metrics = opts.metrics;
    this.#log = opts.logger;
    this.#maxPerSecond = opts.maxPerSecond ?? MAX_DTMF_PER_SECOND;
    this.#now = opts.now ?? Date.now;
  }

  /** Key presses refused on this call so far. */
  get rejected(): number {
    return this.#rejected;
  }

  /** True if `digit` is a key press the call should take, given how many it has recorded. */
  admit(digit: unknown, recorded: number): digit is string {
    const now = this.#now();
    let reason: DtmfRejection | undefined;
    if (!isDtmfDigit(digit)) reason = 'not_a_key';
    else if (recorded >= MAX_DTMF_RECORDED) reason = 'record_full';
    else {
      if (now - this.#windowStart >= 1000) {
        this.#windowStart = now;
        this.#inWindow = 0;
      }
      if (++this.#inWindow > this.#maxPerSecond) reason = 'too_fast';
    }
    const suppressed = this.#logRate.take(now);
    if (reason === undefined) {
      if (suppressed !== undefined) this.#log.info({ event: 'dtmf', digit, suppressedLines: suppressed }, 'caller pressed a key');
      return true;
    }
    this.#rejected++;
    this.#metrics.dtmfRejectedTotal.inc({ reason });
    if (suppressed !== undefined) {
      // Never the value itself: it may be 64 KB. Its type and length say enough.
      const length = typeof digit === 'string' ? digit.length : undefined;
      this.#log.warn({ event: 'dtmf_rejected', reason, type: typeof digit, length, rejected: this.#rejected, suppressedLines: suppressed }, 'caller key press refused');
    }
    return false;
  }
}

export interface DtmfEntry {
  readonly digit: string;
  /** Call media time, in ms. */
  readonly atMs: number;
  readonly direction: 'in' | 'out';
}

/** One call's key presses both ways, at most MAX_DTMF_RECORDED; the caller's pass the gate first. */
export class DtmfRecord {
  readonly #gate: DtmfGate;
  readonly #entries: DtmfEntry[] = [];

  constructor(opts: DtmfGateOptions) {
    this.#gate = new DtmfGate(opts);
  }

  get entries(): readonly DtmfEntry[] {
    return this.#entries;
  }

  /** A key from the caller: true if it was admitted (and recorded). */
  fromCaller(digit: string, atMs: number): boolean {
    if (!this.#gate.admit(digit, this.#entries.length)) return false;
    this.#entries.push({ digit, atMs, direction: 'in' });
    return true;
  }

  /** Digits we sent toward the caller. */
  toCaller(digits: string, atMs: number): void {
    for (const digit of digits) if (this.#entries.length < MAX_DTMF_RECORDED) this.#entries.push({ digit, atMs, direction: 'out' });
  }
}
