/** The SQLite call store: migrations, upsert rules, carrier folding, listing with cursors, retention, orphans. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CallStore, decodeCursor, encodeCursor } from '../../src/store/call-store.js';
import { MIGRATIONS, migrate, type Migration } from '../../src/store/migrations.js';
import { snapshot } from './snapshot.js';

let dir: string;
const open: CallStore[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vg-store-'));
});
afterEach(async () => {
  for (const s of open.splice(0)) s.close();
  await rm(dir, { recursive: true, force: true });
});

function store(opts: { now?: () => number; path?: string } = {}): CallStore {
  const s = CallStore.open({ path: opts.path ?? join(dir, 'sub', 'calls.sqlite'), now: opts.now });
  open.push(s);
  return s;
}


describe('migrations', () => {
  it('creates the file and its directory, in WAL mode, at the newest version; reopening changes nothing', () => {
    const path = join(dir, 'a', 'b', 'calls.sqlite');
    const s = store({ path });
    expect(s.schemaVersion).toBe(MIGRATIONS.length);
    s.close();
    const db = new Database(path);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    db.close();
    expect(store({ path }).schemaVersion).toBe(MIGRATIONS.length);
  });

  it('applies only the missing migrations, each with its version, and rolls a failing one back whole', () => {
    const db = new Database(':memory:');
    const extra: Migration[] = [...MIGRATIONS, { version: MIGRATIONS.length + 1, description: 'add a column', sql: 'ALTER TABLE calls ADD COLUMN note TEXT;' }];
    expect(migrate(db)).toBe(MIGRATIONS.length);
    expect(migrate(db, extra)).toBe(extra.length);
    expect(db.prepare("SELECT COUNT(*) AS n FROM pragma_table_info('calls') WHERE name = 'note'").get()).toEqual({ n: 1 });
    const broken: Migration[] = [...extra, { version: extra.length + 1, description: 'half broken', sql: 'CREATE TABLE t (x INTEGER); SELECT * FROM no_such_table;' }];
    expect(() => migrate(db, broken)).toThrow(/no_such_table/);
    expect(db.pragma('user_version', { simple: true })).toBe(extra.length);
    expect(db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 't'").get()).toEqual({ n: 0 });
    db.close();
  });

  it('refuses a file from a newer gateway, naming the versions', () => {
    const path = join(dir, 'newer.sqlite');
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    expect(() => store({ path })).toThrow(expect.objectContaining({ code: 'GW_ERR_STORE_SCHEMA', message: expect.stringContaining('99') }));
  });

  it('names the path when the file cannot be opened', () => {
    expect(() => store({ path: join(dir, 'not-a-dir.sqlite', 'x', '\0bad') })).toThrow(expect.objectContaining({ code: 'GW_ERR_STORE_OPEN' }));
  });
});

describe('writes', () => {
  it('round-trips a snapshot, JSON columns included', () => {
    const s = store();
    s.writeSnapshots([snapshot({ metadata: { a: [1, 2] } })]);
    const r = s.get('call-1')!;
    expect(r).toMatchObject({
      callId: 'call-1',
      carrierCallId: 'CA1',
      direction: 'inbound',
      state: 'live',
      createdAt: '2023-11-14T22:13:20.000Z',
      answeredAt: '2023-11-14T22:13:20.000Z',
      framesIn: 10,
      dtmf: [{ digit: '5', atMs: 120, direction: 'in' }],
      transcripts: [{ role: 'user', text: 'hello', atMs: 900, provider: 'echo' }],
      latency: { replyLatencyMs: [420] },
      metadata: { a: [1, 2] },
      providersUsed: ['echo'],
      switches: [],
    });
  });

  it('never lets a late live batch overwrite a finished call', () => {
    const s = store();
    s.writeSnapshots([snapshot({ framesIn: 10 })]);
    s.writeEnded(snapshot({ state: 'ended', framesIn: 30, endedAt: new Date(1_700_000_010_000).toISOString(), endReason: 'caller_hangup' }));
    s.writeSnapshots([snapshot({ framesIn: 20 })]);
    expect(s.get('call-1')).toMatchObject({ state: 'ended', framesIn: 30, endReason: 'caller_hangup', endedAt: '2023-11-14T22:13:30.000Z' });
  });

  it('records an end reason we asked for over the one the media side saw', () => {
    const s = store();
    s.writeEnded(snapshot({ state: 'ended', endReason: 'caller_hangup' }), 'api_hangup');
    expect(s.get('call-1')?.endReason).toBe('api_hangup');
  });

  it('keeps an outbound call its creation time, carrier id and metadata when its stream starts', () => {
    let now = 1_700_000_000_000;
    const s = store({ now: () => now });
    s.insertDialing({ callId: 'out-1', correlationId: 'c', transport: 'telnyx', from: '+1555', to: '+1666', provider: 'echo', metadata: { k: 'v' } });
    expect(s.get('out-1')).toMatchObject({ state: 'dialing', direction: 'outbound', createdAt: '2023-11-14T22:13:20.000Z', answeredAt: null });
    s.setCarrierCallId('out-1', 'v3:abc');
    now += 4000;
    s.applyCarrierEvent({ callId: 'out-1', event: { status: 'answered', at: new Date(now).toISOString() }, answeredAt: now });
    s.writeSnapshots([snapshot({ callId: 'out-1', carrierCallId: 'v3:abc', direction: 'outbound', transport: 'telnyx', startedAt: new Date(now + 500).toISOString() })]);
    expect(s.get('out-1')).toMatchObject({
      state: 'live',
      createdAt: '2023-11-14T22:13:20.000Z',
      answeredAt: '2023-11-14T22:13:24.000Z',
      carrierCallId: 'v3:abc',
      metadata: { k: 'v' },
      carrier: { status: 'answered' },
    });
  });

  it('marks only a dialing call failed, and never revives it', () => {
    const s = store();
    s.insertDialing({ callId: 'out-2', correlationId: 'c', transport: 'twilio', from: '+1555', to: '+1666', provider: 'echo', metadata: undefined });
    expect(s.markFailed('out-2', { code: 'GW_ERR_CALL_CARRIER_REJECTED', message: 'no' })).toBe(true);
    expect(s.markFailed('out-2', { code: 'X', message: 'again' })).toBe(false);
    s.writeSnapshots([snapshot({ callId: 'out-2' })]);
    expect(s.get('out-2')).toMatchObject({ state: 'failed', error: { code: 'GW_ERR_CALL_CARRIER_REJECTED', message: 'no' }, endReason: 'carrier_error' });
  });
});

describe('carrier events', () => {
  it('finds the call by our id or the carrier id, appends events, ends a dialing call on a terminal one', () => {
    const s = store();
    s.insertDialing({ callId: 'out-3', correlationId: 'c', transport: 'twilio', from: '+1555', to: '+1666', provider: 'echo', metadata: undefined });
    s.setCarrierCallId('out-3', 'CA3');
    expect(s.applyCarrierEvent({ carrierCallId: 'CA-unknown', event: { status: 'ringing', at: 'x' } })).toBeUndefined();
    expect(s.applyCarrierEvent({ carrierCallId: 'CA3', event: { status: 'ringing', at: 't1' } })).toEqual({ callId: 'out-3', state: 'dialing' });
    expect(s.applyCarrierEvent({ callId: 'out-3', event: { status: 'busy', at: 't2', detail: { SipResponseCode: '486' } }, endReason: 'carrier_busy', endedAt: 5 })).toEqual({
      callId: 'out-3',
      state: 'ended',
    });
    expect(s.get('out-3')).toMatchObject({
      state: 'ended',
      endReason: 'carrier_busy',
      endedAt: new Date(5).toISOString(),
      carrier: { status: 'busy', events: [{ status: 'ringing', at: 't1' }, { status: 'busy', at: 't2', detail: { SipResponseCode: '486' } }] },
    });
  });

  it('does not end a live call on a terminal event (the media side does that) and keeps the last 100 events', () => {
    const s = store();
    s.writeSnapshots([snapshot()]);
    for (let i = 0; i < 120; i++) s.applyCarrierEvent({ carrierCallId: 'CA1', event: { status: `s${String(i)}`, at: 'x' } });
    expect(s.applyCarrierEvent({ carrierCallId: 'CA1', event: { status: 'completed', at: 'x' }, endReason: 'carrier_completed' })?.state).toBe('live');
    const r = s.get('call-1')!;
    expect(r.carrier.events).toHaveLength(100);
    expect(r.carrier.events.at(-1)?.status).toBe('completed');
    expect(r.carrier.events[0].status).toBe('s21');
  });
});

describe('listing', () => {
  function seed(s: CallStore, n: number) {
    // Pairs share a creation time, so the id breaks ties and the cursor must carry both.
    s.writeSnapshots(Array.from({ length: n }, (_, i) => snapshot({ callId: `c${String(i).padStart(3, '0')}`, startedAt: new Date(1_700_000_000_000 + Math.floor(i / 2) * 1000).toISOString() })));
  }

  it('pages newest first with an opaque cursor: every call once, in order', () => {
    const s = store();
    seed(s, 25);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = s.list({ states: ['live'], limit: 7, cursor });
      seen.push(...res.records.map((r) => r.callId));
      if (!res.nextCursor) break;
      cursor = res.nextCursor;
    }
    const expected = Array.from({ length: 25 }, (_, i) => `c${String(24 - i).padStart(3, '0')}`);
    expect(seen).toEqual(expected);
  });

  it('filters by state and answers a bad cursor with GW_ERR_CALL_BAD_CURSOR', () => {
    const s = store();
    seed(s, 3);
    s.writeEnded(snapshot({ callId: 'c001', state: 'ended' }));
    expect(s.list({ states: ['ended', 'failed'], limit: 10 }).records.map((r) => r.callId)).toEqual(['c001']);
    expect(s.list({ states: ['dialing', 'live'], limit: 10 }).records.map((r) => r.callId)).toEqual(['c002', 'c000']);
    expect(() => s.list({ states: ['live'], limit: 1, cursor: 'zz' })).toThrow(expect.objectContaining({ code: 'GW_ERR_CALL_BAD_CURSOR' }));
    expect(decodeCursor(encodeCursor(12, 'a.b'))).toEqual({ createdAt: 12, id: 'a.b' });
  });
});

describe('retention and orphans', () => {
  it('prunes finished calls older than the cutoff, never live ones', () => {
    const s = store();
    s.writeEnded(snapshot({ callId: 'old', state: 'ended', startedAt: new Date(1000).toISOString() }));
    s.writeEnded(snapshot({ callId: 'new', state: 'ended', startedAt: new Date(5000).toISOString() }));
    s.writeSnapshots([snapshot({ callId: 'old-live', startedAt: new Date(1000).toISOString() })]);
    expect(s.prune(3000)).toBe(1);
    expect(s.get('old')).toBeUndefined();
    expect(s.get('new')).toBeDefined();
    expect(s.get('old-live')).toBeDefined();
  });

  it('ends rows of a silent or dead owner, not its own and not a live owner that keeps heartbeating', () => {
    let now = 1_000_000;
    const path = join(dir, 'shared.sqlite');
    const mine = store({ path, now: () => now });
    const other = store({ path, now: () => now });
    other.writeSnapshots([snapshot({ callId: 'theirs' })]);
    mine.writeSnapshots([snapshot({ callId: 'mine' })]);
    now += 10_000;
    other.heartbeat();
    expect(mine.sweepOrphans(15_000)).toBe(0);
    now += 16_000;
    // `other` is this very process, so only silence makes its rows orphans; a dead pid would at once.
    expect(other.sweepOrphans(15_000)).toBe(1); // `mine` went silent
    expect(mine.get('mine')).toMatchObject({ state: 'ended', endReason: 'gateway_interrupted', endedAt: new Date(1_000_000).toISOString() });
    expect(mine.get('theirs')?.state).toBe('live');
  });

  it('ends at once the rows of an owner process on this host that no longer exists', () => {
    const path = join(dir, 'dead.sqlite');
    const s = store({ path });
    s.writeSnapshots([snapshot({ callId: 'orphan' })]);
    s.close();
    const db = new Database(path);
    // A pid far above any pid_max: no such process.
    db.prepare('UPDATE calls SET owner = ? WHERE id = ?').run(`${(s.owner.split(':')[0])}:99999999:dead`, 'orphan');
    db.close();
    const next = store({ path });
    expect(next.sweepOrphans(60_000)).toBe(1);
    expect(next.get('orphan')?.endReason).toBe('gateway_interrupted');
  });
});
