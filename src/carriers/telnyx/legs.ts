/**
 * Telnyx Call Control legs we answered or dialled. Unlike a TwiML <Connect><Stream> or a TeXML call,
 * a Call Control leg does not end when our media socket closes: it lives until it gets a `hangup`
 * command (Telnyx's default call time limit is 4 hours of dead air). So every way a call ends on our
 * side (shutdown drain, all providers down, a provider goodbye, the API, our socket dropping, a
 * stream that never opens or whose token has expired, an inbound codec we cannot decode) hangs the
 * leg up here, once, with the reason logged.
 *
 * One hangup per leg: the first request is kept and every later one awaits it; the command carries
 * a command_id fixed per call, so even a retry Telnyx already executed runs once there.
 */
import type { Logger } from '../../observability/logger.js';
import { isCallGone, type TelnyxCallControl } from './call-control.js';

/** Reasons that mean the carrier already ended the call: nothing to hang up. */
const CARRIER_ENDED = new Set(['carrier_hangup', 'caller_hangup']);

export class CarrierLegs {
  readonly #telnyx: TelnyxCallControl | undefined;
  readonly #log: Logger;
  /** Legs answered or dialled whose media stream has not started: hung up if it never does. */
  readonly #waiting = new Map<string, NodeJS.Timeout>();
  readonly #hangups = new Map<string, { reason: string; done: Promise<void> }>();
  readonly #inFlight = new Set<Promise<void>>();

  constructor(opts: { telnyx: TelnyxCallControl | undefined; logger: Logger }) {
    this.#telnyx = opts.telnyx;
    this.#log = opts.logger.child({ component: 'carrier_legs' });
  }

  /** A leg now waits for its stream; hung up ('stream_not_opened') if none starts within `withinMs`. */
  awaitStream(callControlId: string, withinMs: number): void {
    clearTimeout(this.#waiting.get(callControlId));
    const timer = setTimeout(() => {
      this.#waiting.delete(callControlId);
      void this.hangup(callControlId, 'stream_not_opened').catch(() => undefined);
    }, withinMs);
    timer.unref();
    this.#waiting.set(callControlId, timer);
  }

  /** Its stream started: no watchdog any more. */
  streaming(callControlId: string): void {
    clearTimeout(this.#waiting.get(callControlId));
    this.#waiting.delete(callControlId);
  }

  /** The reason a leg was hung up for, if it was. */
  hungUpFor(callControlId: string): string | undefined {
    return this.#hangups.get(callControlId)?.reason;
  }

  /**
   * Hang the leg up through Call Control (once). Resolves when Telnyx accepted it or says the call
   * is already over; rejects with the carrier's error otherwise (the API hangup reports it).
   */
  hangup(callControlId: string, reason: string): Promise<void> {
    this.streaming(callControlId);
    const known = this.#hangups.get(callControlId);
    if (known) return known.done;
    const telnyx = this.#telnyx;
    const done = (async () => {
      if (!telnyx) {
        this.#log.error({ event: 'carrier_hangup_impossible', carrierCallId: callControlId, reason }, 'a Call Control leg ended on our side but TELNYX_API_KEY is not set: it stays up at Telnyx');
        return;
      }
      try {
        await telnyx.hangup(callControlId);
        this.#log.info({ event: 'carrier_hangup', carrier: 'telnyx', carrierCallId: callControlId, reason }, 'Call Control leg hung up');
      } catch (err) {
        if (isCallGone(err)) {
          this.#log.info({ event: 'carrier_hangup', carrier: 'telnyx', carrierCallId: callControlId, reason, gone: true }, 'Call Control leg had already ended');
          return;
        }
        // A failed hangup may be tried again (by the API); forget it so the next one goes out.
        this.#hangups.delete(callControlId);
        this.#log.warn({ event: 'carrier_hangup_failed', carrier: 'telnyx', carrierCallId: callControlId, reason, err }, 'Call Control hangup failed');
        throw err;
      }
    })();
    this.#hangups.set(callControlId, { reason, done });
    const tracked = done.catch(() => undefined).finally(() => this.#inFlight.delete(tracked));
    this.#inFlight.add(tracked);
    // Keep the record small: a leg's entry is only needed while the call's end paths run.
    const forget = setTimeout(() => this.#hangups.delete(callControlId), 60_000);
    forget.unref();
    return done;
  }

  /** The call ended on our side with `reason`: hang its leg up unless the carrier ended it. */
  ended(callControlId: string, reason: string): void {
    if (CARRIER_ENDED.has(reason)) {
      this.streaming(callControlId);
      return;
    }
    this.hangup(callControlId, reason).catch(() => undefined);
  }

  /** Shutting down: stop watchdogs and let hangups in flight finish (bounded). */
  async close(waitMs = 2000): Promise<void> {
    for (const t of this.#waiting.values()) clearTimeout(t);
    this.#waiting.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.#inFlight]), new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }
}
