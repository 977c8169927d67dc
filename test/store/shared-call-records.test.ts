/**
 * The recorder with DATABASE_URL: two gateway nodes (two CallRecords, each with its own pool and local
 * mirror) on one real PostgreSQL. What one node records, the other lists and reads; PostgreSQL going
 * away mid-run costs logged, counted write errors and nothing else; a database down at start fails it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openCallRecordsFor, type CallRecords } from '../../src/store/call-records.js';
import { CallStore } from '../../src/store/call-store.js';
import { MirroredCallStore } from '../../src/store/mirrored-call-store.js';
import type { PgCallStore } from '../../src/store/pg-call-store.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { freePort } from '../../src/util/net.js';
import { POSTGRES_INITDB, requireTool } from '../support/requirements.js';
import { startPostgres, type RunningService } from '../support/services.js';
import { snapshot } from './snapshot.js';
import type { CallSnapshot } from '../../src/calls/call.js';

const initdb = requireTool(POSTGRES_INITDB);

function node(url: string) {
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
  const metrics = createMetrics();
  const open = () => openCallRecordsFor({ calls: { recordPath: 'unused', recordDays: 30, databaseUrl: url } }, { metrics, logger });
  return { lines, metrics, open };
}

describe.skipIf(!initdb.path)('call records shared through PostgreSQL', () => {
  let postgres: RunningService;
  const opened: CallRecords[] = [];
  beforeAll(async () => {
    postgres = await startPostgres(initdb.path!);
  }, 60_000);
  afterAll(async () => {
    await postgres.stop();
  });
  afterEach(async () => {
    for (const r of opened.splice(0)) await r.close();
  });

  it('a call recorded on node A is listed and read on node B, live and then ended; dialing rows too', async () => {
    const a = await node(postgres.url).open();
    const b = await node(postgres.url).open();
    opened.push(a, b);
    a.started(snapshot({ callId: 'on-a', framesIn: 3 }));
    // list() on A writes A's pending batch first; B sees it once A's queue has been written.
    expect((await a.list({ states: ['live'], limit: 10 })).records.map((r) => r.callId)).toContain('on-a');
    expect(await b.get('on-a')).toMatchObject({ state: 'live', framesIn: 3 });
    await a.ended(snapshot({ callId: 'on-a', state: 'ended', framesIn: 9, endReason: 'caller_hangup' }));
    expect(await b.get('on-a')).toMatchObject({ state: 'ended', framesIn: 9, endReason: 'caller_hangup' });
    // Call control writes through the synchronous store API: A answers at once, B after the queue.
    a.store.insertDialing({ callId: 'out-a', correlationId: 'c', transport: 'twilio', from: '+1555', to: '+1666', provider: 'echo', metadata: undefined });
    expect(a.store.get('out-a')?.state).toBe('dialing');
    await a.list({ states: ['dialing'], limit: 1 });
    expect((await b.list({ states: ['dialing', 'live', 'ended'], limit: 10 })).records.map((r) => r.callId).sort()).toEqual(['on-a', 'out-a']);
  });

  it('PostgreSQL going away mid-run: writes fail logged and counted, the recorder keeps answering', async () => {
    const own = await startPostgres(initdb.path!);
    const n = node(own.url);
    const r = await n.open();
    opened.push(r);
    r.started(snapshot({ callId: 'before' }));
    await r.list({ states: ['live'], limit: 1 });
    await own.stop();
    r.started(snapshot({ callId: 'during' }));
    r.flush();
    // ended() resolves (the call manager is never held up), the failure is in the metric and the log.
    await expect(r.ended(snapshot({ callId: 'during', state: 'ended' }))).resolves.toBeUndefined();
    const errors = await n.metrics.callRecordWriteErrorsTotal.get();
    const kinds = errors.values.filter((v) => v.value > 0).map((v) => v.labels.kind);
    expect(kinds).toEqual(expect.arrayContaining(['batch', 'ended']));
    expect(n.lines.filter((l) => l.includes('"call_record_shared_write_failed"')).length).toBeGreaterThanOrEqual(2);
    // This node's own view (what call control uses) still has the call.
    expect(r.store.get('during')?.state).toBe('ended');
  }, 30_000);

  it('a database down at start fails the start with GW_ERR_STORE_OPEN', async () => {
    const url = `postgres://postgres@127.0.0.1:${String(await freePort())}/postgres`;
    await expect(node(url).open()).rejects.toMatchObject({ code: 'GW_ERR_STORE_OPEN' });
  });
});

describe('the write queue to a shared database that hangs', () => {
  it('is bounded: past 1000 waiting writes new ones are dropped, logged and counted; the local mirror has them', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
    const dropped: string[] = [];
    const local = CallStore.open({ path: ':memory:' });
    const m = new MirroredCallStore(local, hangingPostgres().store, { logger, onDropped: (k) => dropped.push(k) });
    // Finished calls, each its own write (live batches waiting at the end are merged: next test).
    for (let i = 0; i < 1005; i++) m.writeEnded(snapshot({ callId: `c${String(i)}`, state: 'ended' }));
    expect(m.pendingWrites).toBe(1000);
    expect(dropped).toEqual(['ended', 'ended', 'ended', 'ended', 'ended']);
    expect(lines.filter((l) => l.includes('"call_record_shared_write_dropped"'))).toHaveLength(5);
    expect(local.get('c1004')?.state).toBe('ended');
    local.close();
  });

  it('merges live batches waiting at its end (newest snapshot per call), never past another write', async () => {
    const pg = hangingPostgres();
    const local = CallStore.open({ path: ':memory:' });
    const m = new MirroredCallStore(local, pg.store, { logger: createLogger({ level: 'silent' }) });
    m.writeEnded(snapshot({ callId: 'first', state: 'ended' })); // hangs: everything after it waits
    for (let i = 0; i < 7; i++) m.writeSnapshots([snapshot({ callId: 'a', framesIn: i }), snapshot({ callId: `b${String(i)}` })]);
    m.writeEnded(snapshot({ callId: 'a', state: 'ended', framesIn: 99 }));
    m.writeSnapshots([snapshot({ callId: 'late' })]);
    expect(m.pendingWrites).toBe(4); // ended, one merged batch, ended, a new batch
    pg.release();
    await m.settled();
    expect(pg.calls.map((c) => c.kind)).toEqual(['writeEnded', 'writeSnapshots', 'writeEnded', 'writeSnapshots']);
    const merged = pg.calls[1]!.snapshots;
    expect(merged.map((x) => x.callId).sort()).toEqual(['a', 'b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6']);
    expect(merged.find((x) => x.callId === 'a')?.framesIn).toBe(6);
    expect(pg.calls[3]!.snapshots.map((x) => x.callId)).toEqual(['late']);
    local.close();
  });
});

/** Stands in for a PostgreSQL that accepts connections and answers nothing until released. */
function hangingPostgres() {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const calls: { kind: string; snapshots: CallSnapshot[] }[] = [];
  const record = (kind: string, snapshots: CallSnapshot[]) => {
    calls.push({ kind, snapshots });
    return gate;
  };
  const store = {
    writeSnapshots: (s: readonly CallSnapshot[]) => record('writeSnapshots', [...s]),
    writeEnded: (s: CallSnapshot) => record('writeEnded', [s]),
    close: async () => undefined,
  };
  return { store: store as unknown as PgCallStore, calls, release: () => release() };
}
