/**
 * Hand-stepped time for the egress clock: `now()` and a scheduler whose timers fire only when a test
 * advances time. `stall(ms)` moves time with no timer firing (a busy event loop), so lateness is exact.
 */
import type { ClockScheduler } from '../../src/calls/egress-clock.js';

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

export class ManualTime implements ClockScheduler {
  #t: number;
  #nextId = 1;
  #timers: Timer[] = [];
  /** Every delay a timer was set with, in order. */
  readonly delays: number[] = [];

  constructor(startMs = 0) {
    this.#t = startMs;
  }

  readonly now = (): number => this.#t;

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.length;
  }

  set(fn: () => void, delayMs: number): unknown {
    const timer = { id: this.#nextId++, at: this.#t + Math.max(0, delayMs), fn };
    this.delays.push(delayMs);
    this.#timers.push(timer);
    return timer.id;
  }

  clear(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  /** Time passes and nothing runs. */
  stall(ms: number): void {
    this.#t += ms;
  }

  /** Run the timers due within `ms`, in time order (each at its own time, or now if overdue), then stop at the end. */
  advance(ms: number): void {
    const end = this.#t + ms;
    for (;;) {
      let first: Timer | undefined;
      for (const t of this.#timers) if (t.at <= end && (!first || t.at < first.at)) first = t;
      if (!first) break;
      this.#timers = this.#timers.filter((t) => t !== first);
      this.#t = Math.max(this.#t, first.at);
      first.fn();
    }
    this.#t = end;
  }
}
