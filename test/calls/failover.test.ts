/**
 * Failover without losing frames: faults injected mid-utterance and mid-reply, manual switches across
 * four providers with the conversation carried over, rollback, and the all-down outcome. Frames are
 * checked by sequence number: the new provider must receive the whole turn, in order, once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Call, type CallTransport } from '../../src/calls/call.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createVadService, type VadService } from '../../src/pipeline/vad/vad-service.js';
import { GuardedProvider } from '../../src/providers/guard.js';
import { readBytes, readLabels } from '../support/fixtures.js';
import { ScriptedProvider, type Fault } from '../fakes/scripted-provider.js';

const AUDIO = readBytes('calls/call-quiet.8k.ulaw');
const LABELS = readLabels('call-quiet');
const FRAME = 160;

interface Harness {
  call: Call;
  providers: ScriptedProvider[];
  guarded: GuardedProvider[];
  metrics: Metrics;
  sent: { media: number; clears: number; marks: string[]; echoed: string[]; closed: boolean };
  feed(untilMs: number): Promise<void>;
  vad: VadService;
}

let open: Harness[] = [];
afterEach(async () => {
  for (const h of open) {
    await h.call.end('test_over');
    await h.vad.close();
  }
  open = [];
});

async function harness(
  providers: ScriptedProvider[],
  opts: { responseTimeoutMs?: number; replyTimeoutMs?: number; switchDeadlineMs?: number; echoMarks?: boolean; standby?: boolean; failback?: boolean; resetTimeoutMs?: number; volumeThreshold?: number; errorThresholdPercentage?: number; onProviderHangup?: (callId: string, reason: string) => void } = {},
): Promise<Harness> {
  const metrics = createMetrics();
  const logger = silentLogger();
  const guarded = providers.map(
    (p) => new GuardedProvider(p, { metrics, logger, breaker: { errorThresholdPercentage: opts.errorThresholdPercentage ?? 50, volumeThreshold: opts.volumeThreshold ?? 5, resetTimeoutMs: opts.resetTimeoutMs ?? 60_000, connectTimeoutMs: 2000, rollingWindowMs: 10_000 } }),
  );
  const vad = createVadService({ engine: 'energy', metrics, logger });
  const sent = { media: 0, clears: 0, marks: [] as string[], echoed: [] as string[], closed: false };
  const ref: { call?: Call } = {};
  const transport: CallTransport = {
    name: 'twilio',
    format: { codec: 'mulaw', sampleRate: 8000 },
    sendMedia: () => {
      sent.media++;
    },
    sendMark: (name) => {
      sent.marks.push(name);
      // The carrier echoes a mark once the audio before it has played; here, a little later.
      if (opts.echoMarks !== false) {
        setTimeout(() => {
          sent.echoed.push(name);
          ref.call?.handleMark(name);
        }, 30);
      }
    },
    sendClear: () => {
      sent.clears++;
    },
    close: () => {
      sent.closed = true;
    },
  };
  const call = new Call({
    id: 'call-1',
    carrierCallId: 'CA1',
    correlationId: 'corr-1',
    transport,
    provider: guarded[0],
    providers: guarded,
    failover: { switchDeadlineMs: opts.switchDeadlineMs ?? 1000, responseTimeoutMs: opts.responseTimeoutMs ?? 400, replyTimeoutMs: opts.replyTimeoutMs, failback: opts.failback ?? false, allDown: 'hangup', standby: opts.standby },
    vad,
    metrics,
    logger,
    media: { egressLeadMs: 60, egressMaxQueueMs: 60_000 },
    onProviderHangup: opts.onProviderHangup,
  });
  ref.call = call;
  await call.start();
  let fedMs = 0;
  const h: Harness = {
    call,
    providers,
    guarded,
    metrics,
    sent,
    vad,
    // Feed the caller's audio four times faster than real time, yielding so timers and events run.
    async feed(untilMs: number) {
      while (fedMs < untilMs && (fedMs / 20 + 1) * FRAME <= AUDIO.length) {
        const i = fedMs / 20;
        call.handleMedia(AUDIO.subarray(i * FRAME, (i + 1) * FRAME));
        fedMs += 20;
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
  open.push(h);
  return h;
}

/** Every seq from first to last exactly once, in order. */
function expectContiguous(seqs: number[]) {
  for (let i = 1; i < seqs.length; i++) expect(seqs[i], `seq after ${String(seqs[i - 1])}`).toBe(seqs[i - 1] + 1);
}

async function until(cond: () => boolean, ms = 5000) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const U1 = LABELS.utterances[0];
const U2 = LABELS.utterances[1];

describe.each<Fault>(['close', 'hang', 'error', 'auth', 'slow'])('provider fault: %s', (fault) => {
  it('mid-utterance: the next provider gets the whole turn, in order, and answers it', async () => {
    const a = new ScriptedProvider('a');
    const b = new ScriptedProvider('b');
    const h = await harness([a, b]);
    await h.feed(U1.startMs + 800); // the caller is mid-utterance
    a.fault(fault);
    await h.feed(U1.endMs + 1200); // the turn ends; detection may wait for the response deadline
    await until(() => h.call.provider === 'b' && (b.current?.turns.length ?? 0) >= 1);
    const got = b.current!.seqs;
    expectContiguous(got);
    // The whole turn is there: from before the speech onset to past its end.
    expect(got[0]).toBeLessThanOrEqual(Math.floor(U1.startMs / 20));
    expect(got.at(-1)).toBeGreaterThanOrEqual(Math.floor(U1.endMs / 20));
    // The next reply comes from the new provider.
    await until(() => h.call.snapshot().transcripts.some((t) => t.provider === 'b' && t.role === 'assistant'));
    const snap = h.call.snapshot();
    expect(snap.switches).toHaveLength(1);
    expect(snap.switches[0]).toMatchObject({ from: 'a', to: 'b', result: 'ok' });
    // The record names exactly what the new provider was given by the switch: the replay, then the held frames.
    const handed = snap.switches[0].framesReplayed + snap.switches[0].framesHeld;
    expect(snap.switches[0].firstSeq).toBe(got[0]);
    expect(snap.switches[0].lastSeq).toBe(got[handed - 1]);
    expect(snap.providersUsed).toEqual(['a', 'b']);
  });

  it('while the bot is speaking: the reply is cleared and the new provider answers the pending turn', async () => {
    const a = new ScriptedProvider('a', { replyMs: 3000 });
    const b = new ScriptedProvider('b');
    const h = await harness([a, b]);
    await h.feed(U1.endMs + 900); // turn 1 answered by a; its 3 s reply is playing
    await until(() => h.sent.media > 5);
    const clearsBefore = h.sent.clears;
    a.fault(fault);
    if (fault === 'hang' || fault === 'slow') {
      // Nothing visible goes wrong until the provider fails to answer a turn: the caller asks again.
      await h.feed(U2.endMs + 900);
    }
    await until(() => h.call.provider === 'b' && (b.current?.turns.length ?? 0) >= 1);
    expect(h.sent.clears).toBeGreaterThan(clearsBefore);
    const got = b.current!.seqs;
    expectContiguous(got);
    if (fault !== 'hang' && fault !== 'slow') {
      // The interrupted answer's turn is replayed whole to b, which answers it.
      expect(got[0]).toBeLessThanOrEqual(Math.floor(U1.startMs / 20));
      expect(got.at(-1)).toBeGreaterThanOrEqual(Math.floor(U1.endMs / 20));
    } else {
      expect(got[0]).toBeLessThanOrEqual(Math.floor(U2.startMs / 20));
      expect(got.at(-1)).toBeGreaterThanOrEqual(Math.floor(U2.endMs / 20));
    }
    await until(() => h.call.snapshot().transcripts.some((t) => t.provider === 'b' && t.role === 'assistant'));
  });
});

describe('manual switches', () => {
  it('moves openai -> gemini -> deepgram -> echo in one call, carrying the conversation each time', async () => {
    const names = ['openai', 'gemini', 'deepgram', 'echo'];
    const ps = names.map((n) => new ScriptedProvider(n));
    const h = await harness(ps, { responseTimeoutMs: 5000 });
    const utterances = LABELS.utterances;
    let fed = 0;
    for (let i = 1; i < names.length; i++) {
      const u = utterances[Math.min(i - 1, utterances.length - 1)];
      if (i - 1 < utterances.length) {
        await h.feed(u.endMs + 900);
        fed++;
        await until(() => h.call.history.filter((t) => t.role === 'assistant').length >= fed);
      }
      const history = [...h.call.history];
      const record = await h.call.switchProvider('manual', names[i]);
      expect(record).toMatchObject({ from: names[i - 1], to: names[i], result: 'ok', reason: 'manual' });
      expect(ps[i].current!.history).toEqual(history);
      expect(history.length).toBe(2 * fed);
    }
    expect(h.call.snapshot().providersUsed).toEqual(names);
    expect(h.call.provider).toBe('echo');
  });

  it('rolls back to the old provider when the new one fails, and the call goes on there', async () => {
    const a = new ScriptedProvider('a');
    const bad = new ScriptedProvider('bad', { failConnect: 'GW_ERR_PROVIDER_CONNECT' });
    const h = await harness([a, bad]);
    await h.feed(U1.startMs + 500);
    const record = await h.call.switchProvider('manual', 'bad');
    expect(record.result).toBe('rolled_back');
    expect(record.attempts[0]).toMatchObject({ provider: 'bad', ok: false });
    expect(h.call.provider).toBe('a');
    await h.feed(U1.endMs + 900);
    const seqs = a.current!.seqs;
    expectContiguous(seqs); // nothing lost or doubled across the failed switch
    expect(seqs.at(-1)).toBeGreaterThanOrEqual(Math.floor(U1.endMs / 20));
    await until(() => h.call.snapshot().transcripts.some((t) => t.provider === 'a' && t.role === 'assistant'));
  });

  it('rolls back within the deadline when the new provider hangs', async () => {
    const a = new ScriptedProvider('a');
    const hung = new ScriptedProvider('hung', { failConnect: 'hang' });
    const h = await harness([a, hung], { switchDeadlineMs: 300 });
    await h.feed(U1.startMs);
    const record = await h.call.switchProvider('manual', 'hung');
    expect(record.result).toBe('rolled_back');
    expect(record.durationMs).toBeLessThan(2000);
    expect(h.call.provider).toBe('a');
  });
});

describe('all providers down', () => {
  it('tries each in order, skips none silently, then apologises and hangs up', async () => {
    const a = new ScriptedProvider('a');
    const b = new ScriptedProvider('b', { failConnect: 'GW_ERR_PROVIDER_CONNECT' });
    const c = new ScriptedProvider('c', { failConnect: 'GW_ERR_PROVIDER_AUTH' });
    const h = await harness([a, b, c]);
    await h.feed(U1.startMs + 500);
    a.fault('close');
    await until(() => h.sent.closed, 5000);
    const snap = h.call.snapshot();
    expect(snap.endReason).toBe('all_providers_down');
    expect(snap.switches[0]).toMatchObject({ from: 'a', to: 'none', result: 'failed' });
    expect(snap.switches[0].attempts.map((x) => x.provider)).toEqual(['b', 'c']);
    expect(h.sent.media).toBeGreaterThan(10); // the apology tone was played
  });
});

describe('warm standby', () => {
  it('keeps a session open on the next provider and switches to it without a handshake, history included', async () => {
    const a = new ScriptedProvider('a');
    const b = new ScriptedProvider('b', { connectDelayMs: 150 });
    const c = new ScriptedProvider('c');
    const h = await harness([a, b, c], { standby: true });
    await until(() => b.connectAttempts === 1 && b.sessions.length === 1);
    await h.feed(U1.endMs + 900);
    await until(() => h.call.history.length >= 2);
    const history = [...h.call.history];
    a.fault('close');
    await until(() => h.call.provider === 'b');
    const record = h.call.snapshot().switches[0];
    expect(record.attempts[0]).toMatchObject({ provider: 'b', ok: true, warm: true });
    expect(record.durationMs).toBeLessThan(100); // no 150 ms handshake on the path
    expect(b.connectAttempts).toBe(1);
    expect(b.current!.history).toEqual(history);
    // The next standby is c, refreshed behind the switch.
    await until(() => c.connectAttempts === 1);
  });

  it('replaces a standby that drops', async () => {
    const a = new ScriptedProvider('a');
    const b = new ScriptedProvider('b');
    const h = await harness([a, b], { standby: true });
    await until(() => b.sessions.length === 1);
    b.fault('close');
    await until(() => b.sessions.length === 2, 4000);
    expect(h.call.provider).toBe('a');
  });
});

describe('failback', () => {
  it('returns to the preferred provider at a turn boundary once its breaker has closed again, not before', async () => {
    const a = new ScriptedProvider('a');
    const b = new ScriptedProvider('b');
    // One failure in the window opens a's breaker (a mid-call failure is counted, not an instant verdict).
    const h = await harness([a, b], { failback: true, resetTimeoutMs: 300, volumeThreshold: 1, errorThresholdPercentage: 1 });
    await h.feed(U1.startMs + 500);
    a.fault('auth'); // a rejects the key mid-call: the call moves to b and a's breaker opens
    await until(() => h.call.provider === 'b');
    expect(h.guarded[0].state).toBe('open');
    await h.feed(U1.endMs + 900);
    await until(() => h.call.history.length >= 2);
    expect(h.call.provider).toBe('b'); // a's breaker is not closed: no failback
    await until(() => h.guarded[0].state === 'halfOpen', 2000);
    // Another call's connect is the half-open trial; it succeeds and closes the breaker.
    const trial = await h.guarded[0].connect({ callId: 'other', inputFormat: { codec: 'pcm16', sampleRate: 16000 }, callerFormat: { codec: 'mulaw', sampleRate: 8000 }, history: [], logger: silentLogger() });
    await trial.close();
    expect(h.guarded[0].state).toBe('closed');
    await h.feed(U2.endMs + 900);
    await until(() => h.call.provider === 'a');
    const last = h.call.snapshot().switches.at(-1)!;
    expect(last).toMatchObject({ from: 'b', to: 'a', reason: 'recovery', result: 'ok' });
    expect(a.current!.history.length).toBeGreaterThanOrEqual(2);
  });
});

describe('a provider that ends the call', () => {
  it('hangs up through call control only after its goodbye has played to the caller', async () => {
    const a = new ScriptedProvider('a', { hangUpAfterTurn: 1, replyMs: 400 });
    const hangups: { callId: string; reason: string; mediaSent: number; echoed: string[] }[] = [];
    const h = await harness([a], {
      onProviderHangup: (callId, reason) => hangups.push({ callId, reason, mediaSent: h.sent.media, echoed: [...h.sent.echoed] }),
    });
    await h.feed(U1.endMs + 800);
    await until(() => hangups.length > 0);
    // The whole 400 ms reply (20 frames at 8 kHz, and the resampler's tail) had gone out, its end mark
    // with it, and the carrier had echoed that mark (the caller heard the end) before the hangup.
    expect(hangups).toEqual([{ callId: 'call-1', reason: 'provider_goodbye', mediaSent: h.sent.media, echoed: ['end:a-r1'] }]);
    expect(h.sent.media).toBeGreaterThanOrEqual(20);
    expect(h.call.snapshot().endReason).toBeUndefined(); // call control ends it, not the call on its own
  });

  it('ends its own media side when there is no call control, with the reason on the record', async () => {
    const a = new ScriptedProvider('a', { hangUpAfterTurn: 1, replyMs: 200 });
    const h = await harness([a]);
    await h.feed(U1.endMs + 800);
    await until(() => h.sent.closed);
    expect(h.call.snapshot().endReason).toBe('provider_goodbye');
    expect(h.sent.media).toBeGreaterThanOrEqual(10); // the 200 ms goodbye played first
  });
});

describe('the response timer: silence is a failure only when the provider shows no sign of life', () => {
  it('a provider that acknowledged the turn and answers after 3 s is not switched away (reply deadline)', async () => {
    const a = new ScriptedProvider('a', { ackReplyDelayMs: 3000 });
    const b = new ScriptedProvider('b');
    const h = await harness([a, b], { responseTimeoutMs: 400 });
    a.fault('ackSlow');
    await h.feed(U1.endMs + 900);
    await until(() => h.call.history.length >= 2, 8000);
    expect(h.call.provider).toBe('a');
    expect(h.call.snapshot().switches).toEqual([]);
  });

  it('the provider refusing one of our requests (origin request) while a turn waits is not a failover', async () => {
    const a = new ScriptedProvider('a', { replyDelayMs: 200 });
    const b = new ScriptedProvider('b');
    const h = await harness([a, b], { responseTimeoutMs: 1000 });
    a.fault('rejectRequest');
    await h.feed(U1.endMs + 900);
    await until(() => h.call.history.length >= 2, 5000);
    expect(h.call.provider).toBe('a');
    expect(h.call.snapshot().switches).toEqual([]);
  });

  it('an empty turn (the provider says there is nothing to answer) is not a failure', async () => {
    const a = new ScriptedProvider('a');
    const b = new ScriptedProvider('b');
    const h = await harness([a, b], { responseTimeoutMs: 300 });
    a.fault('empty');
    await h.feed(U1.endMs + 900);
    await new Promise((r) => setTimeout(r, 800));
    expect(a.current!.turns.length).toBeGreaterThanOrEqual(1);
    expect(h.call.provider).toBe('a');
    expect(h.call.snapshot().switches).toEqual([]);
  });

  it('a provider silent without acknowledging is switched within PROVIDER_RESPONSE_TIMEOUT_MS, and the timeout is a breaker failure', async () => {
    const a = new ScriptedProvider('a');
    const b = new ScriptedProvider('b');
    const h = await harness([a, b], { responseTimeoutMs: 300 });
    a.fault('hang');
    let turnSeenAt = 0;
    let switchedAt = 0;
    const watch = until(() => {
      if (!turnSeenAt && a.current!.turns.length >= 1) turnSeenAt = performance.now();
      if (!switchedAt && h.call.provider === 'b') switchedAt = performance.now();
      return switchedAt > 0;
    }, 10_000);
    await h.feed(U1.endMs + 900);
    await watch;
    // The timer starts at our turn end, which the provider saw at once: the switch follows the deadline.
    expect(switchedAt - turnSeenAt).toBeGreaterThanOrEqual(290);
    expect(switchedAt - turnSeenAt).toBeLessThan(300 + 700); // slack for a loaded machine
    expect(h.call.snapshot().switches[0]).toMatchObject({ from: 'a', reason: 'provider_silent' });
    const errors = (await h.metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'voice_gateway_provider_errors_total');
    expect(errors?.values.find((v) => v.labels.provider === 'a' && v.labels.type === 'GW_ERR_PROVIDER_TIMEOUT')?.value).toBe(1);
  });

  it('a provider that acknowledged but never answers is switched at the reply deadline', async () => {
    const a = new ScriptedProvider('a', { ackReplyDelayMs: 60_000 });
    const b = new ScriptedProvider('b');
    const h = await harness([a, b], { responseTimeoutMs: 200, replyTimeoutMs: 900 });
    a.fault('ackSlow');
    let turnSeenAt = 0;
    let switchedAt = 0;
    const watch = until(() => {
      if (!turnSeenAt && a.current!.turns.length >= 1) turnSeenAt = performance.now();
      if (!switchedAt && h.call.provider === 'b') switchedAt = performance.now();
      return switchedAt > 0;
    }, 10_000);
    await h.feed(U1.endMs + 900);
    await watch;
    // Past the 200 ms silence deadline, held to the 900 ms reply deadline.
    expect(switchedAt - turnSeenAt).toBeGreaterThanOrEqual(880);
    expect(h.call.snapshot().switches[0]).toMatchObject({ from: 'a', reason: 'provider_silent' });
  });
});
