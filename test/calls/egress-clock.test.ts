/** The process's egress clock alone, with recording members and hand-stepped time. */
import { describe, expect, it } from 'vitest';
import { EgressClock, type ClockMember, type ClockScheduler } from '../../src/calls/egress-clock.js';
import { ManualTime } from '../support/manual-time.js';

class Recorder implements ClockMember {
  readonly ticks: { at: number; dueBy: number }[] = [];
  constructor(
    readonly time: { now(): number },
    readonly then?: (dueBy: number) => void,
  ) {}
  onTick(dueBy: number): void {
    this.ticks.push({ at: this.time.now(), dueBy });
    this.then?.(dueBy);
  }
}

describe('egress clock', () => {
  it('has no timer while no one is on it, one while anyone is', () => {
    const time = new ManualTime();
    const clock = new EgressClock({ now: time.now, scheduler: time });
    const a = new Recorder(time);
    const b = new Recorder(time);
    expect(time.pending).toBe(0);
    clock.add(a);
    clock.add(a); // twice: still one member
    clock.add(b);
    expect([clock.members, time.pending]).toEqual([2, 1]);
    time.advance(60);
    expect(a.ticks.map((t) => t.at)).toEqual([20, 40, 60]);
    expect(b.ticks).toEqual(a.ticks);
    clock.remove(a);
    expect(time.pending).toBe(1);
    clock.remove(b);
    expect([clock.members, time.pending, clock.running]).toEqual([0, 0, false]);
  });

  it('keeps its schedule when ticks run late, and a late tick stands for the ticks it missed', () => {
    const time = new ManualTime();
    const clock = new EgressClock({ now: time.now, scheduler: time });
    const m = new Recorder(time);
    clock.add(m);
    time.advance(20);
    time.stall(27); // 40's tick runs at 47: the next is still set for 60
    time.advance(0);
    expect(time.delays.slice(-1)).toEqual([13]);
    time.stall(50); // 60's tick runs at 97, after 80: it stands for 80 too, and the next is at 100
    time.advance(0);
    expect(m.ticks).toEqual([
      { at: 20, dueBy: 20 },
      { at: 47, dueBy: 40 },
      { at: 97, dueBy: 80 },
    ]);
    expect(time.delays.slice(-1)).toEqual([3]);
    time.advance(3);
    expect(m.ticks.at(-1)).toEqual({ at: 100, dueBy: 100 });
  });

  it('counts the tick it was set for as reached when the timer fires a little early', () => {
    let now = 0;
    let fire: (() => void) | undefined;
    const scheduler: ClockScheduler = { set: (fn) => (fire = fn), clear: () => (fire = undefined) };
    const clock = new EgressClock({ now: () => now, scheduler });
    const m = new Recorder({ now: () => now });
    clock.add(m);
    now = 19.4; // Node's cached loop time can fire a timeout before the time asked
    fire!();
    expect(m.ticks).toEqual([{ at: 19.4, dueBy: 20 }]);
  });

  it('counts a tick that ran early as reached until the next one: the limit of an egress off the clock', () => {
    let now = 0;
    let fire: (() => void) | undefined;
    const scheduler: ClockScheduler = { set: (fn) => (fire = fn), clear: () => (fire = undefined) };
    const clock = new EgressClock({ now: () => now, scheduler });
    expect(clock.tickReached(7)).toBe(7); // idle: no schedule
    clock.add(new Recorder({ now: () => now })); // schedule: 0, 20, 40, ...
    expect(clock.tickReached(19.4)).toBe(0); // 20's tick has not run
    now = 19.4;
    fire!(); // ... now it has, early
    expect([clock.tickReached(19.4), clock.tickAtOrBefore(19.4), clock.tickReached(25)]).toEqual([20, 0, 20]);
    now = 41;
    expect(clock.tickReached(41)).toBe(40); // 40's tick is late: reached by the clock's own schedule
  });

  it('tells the scheduled tick a frame due at a given time is written on', () => {
    const time = new ManualTime(5);
    const clock = new EgressClock({ now: time.now, scheduler: time });
    expect(clock.tickFor(12)).toBe(12); // idle: no schedule
    clock.add(new Recorder(time)); // schedule: 5, 25, 45, ...
    expect([clock.tickFor(25), clock.tickFor(25.0000000001), clock.tickFor(26), clock.tickFor(45)]).toEqual([25, 25, 45, 45]);
  });

  it('takes a member that throws off the clock, reports it, and still ticks the others', () => {
    const time = new ManualTime();
    const errors: unknown[] = [];
    const clock = new EgressClock({ now: time.now, scheduler: time, onError: (err) => errors.push(err) });
    const bad = new Recorder(time, () => {
      throw new Error('socket gone');
    });
    const good = new Recorder(time);
    clock.add(bad);
    clock.add(good);
    time.advance(40);
    expect(bad.ticks).toHaveLength(1);
    expect(good.ticks).toHaveLength(2);
    expect(errors).toHaveLength(1);
    expect(clock.members).toBe(1);
  });

  it('lets members leave and join during a tick, and stops when the last one leaves', () => {
    const time = new ManualTime();
    const clock = new EgressClock({ now: time.now, scheduler: time });
    const late = new Recorder(time);
    const leaver: Recorder = new Recorder(time, () => {
      clock.remove(leaver);
      clock.add(late);
    });
    clock.add(leaver);
    time.advance(20);
    expect(time.pending).toBe(1); // one timer, though `late` joined mid-tick
    time.advance(20);
    expect(leaver.ticks).toHaveLength(1);
    expect(late.ticks.map((t) => t.at)).toEqual([20, 40]); // a Set visits a member added during the walk
    clock.remove(late);
    expect(time.pending).toBe(0);
    clock.add(late);
    clock.close();
    expect([clock.members, time.pending]).toEqual([0, 0]);
  });

  it('runs a tick whose timer is late while the loop is reading, from the caller frame that sees it', () => {
    const time = new ManualTime();
    const counts = { timer: { count: 0 }, callerMedia: { count: 0 } };
    const clock = new EgressClock({ now: time.now, scheduler: time, counts });
    const m = new Recorder(time);
    clock.runIfDue(time.now()); // idle: nothing to run
    clock.add(m); // schedule: 0, 20, 40, ...
    time.advance(20);
    time.stall(19);
    clock.runIfDue(time.now()); // 39: 40's time has not come
    expect(m.ticks.map((t) => t.at)).toEqual([20]);
    time.stall(1.5);
    clock.runIfDue(time.now()); // 40.5: a timer this late is usual, and left to run the tick
    expect(m.ticks.map((t) => t.at)).toEqual([20]);
    time.stall(5.5); // the loop is reading: 40's timer is 6 ms late
    clock.runIfDue(time.now());
    clock.runIfDue(time.now()); // the next frame read: that tick has run
    expect(m.ticks).toEqual([
      { at: 20, dueBy: 20 },
      { at: 46, dueBy: 40 },
    ]);
    // One timer, set for 60 and no longer for 40: the schedule is the same as the timer's.
    expect([time.pending, time.delays.at(-1)]).toEqual([1, 14]);
    time.advance(14);
    expect(m.ticks.at(-1)).toEqual({ at: 60, dueBy: 60 });
    expect([counts.timer.count, counts.callerMedia.count]).toEqual([2, 1]);
  });

  it('does not run a tick from a caller frame while a tick is running', () => {
    let now = 0;
    let fire: (() => void) | undefined;
    const scheduler: ClockScheduler = { set: (fn) => (fire = fn), clear: () => (fire = undefined) };
    const clock = new EgressClock({ now: () => now, scheduler });
    // A member whose write takes the loop past the next tick's time, and a frame is read meanwhile.
    const m: Recorder = new Recorder({ now: () => now }, () => {
      now += 25;
      clock.runIfDue(now);
    });
    clock.add(m);
    now = 20;
    fire!();
    expect(m.ticks.map((t) => t.dueBy)).toEqual([20]);
    fire!(); // the tick for 40, overdue: from its timer
    expect(m.ticks.map((t) => t.dueBy)).toEqual([20, 40]);
  });

  it('refuses a period that is not positive', () => {
    expect(() => new EgressClock({ frameMs: 0 })).toThrow(RangeError);
  });
});
