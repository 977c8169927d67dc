/**
 * The default egress lead (EGRESS_LEAD_MS) leaves no gap in what the caller hears when the gateway's
 * event loop stalls for 100 ms, or when TCP holds the stream back 200 ms to retransmit a segment
 * (issue 12 item 7; figures from bench/egress-lead.bench.ts). The carrier is modelled as both
 * document it: it plays what we sent in order, 20 ms a frame, and is silent when the next frame
 * has not arrived. Time is stepped by hand on the egress clock: a stall is time passing with no timer firing.
 */
import { describe, expect, it } from 'vitest';
import { Egress } from '../../src/calls/egress.js';
import { EgressClock } from '../../src/calls/egress-clock.js';
import { loadConfig } from '../../src/config.js';
import { ManualTime } from '../support/manual-time.js';

const FRAME_MS = 20;

function playoutGapMs(arrivals: number[]): number {
  let clock = arrivals[0];
  let gaps = 0;
  for (const at of arrivals) {
    if (at > clock) {
      gaps += at - clock;
      clock = at;
    }
    clock += FRAME_MS;
  }
  return gaps;
}

/** A 4 s reply fed at twice real time; one fault at 2 s; the carrier's arrival time of each frame. */
function run(leadMs: number, fault: { stallMs?: number; holdMs?: number }): number {
  const time = new ManualTime();
  const sends: number[] = [];
  const egress = new Egress({
    format: { codec: 'mulaw', sampleRate: 8000 },
    sink: { sendMedia: () => sends.push(time.now()), sendMark: () => undefined },
    leadMs,
    maxQueueMs: 60_000,
    onDrop: () => undefined,
    clock: new EgressClock({ now: time.now, scheduler: time }),
  });
  let pushed = 0;
  let lossAt: number | undefined;
  for (let t = 0; t < 4200; t += 10) {
    if (t % 50 === 0 && pushed < 200) {
      egress.pushAudio({ samples: new Int16Array(800).fill(500), sampleRate: 8000, seq: pushed, timestampMs: 0 }, 'r');
      pushed += 5;
      if (pushed >= 200) egress.endResponse('r');
    }
    if (t === 2000 && fault.stallMs) {
      // The event loop is busy: the clock moves, no timer runs.
      time.stall(fault.stallMs);
    }
    if (t === 2000 && fault.holdMs) lossAt = time.now();
    time.advance(10);
  }
  egress.close();
  const arrivals = sends.map((s) => (lossAt !== undefined && s >= lossAt && s < lossAt + fault.holdMs! ? lossAt + fault.holdMs! : s));
  return playoutGapMs(arrivals);
}

describe('egress lead', () => {
  const lead = loadConfig({}).media.egressLeadMs;

  it('defaults to a lead measured to ride out a 100 ms stall and a TCP retransmit (250 ms)', () => {
    expect(lead).toBe(250);
    expect(loadConfig({ EGRESS_LEAD_MS: '60' }).media.egressLeadMs).toBe(60);
  });

  it('the default leaves no gap across a 100 ms event-loop stall', () => {
    expect(run(lead, { stallMs: 100 })).toBe(0);
  });

  it('the default leaves no gap across a 200 ms retransmit hold-up', () => {
    expect(run(lead, { holdMs: 200 })).toBe(0);
  });

  it('the old 60 ms lead did leave gaps (what the measurement replaced)', () => {
    expect(run(60, { stallMs: 100 })).toBeGreaterThan(0);
    expect(run(60, { holdMs: 200 })).toBeGreaterThan(0);
  });
});

describe('egress lead and barge-in', () => {
  it('audio sent ahead but not yet played counts as playing, so a barge-in or a switch still clears it', () => {
    const time = new ManualTime();
    const egress = new Egress({
      format: { codec: 'mulaw', sampleRate: 8000 },
      sink: { sendMedia: () => undefined, sendMark: () => undefined },
      leadMs: 250,
      maxQueueMs: 60_000,
      onDrop: () => undefined,
      clock: new EgressClock({ now: time.now, scheduler: time }),
    });
    // 200 ms of a reply, all of it within the lead: sent at once, nothing left queued here.
    egress.pushAudio({ samples: new Int16Array(1600).fill(500), sampleRate: 8000, seq: 0, timestampMs: 0 }, 'r');
    expect(egress.queuedFrames).toBe(0);
    expect(egress.playing).toBe(true);
    time.advance(150);
    expect(egress.playing).toBe(true);
    time.advance(60);
    expect(egress.playing).toBe(false);
    egress.close();
  });
});
