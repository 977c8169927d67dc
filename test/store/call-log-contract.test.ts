/**
 * The call log's behaviour, the same cases against both stores: SQLite (the default) and PostgreSQL
 * (DATABASE_URL, a real server started here). Every case opens two "nodes" on one database where it
 * matters: one writes, the other reads, lists, sweeps. PostgreSQL-only cases (concurrent migrations,
 * a database that is down) are at the end. call-store.test.ts keeps the SQLite-only cases (WAL, files).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CallStore, type CarrierUpdate, type DialingCall, type ListQuery } from '../../src/store/call-store.js';
import type { CallRecord, RecordState } from '../../src/store/call-record.js';
import type { CallSnapshot } from '../../src/calls/call.js';
import { PgCallStore } from '../../src/store/pg-call-store.js';
import { PG_MIGRATIONS } from '../../src/store/pg-migrations.js';
import { POSTGRES_INITDB, requireTool } from '../support/requirements.js';
import { startPostgres, type RunningService } from '../support/services.js';
import { snapshot } from './snapshot.js';

/** The store API with every answer awaited: what both implementations are held to. */
interface Log {
  readonly owner: string;
  insertDialing(c: DialingCall): Promise<void>;
  setCarrierCallId(callId: string, carrierCallId: string): Promise<void>;
  markFailed(callId: string, error: { code: string; message: string }): Promise<boolean>;
  endDialing(callId: string, reason: string, endedAt?: number): Promise<boolean>;
  writeSnapshots(s: readonly CallSnapshot[]): Promise<void>;
  writeEnded(s: CallSnapshot, endReason?: string): Promise<void>;
  applyCarrierEvent(u: CarrierUpdate): Promise<{ callId: string; state: RecordState } | undefined>;
  heartbeat(): Promise<void>;
  sweepOrphans(staleMs: number): Promise<number>;
  prune(beforeMs: number): Promise<number>;
  get(callId: string): Promise<CallRecord | undefined>;
  list(q: ListQuery): Promise<{ records: CallRecord[]; nextCursor: string | null }>;
}

function awaited(s: CallStore): Log {
  return {
    owner: s.owner,
    insertDialing: async (c) => s.insertDialing(c),
    setCarrierCallId: async (a, b) => s.setCarrierCallId(a, b),
    markFailed: async (a, e) => s.markFailed(a, e),
    endDialing: async (a, r, t) => s.endDialing(a, r, t),
    writeSnapshots: async (x) => s.writeSnapshots(x),
    writeEnded: async (x, r) => s.writeEnded(x, r),
    applyCarrierEvent: async (u) => s.applyCarrierEvent(u),
    heartbeat: async () => s.heartbeat(),
    sweepOrphans: async (m) => s.sweepOrphans(m),
    prune: async (b) => s.prune(b),
    get: async (id) => s.get(id),
    list: async (q) => s.list(q),
  };
}

interface Backend {
  readonly name: string;
  /** One node on the test's database. */
  node(now?: () => number): Promise<Log>;
  reset(): Promise<void>;
  cleanup(): Promise<void>;
}

const initdb = requireTool(POSTGRES_INITDB);
let postgres: RunningService | undefined;
beforeAll(async () => {
  if (initdb.path) postgres = await startPostgres(initdb.path);
}, 60_000);
afterAll(async () => {
  await postgres?.stop();
});

function sqliteBackend(): Backend {
  let dir = '';
  const open: CallStore[] = [];
  return {
    name: 'sqlite',
    async node(now) {
      const s = CallStore.open({ path: join(dir, 'calls.sqlite'), now });
      open.push(s);
      return awaited(s);
    },
    async reset() {
      dir = await mkdtemp(join(tmpdir(), 'vg-log-'));
    },
    async cleanup() {
      for (const s of open.splice(0)) s.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function postgresBackend(): Backend {
  const open: PgCallStore[] = [];
  let n = 0;
  return {
    name: 'postgres',
    async node(now) {
      const s = await PgCallStore.open({ url: postgres!.url, owner: `${(await import('node:os')).hostname()}:${String(process.pid)}:node${String(n++)}`, now });
      open.push(s);
      return s;
    },
    async reset() {
      const c = new pg.Client({ connectionString: postgres!.url });
      await c.connect();
      await c.query('DROP TABLE IF EXISTS calls; DROP TABLE IF EXISTS schema_migrations');
      await c.end();
    },
    async cleanup() {
      for (const s of open.splice(0)) await s.close();
    },
  };
}

const backends: { b: Backend; skip: boolean }[] = [
  { b: sqliteBackend(), skip: false },
  { b: postgresBackend(), skip: !initdb.path },
];

describe.each(backends)('call log on $b.name', ({ b, skip }) => {
  beforeEach(async () => {
    if (!skip) await b.reset();
  });
  afterEach(async () => {
    if (!skip) await b.cleanup();
  });

  it.skipIf(skip)('round-trips a snapshot written by one node and read by another, JSON columns included', async () => {
    const a = await b.node();
    const other = await b.node();
    await a.writeSnapshots([snapshot({ metadata: { a: [1, 2] } })]);
    expect(await other.get('call-1')).toMatchObject({
      callId: 'call-1',
      carrierCallId: 'CA1',
      state: 'live',
      createdAt: '2023-11-14T22:13:20.000Z',
      framesIn: 10,
      dtmf: [{ digit: '5', atMs: 120, direction: 'in' }],
      latency: { replyLatencyMs: [420] },
      metadata: { a: [1, 2] },
    });
    expect(await other.get('nope')).toBeUndefined();
  });

  it.skipIf(skip)('never lets a late live batch overwrite a finished call; an asked-for end reason wins', async () => {
    const s = await b.node();
    await s.writeSnapshots([snapshot({ framesIn: 10 })]);
    await s.writeEnded(snapshot({ state: 'ended', framesIn: 30, endedAt: new Date(1_700_000_010_000).toISOString(), endReason: 'caller_hangup' }), 'api_hangup');
    await s.writeSnapshots([snapshot({ framesIn: 20 })]);
    expect(await s.get('call-1')).toMatchObject({ state: 'ended', framesIn: 30, endReason: 'api_hangup', endedAt: '2023-11-14T22:13:30.000Z' });
  });

  it.skipIf(skip)('keeps an outbound call its creation time, carrier id and metadata when its stream starts', async () => {
    let now = 1_700_000_000_000;
    const s = await b.node(() => now);
    await s.insertDialing({ callId: 'out-1', correlationId: 'c', transport: 'telnyx', from: '+1555', to: '+1666', provider: 'echo', metadata: { k: 'v' } });
    expect(await s.get('out-1')).toMatchObject({ state: 'dialing', direction: 'outbound', createdAt: '2023-11-14T22:13:20.000Z', answeredAt: null });
    await s.setCarrierCallId('out-1', 'v3:abc');
    now += 4000;
    await s.applyCarrierEvent({ callId: 'out-1', event: { status: 'answered', at: new Date(now).toISOString() }, answeredAt: now });
    await s.writeSnapshots([snapshot({ callId: 'out-1', carrierCallId: 'v3:abc', direction: 'outbound', transport: 'telnyx', startedAt: new Date(now + 500).toISOString() })]);
    expect(await s.get('out-1')).toMatchObject({
      state: 'live',
      createdAt: '2023-11-14T22:13:20.000Z',
      answeredAt: '2023-11-14T22:13:24.000Z',
      carrierCallId: 'v3:abc',
      metadata: { k: 'v' },
      carrier: { status: 'answered' },
    });
  });

  it.skipIf(skip)('marks only a dialing call failed or ended, and never revives it', async () => {
    const s = await b.node();
    await s.insertDialing({ callId: 'out-2', correlationId: 'c', transport: 'twilio', from: '+1555', to: '+1666', provider: 'echo', metadata: undefined });
    expect(await s.markFailed('out-2', { code: 'GW_ERR_CALL_CARRIER_REJECTED', message: 'no' })).toBe(true);
    expect(await s.markFailed('out-2', { code: 'X', message: 'again' })).toBe(false);
    expect(await s.endDialing('out-2', 'not_connected')).toBe(false);
    await s.writeSnapshots([snapshot({ callId: 'out-2' })]);
    expect(await s.get('out-2')).toMatchObject({ state: 'failed', error: { code: 'GW_ERR_CALL_CARRIER_REJECTED', message: 'no' }, endReason: 'carrier_error' });
    await s.insertDialing({ callId: 'out-4', correlationId: 'c', transport: 'twilio', from: '+1555', to: '+1666', provider: 'echo', metadata: undefined });
    expect(await s.endDialing('out-4', 'not_connected', 7)).toBe(true);
    expect(await s.get('out-4')).toMatchObject({ state: 'ended', endReason: 'not_connected', endedAt: new Date(7).toISOString() });
  });

  it.skipIf(skip)('folds carrier events by our id or the carrier id on any node; a terminal one ends a dialing call', async () => {
    const placer = await b.node();
    const other = await b.node();
    await placer.insertDialing({ callId: 'out-3', correlationId: 'c', transport: 'twilio', from: '+1555', to: '+1666', provider: 'echo', metadata: undefined });
    await placer.setCarrierCallId('out-3', 'CA3');
    expect(await other.applyCarrierEvent({ carrierCallId: 'CA-unknown', event: { status: 'ringing', at: 'x' } })).toBeUndefined();
    expect(await other.applyCarrierEvent({ carrierCallId: 'CA3', event: { status: 'ringing', at: 't1' } })).toEqual({ callId: 'out-3', state: 'dialing' });
    expect(await other.applyCarrierEvent({ callId: 'out-3', event: { status: 'busy', at: 't2', detail: { SipResponseCode: '486' } }, endReason: 'carrier_busy', endedAt: 5 })).toEqual({
      callId: 'out-3',
      state: 'ended',
    });
    expect(await placer.get('out-3')).toMatchObject({
      state: 'ended',
      endReason: 'carrier_busy',
      endedAt: new Date(5).toISOString(),
      carrier: { status: 'busy', events: [{ status: 'ringing', at: 't1' }, { status: 'busy', at: 't2', detail: { SipResponseCode: '486' } }] },
    });
  });

  it.skipIf(skip)('lists every node\'s calls newest first with an opaque cursor, and filters by state', async () => {
    const a = await b.node();
    const c = await b.node();
    // Pairs share a creation time, so the id breaks ties and the cursor must carry both; nodes alternate.
    for (let i = 0; i < 25; i++) {
      await (i % 2 === 0 ? a : c).writeSnapshots([snapshot({ callId: `c${String(i).padStart(3, '0')}`, startedAt: new Date(1_700_000_000_000 + Math.floor(i / 2) * 1000).toISOString() })]);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const res = await c.list({ states: ['live'], limit: 7, cursor });
      seen.push(...res.records.map((r) => r.callId));
      if (!res.nextCursor) break;
      cursor = res.nextCursor;
    }
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `c${String(24 - i).padStart(3, '0')}`));
    await a.writeEnded(snapshot({ callId: 'c001', state: 'ended' }));
    expect((await c.list({ states: ['ended', 'failed'], limit: 10 })).records.map((r) => r.callId)).toEqual(['c001']);
    expect((await c.list({ states: ['dialing', 'live'], limit: 2 })).records.map((r) => r.callId)).toEqual(['c024', 'c023']);
    await expect(c.list({ states: ['live'], limit: 1, cursor: 'zz' })).rejects.toMatchObject({ code: 'GW_ERR_CALL_BAD_CURSOR' });
  });

  it.skipIf(skip)('prunes finished calls older than the cutoff, never live ones', async () => {
    const s = await b.node();
    await s.writeEnded(snapshot({ callId: 'old', state: 'ended', startedAt: new Date(1000).toISOString() }));
    await s.writeEnded(snapshot({ callId: 'new', state: 'ended', startedAt: new Date(5000).toISOString() }));
    await s.writeSnapshots([snapshot({ callId: 'old-live', startedAt: new Date(1000).toISOString() })]);
    expect(await s.prune(3000)).toBe(1);
    expect(await s.get('old')).toBeUndefined();
    expect(await s.get('new')).toBeDefined();
    expect(await s.get('old-live')).toBeDefined();
  });

  it.skipIf(skip)('sweeps rows of a silent node, not its own and not a node that keeps heartbeating', async () => {
    let now = 1_000_000;
    const mine = await b.node(() => now);
    const other = await b.node(() => now);
    await other.writeSnapshots([snapshot({ callId: 'theirs' })]);
    await mine.writeSnapshots([snapshot({ callId: 'mine' })]);
    now += 10_000;
    await other.heartbeat();
    expect(await mine.sweepOrphans(15_000)).toBe(0);
    now += 16_000;
    expect(await other.sweepOrphans(15_000)).toBe(1); // `mine` went silent
    expect(await mine.get('mine')).toMatchObject({ state: 'ended', endReason: 'gateway_interrupted', endedAt: new Date(1_000_000).toISOString() });
    expect((await mine.get('theirs'))?.state).toBe('live');
  });
});

describe.skipIf(!initdb.path)('PostgreSQL only', () => {
  beforeEach(async () => {
    await postgresBackend().reset();
  });

  it('migrates once when several gateways start at the same moment (advisory lock), and records it', async () => {
    const nodes = await Promise.all(Array.from({ length: 4 }, (_, i) => PgCallStore.open({ url: postgres!.url, owner: `h:1:${String(i)}` })));
    expect(nodes.map((n) => n.schemaVersion)).toEqual([1, 1, 1, 1].map(() => PG_MIGRATIONS.length));
    const c = new pg.Client({ connectionString: postgres!.url });
    await c.connect();
    const rows = (await c.query('SELECT version FROM schema_migrations ORDER BY version')).rows as { version: number }[];
    expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
    // A database from a newer gateway is refused, naming the versions.
    await c.query(`INSERT INTO schema_migrations (version, description) VALUES (99, 'future')`);
    await c.end();
    await expect(PgCallStore.open({ url: postgres!.url, owner: 'h:1:x' })).rejects.toMatchObject({ code: 'GW_ERR_STORE_SCHEMA', message: expect.stringContaining('99') });
    for (const n of nodes) await n.close();
  });

  it('a database that cannot be reached fails the open with GW_ERR_STORE_OPEN, password redacted', async () => {
    const { freePort } = await import('../../src/util/net.js');
    const url = `postgres://gw:s3cret@127.0.0.1:${String(await freePort())}/calls`;
    const err = (await PgCallStore.open({ url, owner: 'h:1:y', connectTimeoutMs: 1000 }).then(
      () => new Error('opened'),
      (e: unknown) => e,
    )) as Error;
    expect(err).toMatchObject({ code: 'GW_ERR_STORE_OPEN' });
    expect(err.message).toContain('127.0.0.1');
    expect(err.message).not.toContain('s3cret');
  });
});
