/**
 * Frames in/out are counted as plain numbers on the per-frame path and folded into the Prometheus
 * counters at scrape time: same names, same labels, same values as one inc() per frame.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EgressClock, type ClockScheduler } from '../../src/calls/egress-clock.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';

let metrics: Metrics | undefined;
afterEach(() => {
  metrics?.close();
  metrics = undefined;
});

describe('frame tallies', () => {
  it('fold into voice_gateway_frames_in_total / _out_total by transport, at each scrape, without double counting', async () => {
    const m = (metrics = createMetrics());
    const twilioIn = m.framesInTally.slot({ transport: 'twilio' });
    expect(m.framesInTally.slot({ transport: 'twilio' })).toBe(twilioIn); // one slot per label set
    const telnyxIn = m.framesInTally.slot({ transport: 'telnyx' });
    const twilioOut = m.framesOutTally.slot({ transport: 'twilio' });
    for (let i = 0; i < 5; i++) twilioIn.count++;
    telnyxIn.count += 2;
    twilioOut.count += 3;
    let text = await m.registry.metrics();
    expect(text).toContain('voice_gateway_frames_in_total{transport="twilio"} 5');
    expect(text).toContain('voice_gateway_frames_in_total{transport="telnyx"} 2');
    expect(text).toContain('voice_gateway_frames_out_total{transport="twilio"} 3');
    twilioIn.count++;
    text = await m.registry.metrics();
    expect(text).toContain('voice_gateway_frames_in_total{transport="twilio"} 6');
    expect(text).toContain('voice_gateway_frames_in_total{transport="telnyx"} 2');
    const got = await m.framesOutTotal.get();
    expect(got.values).toEqual([expect.objectContaining({ labels: { transport: 'twilio' }, value: 3 })]);
  });

  it('fold the egress clock ticks into voice_gateway_egress_clock_ticks_total by trigger', async () => {
    const m = (metrics = createMetrics());
    let now = 0;
    let fire: (() => void) | undefined;
    const scheduler: ClockScheduler = { set: (fn) => (fire = fn), clear: () => (fire = undefined) };
    const clock = new EgressClock({ now: () => now, scheduler, counts: m.egressTicks });
    clock.add({ onTick: () => undefined });
    now = 20;
    fire!();
    now = 43; // 40's timer has not run; a caller frame runs it
    clock.runIfDue(now);
    now = 60;
    fire!();
    const text = await m.registry.metrics();
    expect(text).toContain('voice_gateway_egress_clock_ticks_total{trigger="timer"} 2');
    expect(text).toContain('voice_gateway_egress_clock_ticks_total{trigger="caller_media"} 1');
  });
});
