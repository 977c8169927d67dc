import { describe, expect, it } from 'vitest';
import { FrameRing, type RingEntry } from '../../src/calls/frame-ring.js';

const frame = (seq: number): RingEntry => ({
  kind: 'frame',
  frame: { payload: new Uint8Array([seq & 0xff]), seq, timestampMs: seq * 20, receivedAtMs: seq * 20 },
});
const turnEnd = (afterSeq: number): RingEntry => ({ kind: 'turnEnd', turn: { startMs: 0, endMs: afterSeq * 20 }, afterSeq });
const describeEntry = (e: RingEntry): string => (e.kind === 'frame' ? `f${e.frame.seq}` : `t${e.afterSeq}`);

describe('FrameRing', () => {
  it('rounds capacity up to a power of two', () => {
    expect(new FrameRing(5).capacity).toBe(8);
    expect(new FrameRing(8).capacity).toBe(8);
    expect(new FrameRing(1).capacity).toBe(1);
  });

  it('keeps frames and turn ends in arrival order', () => {
    const ring = new FrameRing(8);
    [frame(1), frame(2), turnEnd(2), frame(3)].forEach((e) => ring.push(e));
    expect(ring.entries().map(describeEntry)).toEqual(['f1', 'f2', 't2', 'f3']);
    expect(ring.size).toBe(4);
    expect(ring.pendingTurns).toBe(1);
  });

  it('overwrites the oldest entry past capacity and counts it as dropped', () => {
    const ring = new FrameRing(4);
    for (let s = 1; s <= 6; s++) ring.push(frame(s));
    expect(ring.entries().map(describeEntry)).toEqual(['f3', 'f4', 'f5', 'f6']);
    expect(ring.dropped).toBe(2);
    expect(ring.size).toBe(4);
  });

  it('forgets a pending turn whose end marker is overwritten', () => {
    const ring = new FrameRing(2);
    ring.push(turnEnd(0));
    ring.push(frame(1));
    expect(ring.pendingTurns).toBe(1);
    ring.push(frame(2));
    expect(ring.pendingTurns).toBe(0);
  });

  it('accepting the oldest turn drops it and the audio before it, nothing after', () => {
    const ring = new FrameRing(8);
    [frame(1), frame(2), turnEnd(2), frame(3), turnEnd(3), frame(4)].forEach((e) => ring.push(e));
    expect(ring.acceptOldestTurn()).toBe(3);
    expect(ring.entries().map(describeEntry)).toEqual(['f3', 't3', 'f4']);
    expect(ring.pendingTurns).toBe(1);
  });

  it('trimIdle keeps the newest frames but never trims past a pending turn end', () => {
    const ring = new FrameRing(16);
    for (let s = 1; s <= 5; s++) ring.push(frame(s));
    ring.trimIdle(2);
    expect(ring.entries().map(describeEntry)).toEqual(['f4', 'f5']);
    const ring2 = new FrameRing(16);
    [frame(1), turnEnd(1), frame(2), frame(3)].forEach((e) => ring2.push(e));
    ring2.trimIdle(1);
    expect(ring2.entries().map(describeEntry)).toEqual(['t1', 'f2', 'f3']);
  });

  it('entries(fromSeq) returns frames from that seq and turn ends after an earlier-or-equal frame', () => {
    const ring = new FrameRing(8);
    [frame(1), turnEnd(1), frame(2), turnEnd(2), frame(3)].forEach((e) => ring.push(e));
    expect(ring.entries(2).map(describeEntry)).toEqual(['f2', 't2', 'f3']);
  });
});
