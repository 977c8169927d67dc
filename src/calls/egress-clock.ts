/**
 * The process's egress clock (issue 16): one timer on the frame period paces every call's egress,
 * instead of a timer per call. Each tick, every egress with audio queued writes the frames that have
 * come due, all of them together (so a socket can be corked once for them).
 *
 * Ticks fall on a fixed schedule, origin + k x frameMs, on a monotonic clock: each timeout is set for
 * the next scheduled time from the time it is set, so timer lateness never adds up (drift correction).
 * A tick that runs late stands for every scheduled tick that has passed: frames due by then go out,
 * and none that are due later. The clock runs only while some egress has audio queued; an idle gateway
 * has no timer at all (the next reply's first frames go out at once, from the egress itself, and the
 * clock restarts then).
 *
 * An egress's frame comes due when the audio ahead of the caller falls to the lead; it is written on
 * the last tick at or before that moment, so the caller's buffer never dips below the lead between
 * ticks (at the cost of up to one frame more audio ahead at a barge-in, which a carrier that drops
 * its buffer on `clear` never plays).
 *
 * A tick's time can also come while the event loop is busy reading sockets: after a pause (a GC,
 * the machine's other work) every caller's frames wait to be read, and libuv runs all those reads
 * before it gets round to timers, 20-60 ms at 100 calls, with every call's egress held. So a caller's
 * frame, as it arrives, runs a tick whose timer is late (`runIfDue`); the timer then waits for the
 * next one. The schedule and what a tick sends are the same either way.
 *
 * Made once in `gateway.ts` and passed down (call manager -> call -> egress); time and timers are
 * injected, so tests step it by hand.
 */

/** Where the clock's timer is set: `setTimeout` in the gateway, a hand-stepped double in tests. */
export interface ClockScheduler {
  set(fn: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

/** What the clock drives: an egress with audio queued. */
export interface ClockMember {
  /**
   * A tick: write what is due by `dueBy`, the latest scheduled tick time that has been reached (a late
   * tick's `dueBy` covers the ticks it missed).
   */
  onTick(dueBy: number): void;
}

export interface EgressClockOptions {
  /** The tick period: the egress frame duration (20 ms). */
  readonly frameMs?: number;
  /** Monotonic milliseconds (performance.now by default). */
  readonly now?: () => number;
  readonly scheduler?: ClockScheduler;
  /**
   * A member threw during a tick: it is taken off the clock (its call is broken, not the others), and
   * the error goes here. Without it the error is rethrown after the tick, as a per-call timer's was.
   */
  readonly onError?: (err: unknown) => void;
  /** Ticks run, by what ran them (plain counts, folded into a metric at scrape time). */
  readonly counts?: { readonly timer: TickCount; readonly callerMedia: TickCount };
}

export interface TickCount {
  count: number;
}

const timers: ClockScheduler = {
  set: (fn, delayMs) => setTimeout(fn, delayMs),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Float slack when comparing times computed by adding frame durations to different origins. */
const EPSILON_MS = 1e-6;
/**
 * How late a tick's timer must be before a caller frame runs the tick: on a loop with time to spare a
 * timer fires within a millisecond, and a frame read just then leaves the tick to it.
 */
const BEHIND_MS = 1;

export class EgressClock {
  readonly #frameMs: number;
  readonly #now: () => number;
  readonly #scheduler: ClockScheduler;
  readonly #onError: ((err: unknown) => void) | undefined;
  readonly #counts: { readonly timer: TickCount; readonly callerMedia: TickCount };
  readonly #members = new Set<ClockMember>();
  #timer: unknown;
  #running = false;
  #ticking = false;
  /** The schedule: ticks at #origin + k x #frameMs. */
  #origin = 0;
  #nextAt = 0;
  /** The scheduled time of the last tick that ran (its dueBy), since the clock last started. */
  #lastDueBy = -Infinity;
  #ticks = 0;

  constructor(opts: EgressClockOptions = {}) {
    this.#frameMs = opts.frameMs ?? 20;
    if (!(this.#frameMs > 0)) throw new RangeError(`egress clock: frameMs must be > 0 (got ${String(opts.frameMs)})`);
    this.#now = opts.now ?? (() => performance.now());
    this.#scheduler = opts.scheduler ?? timers;
    this.#onError = opts.onError;
    this.#counts = opts.counts ?? { timer: { count: 0 }, callerMedia: { count: 0 } };
  }

  get frameMs(): number {
    return this.#frameMs;
  }

  now(): number {
    return this.#now();
  }

  /** Egresses with audio queued. */
  get members(): number {
    return this.#members.size;
  }

  /** A timer is set (false when idle). */
  get running(): boolean {
    return this.#running;
  }

  /** Ticks run since the clock was made. */
  get ticks(): number {
    return this.#ticks;
  }

  /**
   * The last scheduled tick at or before `t`: where a frame that comes due at `t` is written (see the
   * header). While idle there is no schedule, and `t` itself is returned.
   */
  tickAtOrBefore(t: number): number {
    if (!this.#running) return t;
    const k = Math.floor((t - this.#origin) / this.#frameMs + EPSILON_MS);
    return this.#origin + k * this.#frameMs;
  }

  /**
   * The first scheduled tick at or after `t`. While idle there is no schedule, and `t` itself is
   * returned.
   */
  tickFor(t: number): number {
    if (!this.#running) return t;
    const k = Math.ceil((t - this.#origin) / this.#frameMs - EPSILON_MS);
    return this.#origin + k * this.#frameMs;
  }

  /**
   * The latest scheduled tick reached at `t`: the last one at or before it, or the one that has just
   * run early (Node may fire a timeout before its time), whichever is later. What an egress off the
   * clock measures its due frames against: a frame whose tick has run, early or not, goes now, not a
   * tick late. While idle, `t` itself.
   */
  tickReached(t: number): number {
    if (!this.#running) return t;
    return Math.max(this.tickAtOrBefore(t), this.#lastDueBy);
  }

  /** Start pacing `member` (no-op if it is already paced). The clock starts if it was idle. */
  add(member: ClockMember): void {
    if (this.#members.has(member)) return;
    this.#members.add(member);
    if (this.#running) return;
    this.#running = true;
    const now = this.#now();
    this.#origin = now;
    this.#nextAt = now + this.#frameMs;
    this.#lastDueBy = -Infinity;
    this.#timer = this.#scheduler.set(this.#onTimer, this.#frameMs);
  }

  /** Stop pacing `member`; with no member left the timer is cleared. */
  remove(member: ClockMember): void {
    if (!this.#members.delete(member) || this.#members.size > 0) return;
    // During a tick the tick itself stops the clock at its end (a member may still join before then).
    if (!this.#ticking) this.#stop();
  }

  /** Drop every member and the timer (gateway shutdown). */
  close(): void {
    this.#members.clear();
    this.#stop();
  }

  #stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#scheduler.clear(this.#timer);
    this.#timer = undefined;
  }

  /**
   * A caller's frame arrived at `now`: if the next tick's timer is over a millisecond late (the loop is
   * busy reading), the tick runs now and its timer is set for the one after. Otherwise nothing; one
   * comparison, on every caller frame.
   */
  runIfDue(now: number): void {
    if (now < this.#nextAt + BEHIND_MS || !this.#running || this.#ticking) return;
    if (this.#timer !== undefined) this.#scheduler.clear(this.#timer);
    this.#counts.callerMedia.count++;
    this.#run();
  }

  readonly #onTimer = (): void => {
    this.#counts.timer.count++;
    this.#run();
  };

  #run(): void {
    this.#timer = undefined;
    this.#ticks++;
    const now = this.#now();
    // Node may fire a timeout a little before the time asked (its loop time is cached): the tick it was
    // set for counts as reached. Late by a period or more: every tick passed since counts.
    const passed = this.#origin + Math.floor((now - this.#origin) / this.#frameMs + EPSILON_MS) * this.#frameMs;
    const dueBy = Math.max(this.#nextAt, passed);
    this.#lastDueBy = dueBy;
    let failure: { err: unknown } | undefined;
    this.#ticking = true;
    try {
      // A Set visits members added during the walk and skips those removed before their turn.
      for (const member of this.#members) {
        try {
          member.onTick(dueBy);
        } catch (err) {
          this.#members.delete(member);
          if (this.#onError) this.#onError(err);
          else failure ??= { err };
        }
      }
    } finally {
      this.#ticking = false;
    }
    if (this.#members.size === 0) this.#stop();
    else {
      // The next scheduled time, timed from now (after this tick's writes): lateness does not carry over.
      // If that time has passed already, the next tick runs at once and catches up.
      this.#nextAt = dueBy + this.#frameMs;
      this.#timer = this.#scheduler.set(this.#onTimer, Math.max(0, this.#nextAt - this.#now()));
    }
    if (failure) throw failure.err;
  }
}
