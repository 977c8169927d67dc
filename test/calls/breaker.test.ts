/**
 * Breakers protect calls instead of evicting them (issue 13, item 3): a breaker guards new sessions;
 * each failure is counted once (connect failure, auth/quota, mid-call drop, response timeout, error
 * event); an open breaker sends new calls to the next provider while live sessions that still work
 * keep theirs. Unknown server events are counted, never failures.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Call, type CallTransport } from '../../src/calls/call.js';
import { GatewayError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { createVadService, type VadService } from '../../src/pipeline/vad/vad-service.js';
import { GuardedProvider, type BreakerSettings } from '../../src/providers/guard.js';
import type { Provider, ProviderEvent, ProviderSession } from '../../src/providers/types.js';
import { AsyncQueue } from '../../src/util/async-queue.js';
import { ScriptedProvider } from '../fakes/scripted-provider.js';

const BREAKER: BreakerSettings = { errorThresholdPercentage: 1, volumeThreshold: 1, resetTimeoutMs: 60_000, connectTimeoutMs: 2000, rollingWindowMs: 10_000 };

let calls: Call[] = [];
let vads: VadService[] = [];
afterEach(async () => {
  await Promise.all(calls.map((c) => c.end('test_over')));
  await Promise.all(vads.map((v) => v.close()));
  calls = [];
  vads = [];
});

function transport(): CallTransport {
  return { name: 'twilio', format: { codec: 'mulaw', sampleRate: 8000 }, sendMedia: () => undefined, sendMark: () => undefined, sendClear: () => undefined, close: () => undefined };
}

function newCall(i: number, guarded: GuardedProvider[], metrics: Metrics, vad: VadService): Call {
  const call = new Call({
    id: `call-${String(i)}`,
    carrierCallId: `CA${String(i)}`,
    correlationId: `corr-${String(i)}`,
    transport: transport(),
    provider: guarded[0],
    providers: guarded,
    failover: { switchDeadlineMs: 1000, responseTimeoutMs: 400, failback: false, allDown: 'hangup' },
    vad,
    metrics,
    logger: silentLogger(),
    media: { egressLeadMs: 60, egressMaxQueueMs: 60_000 },
  });
  calls.push(call);
  return call;
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a breaker protects calls instead of evicting them', () => {
  it('20 live calls on a provider, one gets a 429: that one switches, 0 of the other 19 do; new calls go to the next provider', async () => {
    const metrics = createMetrics();
    const logger = silentLogger();
    const a = new ScriptedProvider('a');
    const b = new ScriptedProvider('b');
    // volumeThreshold 1, threshold 1 %: the single 429 is enough to open the breaker, the harshest case.
    const guarded = [a, b].map((p) => new GuardedProvider(p, { metrics, logger, breaker: BREAKER }));
    const vad = createVadService({ engine: 'energy', metrics, logger });
    vads.push(vad);
    const live = Array.from({ length: 20 }, (_, i) => newCall(i, guarded, metrics, vad));
    await Promise.all(live.map((c) => c.start()));
    expect(live.every((c) => c.provider === 'a')).toBe(true);

    a.faultSession(7, 'quota');
    await until(() => live[7].provider === 'b' && !live[7].switching);
    await new Promise((r) => setTimeout(r, 100));

    expect(guarded[0].state).toBe('open');
    const switched = live.filter((c, i) => i !== 7 && c.snapshot().switches.length > 0);
    expect(switched.length).toBe(0);
    expect(live.filter((c) => c.provider === 'a').length).toBe(19);
    expect(live[7].snapshot().switches[0]).toMatchObject({ from: 'a', to: 'b', reason: 'provider_error', result: 'ok' });
    // The 19 sessions on 'a' are still fed: an open breaker does not stop a live session's sends.
    expect(a.sessions.filter((s) => !s.closed).length).toBe(19);

    // A new call is not given to the open provider.
    const fresh = newCall(20, guarded, metrics, vad);
    await fresh.start();
    expect(fresh.provider).toBe('b');
    expect(a.connectAttempts).toBe(20);
  });
});

/** A session driven by hand: push events, see what the guard made of them. */
class HandSession implements ProviderSession {
  readonly provider = 'hand';
  readonly inputFormat = { codec: 'pcm16', sampleRate: 16000 } as const;
  readonly outputFormat = { codec: 'pcm16', sampleRate: 16000 } as const;
  readonly queue = new AsyncQueue<ProviderEvent>();
  get events(): AsyncIterable<ProviderEvent> {
    return this.queue;
  }
  pushAudio(): void {}
  endTurn(): void {}
  interrupt(): void {}
  close(): Promise<void> {
    this.queue.end();
    return Promise.resolve();
  }
}

class HandProvider implements Provider {
  readonly name = 'hand';
  readonly inputFormats = [{ codec: 'pcm16', sampleRate: 16000 }] as const;
  readonly sessions: HandSession[] = [];
  connect(): Promise<ProviderSession> {
    const s = new HandSession();
    this.sessions.push(s);
    return Promise.resolve(s);
  }
}

async function guardedHand(breaker: Partial<BreakerSettings>) {
  const metrics = createMetrics();
  const adapter = new HandProvider();
  const guard = new GuardedProvider(adapter, { metrics, logger: silentLogger(), breaker: { ...BREAKER, ...breaker } });
  const session = await guard.connect({ callId: 'c', inputFormat: adapter.inputFormats[0], callerFormat: adapter.inputFormats[0], history: [], logger: silentLogger() });
  const seen: ProviderEvent[] = [];
  const drained = (async () => {
    for await (const ev of session.events) seen.push(ev);
  })();
  const settle = () => new Promise((r) => setTimeout(r, 20));
  return { metrics, adapter, guard, session, inner: adapter.sessions[0], seen, drained, settle };
}

async function counter(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return Number(v?.value ?? 0);
}

describe('what the breaker counts, once each', () => {
  it('a provider that fails every reply trips the breaker (a failed reply is not also a success)', async () => {
    // 51 %: one failure plus one success per reply (the old count) would stay at 50 % and never trip.
    const h = await guardedHand({ volumeThreshold: 3, errorThresholdPercentage: 51 });
    for (let i = 0; i < 3; i++) {
      h.inner.queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_REMOTE', 'server_error'), fatal: false });
      h.inner.queue.push({ type: 'responseDone', responseId: `r${String(i)}` });
    }
    await h.settle();
    expect(h.guard.state).toBe('open');
  });

  it('a mid-call drop is a failure, counted once even when an error event and a close both report it', async () => {
    const h = await guardedHand({ volumeThreshold: 2 });
    h.inner.queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_CLOSED', 'gone'), fatal: true });
    h.inner.queue.push({ type: 'closed', reason: 'socket dropped' });
    await h.settle();
    expect(await counter(h.metrics, 'voice_gateway_provider_requests_total', { provider: 'hand', op: 'session', status: 'error' })).toBe(1);
  });

  it('a drop with no error event still counts', async () => {
    const h = await guardedHand({ volumeThreshold: 1 });
    h.inner.queue.push({ type: 'closed', reason: 'socket dropped' });
    await h.settle();
    expect(h.guard.state).toBe('open');
  });

  it('a response timeout counts once', async () => {
    const h = await guardedHand({ volumeThreshold: 1 });
    h.session.responseTimedOut?.();
    await h.settle();
    expect(await counter(h.metrics, 'voice_gateway_provider_errors_total', { provider: 'hand', type: 'GW_ERR_PROVIDER_TIMEOUT' })).toBe(1);
    expect(h.guard.state).toBe('open');
  });

  it('unknown server events are counted and passed on, never failures; a refusal of our own request is not a failure', async () => {
    const h = await guardedHand({ volumeThreshold: 1 });
    for (let i = 0; i < 5; i++) h.inner.queue.push({ type: 'unknownEvent', name: 'response.teleported' });
    h.inner.queue.push({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_REMOTE', 'conversation_already_has_active_response'), fatal: false, origin: 'request' });
    await h.settle();
    expect(h.guard.state).toBe('closed');
    expect(await counter(h.metrics, 'voice_gateway_provider_unknown_events_total', { provider: 'hand', event: 'response.teleported' })).toBe(5);
    expect(h.seen.filter((e) => e.type === 'unknownEvent').length).toBe(5);
  });

  it('an open breaker refuses new sessions but a live session keeps sending', async () => {
    const h = await guardedHand({ volumeThreshold: 1 });
    let pushed = 0;
    h.inner.pushAudio = () => {
      pushed++;
    };
    h.guard.record({ ok: false, error: new GatewayError('GW_ERR_PROVIDER_QUOTA', '429') }, 'test');
    await h.settle();
    expect(h.guard.state).toBe('open');
    h.session.pushAudio({ samples: new Int16Array(320), sampleRate: 16000, seq: 0, timestampMs: 0 });
    expect(pushed).toBe(1);
    await expect(h.guard.connect({ callId: 'd', inputFormat: h.adapter.inputFormats[0], callerFormat: h.adapter.inputFormats[0], history: [], logger: silentLogger() })).rejects.toMatchObject({ code: 'GW_ERR_PROVIDER_BREAKER_OPEN' });
  });
});
