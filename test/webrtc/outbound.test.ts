/** The sending side's clocks: RTP numbering across talkspurts, and when a mark counts as heard. */
import { describe, expect, it } from 'vitest';
import { PlayoutClock, RtpClock } from '../../src/transports/webrtc/outbound.js';

describe('RtpClock', () => {
  const clock = () => new RtpClock({ clockRate: 48000, frameSamples: 960, initialSequence: 65534, initialTimestamp: 0xffff_fc40 });

  it('numbers packets of a talkspurt +1 / +960 and wraps both counters', () => {
    const c = clock();
    const stamps = [0, 0, 0, 20, 40].map((t) => c.next(t)); // a lead burst, then paced
    expect(stamps.map((s) => s.sequenceNumber)).toEqual([65534, 65535, 0, 1, 2]);
    expect(stamps.map((s) => s.timestamp)).toEqual([0xffff_fc40, 0, 960, 1920, 2880]);
    expect(stamps.map((s) => s.marker)).toEqual([true, false, false, false, false]);
  });

  it('after a pause, marks a new talkspurt and moves the timestamp on by the time that passed', () => {
    const c = clock();
    c.next(0);
    const last = c.next(20);
    const resumed = c.next(20 + 3000);
    expect(resumed.marker).toBe(true);
    expect(resumed.sequenceNumber).toBe((last.sequenceNumber + 1) & 0xffff);
    expect((resumed.timestamp - last.timestamp) >>> 0).toBe(3000 * 48);
    // Short scheduling hiccups are not a new talkspurt.
    expect(c.next(20 + 3000 + 45).marker).toBe(false);
  });
});

describe('PlayoutClock', () => {
  it('counts audio as heard when everything sent has played, plus the receiver delay', () => {
    const p = new PlayoutClock({ frameMs: 20, receiverDelayMs: 60 });
    // A 60 ms lead sent at once, then one frame every 20 ms: playout runs 60 ms ahead of the sends.
    for (const t of [0, 0, 0, 20, 40]) p.frameSent(t);
    expect(p.heardInMs(40)).toBe(100 - 40 + 60);
    // Nothing more sent: the countdown runs with wall time, never below zero.
    expect(p.heardInMs(150)).toBe(10);
    expect(p.heardInMs(500)).toBe(0);
  });

  it('starts over after a gap and after a barge-in reset', () => {
    const p = new PlayoutClock({ frameMs: 20, receiverDelayMs: 0 });
    p.frameSent(0);
    p.frameSent(1000);
    expect(p.heardInMs(1000)).toBe(20);
    for (let i = 0; i < 50; i++) p.frameSent(1000);
    p.reset(1005);
    expect(p.heardInMs(1005)).toBe(0);
  });
});
