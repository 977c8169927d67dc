/**
 * FailoverSession alone, with in-memory providers and fake timers: what a new provider is given by a
 * switch (the pending turn's frames once, in order, then the held ones), when a switch happens on its
 * own (a fatal error, a closed session, a silent provider), the warm standby, open breakers, a switch
 * asked for during one, and that nothing an old session says comes out. Runs in milliseconds; the
 * real-time version of these, through a whole Call, is test/calls/failover.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { FailoverSession, type FailoverEvent } from '../../src/calls/failover-session.js';
import type { FailoverSettings, GuardedLike } from '../../src/calls/failover.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { AudioFormat, AudioFrame, EncodedFrame } from '../../src/pipeline/frame.js';
import type { ConversationTurn, ProviderConnectOptions, ProviderEvent, ProviderSession, TurnInfo } from '../../src/providers/types.js';
import { AsyncQueue } from '../../src/util/async-queue.js';

const PCM16K: AudioFormat = { codec: 'pcm16', sampleRate: 16000 };

class FakeSession implements ProviderSession {
  readonly inputFormat = PCM16K;
  readonly outputFormat = PCM16K;
  readonly seqs: number[] = [];
  readonly turns: TurnInfo[] = [];
  readonly interrupts: { responseId: string; heardMs: number; closedAlready: boolean }[] = [];
  readonly history: ConversationTurn[];
  readonly queue = new AsyncQueue<ProviderEvent>();
  timedOut = 0;
  closed = false;

  constructor(
    readonly provider: string,
    history: readonly ConversationTurn[],
  ) {
    this.history = [...history];
  }

  get events(): AsyncIterable<ProviderEvent> {
    return this.queue;
  }

  emit(ev: ProviderEvent): void {
    this.queue.push(ev);
  }

  pushAudio(frame: AudioFrame | EncodedFrame): void {
    this.seqs.push(frame.seq);
  }

  endTurn(turn: TurnInfo): void {
    this.turns.push(turn);
  }

  interrupt(info: { responseId: string; heardMs: number }): void {
    this.interrupts.push({ ...info, closedAlready: this.closed });
  }

  appendHistory(turns: readonly ConversationTurn[]): void {
    this.history.push(...turns);
  }

  responseTimedOut(): void {
    this.timedOut++;
  }

  close(): Promise<void> {
    this.closed = true;
    this.queue.end();
    return Promise.resolve();
  }
}

class FakeProvider implements GuardedLike {
  readonly inputFormats = [PCM16K];
  readonly sessions: FakeSession[] = [];
  state: 'closed' | 'halfOpen' | 'open' | undefined;
  connects = 0;
  /** The next connects fail with this. */
  failWith: GatewayError | undefined;
  /** The next connects wait for this. */
  gate: Promise<void> | undefined;

  constructor(readonly name: string) {}

  async connect(options: ProviderConnectOptions): Promise<ProviderSession> {
    this.connects++;
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith;
    const s = new FakeSession(this.name, options.history);
    this.sessions.push(s);
    return s;
  }

  get last(): FakeSession {
    const s = this.sessions.at(-1);
    if (!s) throw new Error(`${this.name} has no session`);
    return s;
  }
}

const SETTINGS: FailoverSettings = { switchDeadlineMs: 5000, responseTimeoutMs: 400, replyTimeoutMs: 2000, failback: false, allDown: 'hangup' };

/** Lets promise chains and the session's event loops run (setImmediate is not faked). */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

function setup(providers: FakeProvider[], settings: Partial<FailoverSettings> = {}) {
  const vad = { speaking: false, sampleRate: 16000, pcm: 0, push(_samples: Int16Array, _timestampMs: number) { this.pcm++; } };
  const session = new FailoverSession({
    callId: 'call-1',
    first: providers[0],
    providers,
    settings: { ...SETTINGS, ...settings },
    wire: { codec: 'pcm16', sampleRate: 16000 },
    vad,
    ingress: { delivered: () => undefined },
    metrics: createMetrics(),
    logger: silentLogger(),
  });
  const events: FailoverEvent[] = [];
  // The consumer a Call is; on a switch it cuts the reply at 120 ms, taking a few ticks over it (the
  // switch waits until the consumer asks for its next event before it lets the old provider go).
  void (async () => {
    for await (const ev of session.events) {
      events.push(ev);
      if (ev.type === 'switchStarted') {
        for (let i = 0; i < 3; i++) await Promise.resolve();
        session.interruptOutgoing({ responseId: 'r1', heardMs: 120 });
      }
    }
  })();
  let seq = 0;
  const write = (n: number) => {
    for (let i = 0; i < n; i++, seq++) session.write({ payload: new Uint8Array(640), seq, timestampMs: seq * 20, receivedAtMs: 0 });
  };
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  return { session, events, write, vad, range, get seq() { return seq; } };
}

/** The provider answers a turn: the caller's words, a reply, its words, done. */
function answer(s: FakeSession, n: number): void {
  s.emit({ type: 'transcript', role: 'user', text: `question ${String(n)}`, final: true });
  s.emit({ type: 'responseStart', responseId: `r${String(n)}` });
  s.emit({ type: 'audio', responseId: `r${String(n)}`, frame: { samples: new Int16Array(320), sampleRate: 16000, seq: 0, timestampMs: 0 } });
  s.emit({ type: 'transcript', role: 'assistant', text: `answer ${String(n)}`, final: true });
  s.emit({ type: 'responseDone', responseId: `r${String(n)}` });
}

let open: FailoverSession[] = [];
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'Date'] });
});
afterEach(async () => {
  for (const s of open) await s.close();
  open = [];
  vi.useRealTimers();
});

function started(h: ReturnType<typeof setup>) {
  open.push(h.session);
  return h;
}

describe('FailoverSession: a manual switch', () => {
  it('replays the pending turn from its start to the new session once, in order, then the frames held during the connect', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b]));
    expect(await h.session.start()).toBe(true);
    h.write(100); // silence: only the last 50 frames (1 s of lead-in) are kept for a replay
    h.vad.speaking = true;
    h.write(20);
    h.session.endTurn({ startMs: 2000, endMs: 2400 });
    h.vad.speaking = false; // silence after the turn: the pending turn is kept whole all the same
    h.write(5);
    let open!: () => void;
    b.gate = new Promise((r) => (open = r));
    const switching = h.session.switchProvider('manual', 'b');
    await flush();
    h.write(3); // arrive while b connects: held, delivered after the replay
    open();
    const record = await switching;
    h.write(2);
    expect(record).toMatchObject({ from: 'a', to: 'b', reason: 'manual', result: 'ok', framesReplayed: 75, turnsReplayed: 1, framesHeld: 3, firstSeq: 50, lastSeq: 127 });
    expect(b.last.seqs).toEqual(h.range(50, 129));
    expect(b.last.turns).toEqual([{ startMs: 2000, endMs: 2400 }]);
    expect(a.last.seqs).toEqual(h.range(0, 124)); // a saw every frame before the switch began, none after
    expect(a.last.closed).toBe(true);
    expect(h.session.provider).toBe('b');
    expect(h.session.providersUsed).toEqual(['a', 'b']);
    expect(h.events.filter((e) => e.type === 'switchStarted')).toEqual([{ type: 'switchStarted', from: 'a', reason: 'manual' }]);
  });

  it('interrupts the old provider where the caller was cut off, before letting it go', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b]));
    await h.session.start();
    await h.session.switchProvider('manual', 'b');
    expect(a.last.interrupts).toEqual([{ responseId: 'r1', heardMs: 120, closedAlready: false }]);
    expect(a.last.closed).toBe(true);
  });

  it('also when the next provider stands by warm, so the switch does not wait on a connect', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b], { standby: true }));
    await h.session.start();
    await vi.advanceTimersByTimeAsync(0);
    await flush();
    const record = await h.session.switchProvider('manual', 'b');
    expect(record.attempts[0]).toMatchObject({ provider: 'b', warm: true });
    expect(a.last.interrupts).toEqual([{ responseId: 'r1', heardMs: 120, closedAlready: false }]);
    expect(a.last.closed).toBe(true);
  });

  it('a switch asked for during one joins it: one connect, one record', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const c = new FakeProvider('c');
    const h = started(setup([a, b, c]));
    await h.session.start();
    let open!: () => void;
    b.gate = new Promise((r) => (open = r));
    const first = h.session.switchProvider('manual', 'b');
    await flush();
    expect(h.session.switching).toBe(true);
    const second = h.session.switchProvider('provider_error');
    const third = h.session.switchProvider('manual', 'c');
    expect(second).toBe(first);
    expect(third).toBe(first);
    open();
    expect((await first).to).toBe('b');
    expect(h.session.switching).toBe(false);
    expect(b.connects).toBe(1);
    expect(c.connects).toBe(0);
    expect(h.session.records).toHaveLength(1);
  });

  it('rolls back to the old session when the target fails, which gets what it missed in order', async () => {
    const a = new FakeProvider('a');
    const bad = new FakeProvider('bad');
    bad.failWith = new GatewayError('GW_ERR_PROVIDER_CONNECT', 'refused');
    const h = started(setup([a, bad]));
    await h.session.start();
    h.write(10);
    let open!: () => void;
    bad.gate = new Promise((r) => (open = r));
    const switching = h.session.switchProvider('manual', 'bad');
    await flush();
    h.write(4);
    open();
    const record = await switching;
    h.write(2);
    expect(record).toMatchObject({ to: 'a', result: 'rolled_back', framesHeld: 4 });
    expect(a.last.seqs).toEqual(h.range(0, 15));
    expect(h.session.provider).toBe('a');
    a.last.emit({ type: 'responseStart', responseId: 'after' });
    await flush();
    expect(h.events.at(-1)).toEqual({ type: 'responseStart', responseId: 'after' });
  });
});

describe('FailoverSession: switching on its own', () => {
  it('on a fatal error of the live session, to the next provider, with the pending turn', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b]));
    await h.session.start();
    h.vad.speaking = true;
    h.write(30);
    h.session.endTurn({ startMs: 0, endMs: 600 });
    a.last.emit({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_REMOTE', 'server_error'), fatal: true });
    await flush();
    expect(h.session.records).toEqual([expect.objectContaining({ from: 'a', to: 'b', reason: 'provider_error', result: 'ok' })]);
    expect(b.last.seqs).toEqual(h.range(0, 29));
    expect(b.last.turns).toHaveLength(1);
  });

  it('on a closed session', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b]));
    await h.session.start();
    a.last.emit({ type: 'closed', reason: 'socket closed' });
    await flush();
    expect(h.session.records[0]).toMatchObject({ to: 'b', reason: 'provider_closed' });
  });

  it('a refusal of one of our requests is not a reason to switch', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b]));
    await h.session.start();
    h.session.endTurn({ startMs: 0, endMs: 100 });
    a.last.emit({ type: 'error', error: new GatewayError('GW_ERR_PROVIDER_REMOTE', 'already active'), fatal: false, origin: 'request' });
    await flush();
    expect(h.session.records).toEqual([]);
  });

  it('when the provider shows no sign of life within the response deadline after a turn end (a breaker failure)', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b], { responseTimeoutMs: 400 }));
    await h.session.start();
    h.write(10);
    h.session.endTurn({ startMs: 0, endMs: 200 });
    await vi.advanceTimersByTimeAsync(399);
    expect(h.session.records).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(a.last.timedOut).toBe(1);
    expect(h.session.records[0]).toMatchObject({ from: 'a', to: 'b', reason: 'provider_silent', turnsReplayed: 1 });
  });

  it('a provider that acknowledged the turn gets the reply deadline instead', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b], { responseTimeoutMs: 400, replyTimeoutMs: 2000 }));
    await h.session.start();
    h.session.endTurn({ startMs: 0, endMs: 200 });
    a.last.emit({ type: 'ack' });
    await flush();
    await vi.advanceTimersByTimeAsync(1500);
    expect(h.session.records).toEqual([]);
    await vi.advanceTimersByTimeAsync(500);
    await flush();
    expect(h.session.records[0]).toMatchObject({ reason: 'provider_silent' });
  });

  it('an answer stops the response timer', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b], { responseTimeoutMs: 400 }));
    await h.session.start();
    h.session.endTurn({ startMs: 0, endMs: 200 });
    answer(a.last, 1);
    await flush();
    await vi.advanceTimersByTimeAsync(5000);
    expect(h.session.records).toEqual([]);
  });

  it('skips a provider whose breaker is open', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    b.state = 'open';
    const c = new FakeProvider('c');
    const h = started(setup([a, b, c]));
    await h.session.start();
    a.last.emit({ type: 'closed', reason: 'gone' });
    await flush();
    expect(h.session.records[0]).toMatchObject({ to: 'c', result: 'ok' });
    expect(h.session.records[0].attempts.map((x) => x.provider)).toEqual(['c']);
    expect(b.connects).toBe(0);
  });

  it('tries each candidate in order and, when none connects, says all are down', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const c = new FakeProvider('c');
    b.failWith = new GatewayError('GW_ERR_PROVIDER_CONNECT', 'refused');
    c.failWith = new GatewayError('GW_ERR_PROVIDER_AUTH', 'bad key');
    const h = started(setup([a, b, c]));
    await h.session.start();
    a.last.emit({ type: 'closed', reason: 'gone' });
    await flush();
    expect(h.session.records[0]).toMatchObject({ to: 'none', result: 'failed' });
    expect(h.session.records[0].attempts.map((x) => [x.provider, x.error])).toEqual([
      ['b', 'GW_ERR_PROVIDER_CONNECT'],
      ['c', 'GW_ERR_PROVIDER_AUTH'],
    ]);
    expect(h.events.at(-1)).toEqual({ type: 'allDown' });
    expect(a.last.closed).toBe(true);
  });

  it('a first provider that fails to connect is replaced at start', async () => {
    const a = new FakeProvider('a');
    a.failWith = new GatewayError('GW_ERR_PROVIDER_CONNECT', 'refused');
    const b = new FakeProvider('b');
    const h = started(setup([a, b]));
    h.write(5); // held until a session is up
    expect(await h.session.start()).toBe(true);
    expect(h.session.records[0]).toMatchObject({ from: 'a', to: 'b', reason: 'connect_failed', result: 'ok' });
    expect(b.last.seqs).toEqual(h.range(0, 4));
    expect(h.session.providersUsed).toEqual(['b']);
  });
});

describe('FailoverSession: before start', () => {
  it('a switch asked for before start does not wait for a reader of its events', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const session = new FailoverSession({ callId: 'c', first: a, providers: [a, b], settings: SETTINGS, wire: { codec: 'pcm16', sampleRate: 16000 }, vad: { speaking: false, sampleRate: 16000, push: () => undefined }, ingress: { delivered: () => undefined }, metrics: createMetrics(), logger: silentLogger() });
    open.push(session);
    const record = await session.switchProvider('manual', 'b');
    expect(record).toMatchObject({ to: 'b', result: 'ok' });
  });
});

describe('FailoverSession: what comes out', () => {
  it('events of the old session after a switch are not delivered; the new session’s are', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b]));
    await h.session.start();
    let open!: () => void;
    b.gate = new Promise((r) => (open = r));
    const switching = h.session.switchProvider('manual', 'b');
    await flush();
    // The old session still talks while the switch is under way: nobody hears it.
    a.last.emit({ type: 'responseStart', responseId: 'ghost' });
    a.last.emit({ type: 'audio', responseId: 'ghost', frame: { samples: new Int16Array(320), sampleRate: 16000, seq: 0, timestampMs: 0 } });
    await flush();
    open();
    await switching;
    b.last.emit({ type: 'responseStart', responseId: 'b-r1' });
    await flush();
    const starts = h.events.filter((e) => e.type === 'responseStart');
    expect(starts).toEqual([{ type: 'responseStart', responseId: 'b-r1' }]);
    expect(h.events.some((e) => e.type === 'audio')).toBe(false);
  });

  it('transcripts come out with the provider that spoke them; errors and closes never do', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b]));
    await h.session.start();
    a.last.emit({ type: 'transcript', role: 'assistant', text: 'hello', final: true });
    a.last.emit({ type: 'closed', reason: 'gone' });
    await flush();
    expect(h.events.map((e) => e.type)).toEqual(['transcript', 'switchStarted']);
    expect(h.events[0]).toMatchObject({ provider: 'a', text: 'hello' });
  });

  it('a graph that throws says so once, as ingressFailed', async () => {
    const a = new FakeProvider('a');
    const h = started(setup([a]));
    await h.session.start();
    h.session.write({ payload: new Uint8Array(641), seq: 0, timestampMs: 0, receivedAtMs: 0 }); // odd PCM16 length
    await flush();
    expect(h.events.map((e) => e.type)).toEqual(['ingressFailed']);
  });
});

describe('FailoverSession: history and the warm standby', () => {
  it('carries the conversation over: turns whose answer was heard, not the one still pending', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b]));
    await h.session.start();
    h.vad.speaking = true;
    h.write(10);
    h.session.endTurn({ startMs: 0, endMs: 200 });
    answer(a.last, 1);
    await flush();
    h.session.replyHeard(); // the caller heard answer 1 to the end: turn 1 is done with
    h.write(10);
    h.session.endTurn({ startMs: 200, endMs: 400 });
    answer(a.last, 2); // answered, but the caller has not heard it: asked again after a switch
    await flush();
    await h.session.switchProvider('manual', 'b');
    expect(b.last.history).toEqual([
      { role: 'user', text: 'question 1' },
      { role: 'assistant', text: 'answer 1' },
    ]);
    expect(b.last.seqs).toEqual(h.range(10, 19));
    expect(b.last.turns).toEqual([{ startMs: 200, endMs: 400 }]);
  });

  it('a barge-in accepts the interrupted turn: it is not replayed', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b]));
    await h.session.start();
    h.vad.speaking = true;
    h.write(10);
    h.session.endTurn({ startMs: 0, endMs: 200 });
    answer(a.last, 1);
    await flush();
    h.session.interrupt({ responseId: 'r1', heardMs: 80 });
    expect(a.last.interrupts).toEqual([{ responseId: 'r1', heardMs: 80, closedAlready: false }]);
    await h.session.switchProvider('manual', 'b');
    expect(b.last.turns).toEqual([]);
    expect(b.last.seqs).toEqual([]);
    expect(b.last.history).toHaveLength(2);
  });

  it('keeps the next provider warm and switches to it without a connect, handing it the history', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const c = new FakeProvider('c');
    const h = started(setup([a, b, c], { standby: true }));
    await h.session.start();
    await vi.advanceTimersByTimeAsync(0);
    await flush();
    expect(b.connects).toBe(1);
    expect(b.last.history).toEqual([]); // connected before there was anything to hand over
    h.session.endTurn({ startMs: 0, endMs: 200 });
    answer(a.last, 1);
    await flush();
    h.session.replyHeard();
    a.last.emit({ type: 'closed', reason: 'gone' });
    await flush();
    expect(h.session.records[0].attempts).toEqual([expect.objectContaining({ provider: 'b', ok: true, warm: true })]);
    expect(b.connects).toBe(1);
    expect(b.last.history).toEqual([
      { role: 'user', text: 'question 1' },
      { role: 'assistant', text: 'answer 1' },
    ]);
    // Its events, watched while it stood by, are heard now; c stands by behind it.
    b.last.emit({ type: 'responseStart', responseId: 'b-r1' });
    await vi.advanceTimersByTimeAsync(0);
    await flush();
    expect(h.events.at(-1)).toEqual({ type: 'responseStart', responseId: 'b-r1' });
    expect(c.connects).toBe(1);
  });

  it('a standby that fails to connect is tried again a second later', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    b.failWith = new GatewayError('GW_ERR_PROVIDER_CONNECT', 'refused');
    const h = started(setup([a, b], { standby: true }));
    await h.session.start();
    await vi.advanceTimersByTimeAsync(0);
    await flush();
    expect(b.connects).toBe(1);
    b.failWith = undefined;
    await vi.advanceTimersByTimeAsync(999);
    expect(b.connects).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(b.connects).toBe(2);
    expect(b.sessions).toHaveLength(1);
  });

  it('a standby that cannot be given history after connect is not used once there is history', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b], { standby: true }));
    await h.session.start();
    await vi.advanceTimersByTimeAsync(0);
    await flush();
    const standby = b.last as { appendHistory?: unknown };
    standby.appendHistory = undefined;
    h.session.endTurn({ startMs: 0, endMs: 200 });
    answer(a.last, 1);
    await flush();
    h.session.replyHeard();
    const record = await h.session.switchProvider('manual', 'b');
    expect(record.attempts).toEqual([expect.objectContaining({ provider: 'b', ok: true })]);
    expect(record.attempts[0].warm).toBeUndefined();
    expect(b.connects).toBe(2);
    expect(b.last.history).toHaveLength(2);
  });

  it('a standby that drops is replaced, and its events never come out', async () => {
    const a = new FakeProvider('a');
    const b = new FakeProvider('b');
    const h = started(setup([a, b], { standby: true }));
    await h.session.start();
    await vi.advanceTimersByTimeAsync(0);
    await flush();
    b.last.emit({ type: 'responseStart', responseId: 'standby-talks' });
    b.last.emit({ type: 'closed', reason: 'gone' });
    await flush();
    expect(h.events).toEqual([]);
    expect(h.session.provider).toBe('a');
    await vi.advanceTimersByTimeAsync(1000);
    await flush();
    expect(b.connects).toBe(2);
  });
});
