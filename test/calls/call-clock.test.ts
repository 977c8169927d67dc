/**
 * A caller's frame runs the process's egress clock when a tick's time has come and its timer has not
 * run (the event loop busy reading sockets): every call's egress then goes on time, not after the
 * whole backlog of reads.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Call } from '../../src/calls/call.js';
import { EgressClock, type ClockScheduler } from '../../src/calls/egress-clock.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createVadService, type VadService } from '../../src/pipeline/vad/vad-service.js';
import { GuardedProvider } from '../../src/providers/guard.js';
import { ScriptedProvider } from '../fakes/scripted-provider.js';
import { silentTwilioTransport } from '../support/silent-transport.js';

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

async function callOn(clock: EgressClock, vad: VadService): Promise<Call> {
  const metrics = createMetrics();
  const logger = silentLogger();
  const provider = new GuardedProvider(new ScriptedProvider('a'), {
    metrics,
    logger,
    breaker: { errorThresholdPercentage: 50, volumeThreshold: 5, resetTimeoutMs: 60_000, connectTimeoutMs: 2000, rollingWindowMs: 10_000 },
  });
  const call = new Call({
    id: 'call-1',
    carrierCallId: 'CA1',
    correlationId: 'corr-1',
    transport: silentTwilioTransport(),
    provider,
    providers: [provider],
    failover: { switchDeadlineMs: 1000, responseTimeoutMs: 400, failback: false, allDown: 'hangup' },
    vad,
    metrics,
    logger,
    media: { egressLeadMs: 60, egressMaxQueueMs: 60_000 },
    egressClock: clock,
  });
  await call.start();
  cleanup.push(() => call.end('test_over'));
  return call;
}

describe('a caller frame and the egress clock', () => {
  it("runs another call's egress tick whose time came while the loop was reading, once", async () => {
    let now = 0;
    let timers = 0;
    // Timers that never fire by themselves: the loop is busy reading.
    const scheduler: ClockScheduler = { set: () => ++timers, clear: () => undefined };
    const counts = { timer: { count: 0 }, callerMedia: { count: 0 } };
    const clock = new EgressClock({ now: () => now, scheduler, counts });
    const vad = createVadService({ engine: 'energy', metrics: createMetrics(), logger: silentLogger() });
    cleanup.push(() => vad.close());
    const call = await callOn(clock, vad);
    const ticks: number[] = [];
    clock.add({ onTick: (dueBy) => ticks.push(dueBy) }); // another call's egress, schedule 0, 20, 40...

    const frame = new Uint8Array(160).fill(0xff);
    now = 12;
    call.handleMedia(frame, now);
    expect(ticks).toEqual([]);
    now = 27; // 20's timer has not run
    call.handleMedia(frame, now);
    call.handleMedia(frame, now);
    expect(ticks).toEqual([20]);
    expect([counts.callerMedia.count, timers]).toEqual([1, 2]); // the timer set again, for 40
  });
});
