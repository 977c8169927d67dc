/** The recorder over the store: batching off the hot path, durable ends, end-reason overrides, housekeeping. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CallRecords, FLUSH_SLICE } from '../../src/store/call-records.js';
import { CallStore } from '../../src/store/call-store.js';
import { createLogger } from '../../src/observability/logger.js';
import { snapshot } from './snapshot.js';
import type { CallSnapshot } from '../../src/calls/call.js';

const logger = createLogger({ level: 'silent' });
const opened: CallRecords[] = [];

afterEach(() => {
  vi.useRealTimers();
  for (const r of opened.splice(0)) r.close();
});

function records(opts: { now?: () => number; retentionDays?: number; onPruned?: (n: number) => void; onSwept?: (n: number) => void } = {}) {
  const writes: string[] = [];
  const store = CallStore.open({ path: ':memory:', now: opts.now, observe: (kind, _s, ok) => writes.push(ok ? kind : `${kind}:failed`) });
  const r = new CallRecords({ store, logger, retentionDays: opts.retentionDays ?? 30, now: opts.now, onPruned: opts.onPruned, onSwept: opts.onSwept });
  opened.push(r);
  return { r, store, writes };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
/** A live call whose snapshot is fixed. */
const live = (s: CallSnapshot) => ({ id: s.callId, snapshot: () => s });

describe('CallRecords', () => {
  it('batches started and updated snapshots into one transaction on the next turn, newest snapshot winning', async () => {
    const { r, store, writes } = records();
    r.started(snapshot({ callId: 'a', framesIn: 1 }));
    r.started(snapshot({ callId: 'b', framesIn: 1 }));
    r.updated([live(snapshot({ callId: 'a', framesIn: 50 })), live(snapshot({ callId: 'b', framesIn: 60 }))]);
    expect(writes).toEqual([]);
    expect(store.get('a')).toBeUndefined();
    await tick();
    expect(writes).toEqual(['batch']);
    expect(store.get('a')?.framesIn).toBe(50);
    expect(store.get('b')?.framesIn).toBe(60);
  });

  it('writes live calls a slice per turn of the event loop, each snapshot taken as its row is written', async () => {
    const { r, store, writes } = records();
    const framesIn = new Map<string, number>();
    const calls = Array.from({ length: FLUSH_SLICE * 2 + 3 }, (_, i) => {
      const id = `live-${String(i)}`;
      framesIn.set(id, 1);
      return { id, snapshot: () => snapshot({ callId: id, framesIn: framesIn.get(id) }) };
    });
    r.updated(calls);
    for (const c of calls) framesIn.set(c.id, 7); // counters move on after the tick, before the write
    expect(writes).toEqual([]);
    const written = () => calls.filter((c) => store.get(c.id) !== undefined).length;
    await tick();
    expect(written()).toBe(FLUSH_SLICE);
    expect(store.get('live-0')?.framesIn).toBe(7);
    for (const c of calls) framesIn.set(c.id, 8); // and on again between two slices
    await tick();
    expect(written()).toBe(FLUSH_SLICE * 2);
    expect(store.get('live-0')?.framesIn).toBe(7);
    expect(store.get(`live-${String(FLUSH_SLICE)}`)?.framesIn).toBe(8);
    await tick();
    expect(written()).toBe(calls.length);
    expect(writes).toEqual(['batch', 'batch', 'batch']);
    await tick();
    expect(writes).toHaveLength(3); // nothing left, nothing rescheduled
  });

  it('flush() writes every pending call at once, in one transaction', () => {
    const { r, store, writes } = records();
    r.updated(Array.from({ length: FLUSH_SLICE * 3 }, (_, i) => ({ id: `f-${String(i)}`, snapshot: () => snapshot({ callId: `f-${String(i)}` }) })));
    r.flush();
    expect(writes).toEqual(['batch']);
    expect(store.get(`f-${String(FLUSH_SLICE * 3 - 1)}`)?.state).toBe('live');
  });

  it('skips a call whose snapshot throws, logs it, and writes the others', async () => {
    const lines: string[] = [];
    const store = CallStore.open({ path: ':memory:' });
    const r = new CallRecords({ store, logger: createLogger({ level: 'error', destination: { write: (l: string) => lines.push(l) } }), retentionDays: 30 });
    opened.push(r);
    r.updated([
      { id: 'ok-1', snapshot: () => snapshot({ callId: 'ok-1' }) },
      { id: 'broken', snapshot: () => { throw new Error('torn down'); } },
      { id: 'ok-2', snapshot: () => snapshot({ callId: 'ok-2' }) },
    ]);
    await tick();
    expect(store.get('ok-1')?.state).toBe('live');
    expect(store.get('ok-2')?.state).toBe('live');
    expect(store.get('broken')).toBeUndefined();
    expect(lines.some((l) => l.includes('call_records_snapshot_failed') && l.includes('broken'))).toBe(true);
  });

  it('flush() writes what is pending at once (a listing needs calls that just started)', () => {
    const { r, store } = records();
    r.started(snapshot({ callId: 'x' }));
    r.flush();
    expect(store.get('x')?.state).toBe('live');
  });

  it('writes a finished call before ended() returns, and a pending live batch cannot undo it', async () => {
    const { r, store, writes } = records();
    r.updated([live(snapshot({ callId: 'e', framesIn: 5 }))]);
    expect(r.ended(snapshot({ callId: 'e', state: 'ended', framesIn: 9, endReason: 'caller_hangup' }))).toBeUndefined();
    expect(store.get('e')).toMatchObject({ state: 'ended', framesIn: 9 });
    await tick();
    expect(writes).toEqual(['ended']);
    expect(store.get('e')?.framesIn).toBe(9);
  });

  it('applies an expected end reason within its window, not after it, and not once withdrawn', () => {
    let now = 1_000_000;
    const { r, store } = records({ now: () => now });
    r.expectEnd('h1', 'api_hangup', 5000);
    r.ended(snapshot({ callId: 'h1', state: 'ended', endReason: 'caller_hangup' }));
    expect(store.get('h1')?.endReason).toBe('api_hangup');

    r.expectEnd('h2', 'api_hangup', 5000);
    now += 6000;
    r.ended(snapshot({ callId: 'h2', state: 'ended', endReason: 'caller_hangup' }));
    expect(store.get('h2')?.endReason).toBe('caller_hangup');

    const withdraw = r.expectEnd('h3', 'api_hangup');
    withdraw();
    r.ended(snapshot({ callId: 'h3', state: 'ended', endReason: 'socket_closed' }));
    expect(store.get('h3')?.endReason).toBe('socket_closed');
  });

  it('retries a finished call whose write failed, and resolves once it is written', async () => {
    vi.useFakeTimers();
    const { r, store } = records();
    const real = store.writeEnded.bind(store);
    let failures = 2;
    const spy = vi.spyOn(store, 'writeEnded').mockImplementation((s, reason) => {
      if (failures-- > 0) throw new Error('SQLITE_BUSY: database is locked');
      real(s, reason);
    });
    const pending = r.ended(snapshot({ callId: 'busy', state: 'ended' }));
    expect(pending).toBeInstanceOf(Promise);
    await vi.advanceTimersByTimeAsync(500 + 1000);
    await pending;
    expect(spy).toHaveBeenCalledTimes(3);
    expect(store.get('busy')?.state).toBe('ended');
  });

  it('gives up after three retries, rejecting with the store error', async () => {
    vi.useFakeTimers();
    const { r, store } = records();
    vi.spyOn(store, 'writeEnded').mockImplementation(() => {
      throw new Error('disk I/O error');
    });
    const pending = r.ended(snapshot({ callId: 'lost', state: 'ended' })) as Promise<void>;
    const outcome = pending.then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    await vi.advanceTimersByTimeAsync(500 + 1000 + 1500);
    expect(await outcome).toContain('disk I/O error');
  });

  it('prunes and sweeps at start, heartbeats every second, prunes hourly, on unref\'d timers', async () => {
    vi.useFakeTimers();
    const DAY = 24 * 3600 * 1000;
    let now = 100 * DAY;
    const pruned: number[] = [];
    const { r, store, writes } = records({ now: () => now, retentionDays: 30, onPruned: (n) => pruned.push(n) });
    store.writeEnded(snapshot({ callId: 'ancient', state: 'ended', startedAt: new Date(now - 31 * DAY).toISOString() }));
    store.writeEnded(snapshot({ callId: 'recent', state: 'ended', startedAt: new Date(now - 29 * DAY).toISOString() }));
    writes.length = 0;
    r.start();
    expect(pruned).toEqual([1]);
    expect(store.get('ancient')).toBeUndefined();
    expect(writes).toEqual(['prune', 'sweep']);
    await vi.advanceTimersByTimeAsync(3000);
    expect(writes.filter((w) => w === 'heartbeat')).toHaveLength(3);
    now += 2 * DAY;
    await vi.advanceTimersByTimeAsync(3600_000);
    expect(pruned).toEqual([1, 1]);
    expect(store.get('recent')).toBeUndefined();
  });

  it('close() writes what is pending and closes the file', () => {
    const { r, store } = records();
    r.started(snapshot({ callId: 'last' }));
    const spy = vi.spyOn(store, 'close');
    const flushed = vi.spyOn(store, 'writeSnapshots');
    r.close();
    expect(flushed).toHaveBeenCalledTimes(1);
    expect(flushed.mock.calls[0][0].map((s) => s.callId)).toEqual(['last']);
    expect(spy).toHaveBeenCalled();
    r.started(snapshot({ callId: 'after' }));
    r.close();
  });
});
