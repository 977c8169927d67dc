/**
 * The call log in PostgreSQL (DATABASE_URL), shared by every gateway node: each node writes its own
 * calls and any node lists them all. The same operations, rules and SQL shapes as the SQLite store
 * (call-store.ts), asynchronous because the database is across the network.
 *
 * Orphans across machines: a row's owner may be on another host, whose processes we cannot look at,
 * so staleness (no heartbeat for `staleMs`) is the rule; an owner on this host that no longer exists
 * is swept at once, as the SQLite store does.
 */
import pg from 'pg';
import type { CallSnapshot } from '../calls/call.js';
import { GatewayError } from '../errors.js';
import { recordFromRow, rowFromSnapshot, withCarrierEvent, type CallRecord, type CallRow, type RecordState, type SnapshotRow } from './call-record.js';
import { decodeCursor, encodeCursor, ownerIsGone, type CarrierUpdate, type DialingCall, type ListQuery } from './call-store.js';
import { migratePg } from './pg-migrations.js';

export interface PgCallStoreOptions {
  /** postgres:// or postgresql:// URL. */
  readonly url: string;
  /** The owner written on this node's rows (the local store's, so both name the same process). */
  readonly owner: string;
  readonly now?: () => number;
  /** Connections in the pool; writes are serialised by the caller, reads may overlap them. */
  readonly maxConnections?: number;
  readonly connectTimeoutMs?: number;
  /** A query the server has not answered within this fails. */
  readonly queryTimeoutMs?: number;
  /** Called after each write with its kind, duration and outcome (metrics). */
  readonly observe?: (kind: string, seconds: number, ok: boolean) => void;
}

const LIVE_STATES = `('dialing', 'live')`;
/** BIGINT comes back from pg as a string (it may exceed 2^53); ours are ms and counters, well inside. */
const NUMERIC = ['created_at', 'answered_at', 'ended_at', 'updated_at', 'sample_rate', 'turns', 'frames_in', 'frames_out', 'frames_dropped'] as const;

function rowOf(r: Record<string, unknown>): CallRow {
  for (const k of NUMERIC) if (r[k] !== null && r[k] !== undefined) r[k] = Number(r[k]);
  return r as unknown as CallRow;
}

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

const UPSERT_COLUMNS = [
  'id', 'carrier_call_id', 'correlation_id', 'transport', 'direction', 'from_number', 'to_number', 'state', 'created_at',
  'answered_at', 'ended_at', 'end_reason', 'codec', 'sample_rate', 'provider', 'vad_engine', 'providers_used', 'switches',
  'transcripts', 'dtmf', 'barge_ins', 'turns', 'frames_in', 'frames_out', 'frames_dropped', 'latency', 'metadata', 'owner', 'updated_at',
] as const satisfies readonly (keyof SnapshotRow)[];

function upsertSql(guard: string): string {
  // As the SQLite store: an outbound row keeps its creation time, the carrier's answer time and id.
  const keep = new Set<string>(['id', 'created_at', 'answered_at', 'carrier_call_id', 'metadata']);
  const sets = UPSERT_COLUMNS.filter((c) => !keep.has(c)).map((c) => `${c} = excluded.${c}`);
  sets.push('answered_at = COALESCE(calls.answered_at, excluded.answered_at)');
  sets.push('carrier_call_id = COALESCE(excluded.carrier_call_id, calls.carrier_call_id)');
  sets.push('metadata = COALESCE(excluded.metadata, calls.metadata)');
  return `INSERT INTO calls (${UPSERT_COLUMNS.join(', ')}) VALUES (${UPSERT_COLUMNS.map((_, i) => `$${String(i + 1)}`).join(', ')})
    ON CONFLICT (id) DO UPDATE SET ${sets.join(', ')} ${guard}`;
}
const UPSERT_LIVE = upsertSql(`WHERE calls.state NOT IN ('ended', 'failed')`);
const UPSERT_ANY = upsertSql('');
const paramsOf = (row: SnapshotRow): unknown[] => UPSERT_COLUMNS.map((c) => row[c]);

type Query = (sql: string, params?: unknown[]) => Promise<pg.QueryResult>;

export class PgCallStore {
  readonly owner: string;
  readonly path: string;
  readonly schemaVersion: number;
  readonly #pool: pg.Pool;
  readonly #now: () => number;
  readonly #observe: PgCallStoreOptions['observe'];
  #closed = false;

  /** Connect and migrate. A database that cannot be reached is a GW_ERR_STORE_OPEN naming it. */
  static async open(opts: PgCallStoreOptions): Promise<PgCallStore> {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.maxConnections ?? 4,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      // A database that hangs fails the write (logged, counted) instead of holding the queue for ever.
      query_timeout: opts.queryTimeoutMs ?? 10_000,
    });
    // An idle client whose server went away emits 'error' on the pool; the next query reports it.
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      try {
        return new PgCallStore(pool, await migratePg(client), opts);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('GW_ERR_STORE_OPEN', `${redactUrl(opts.url)}: ${(err as Error).message}`, { cause: err });
    }
  }

  private constructor(pool: pg.Pool, schemaVersion: number, opts: PgCallStoreOptions) {
    this.#pool = pool;
    this.schemaVersion = schemaVersion;
    this.path = redactUrl(opts.url);
    this.owner = opts.owner;
    this.#now = opts.now ?? Date.now;
    this.#observe = opts.observe;
  }

  /** Run `fn` in one transaction on one connection, timed and wrapped. */
  async #write<T>(kind: string, fn: (q: Query) => Promise<T>): Promise<T> {
    const t0 = performance.now();
    let ok = false;
    let client: pg.PoolClient | undefined;
    try {
      client = await this.#pool.connect();
      const c = client;
      await c.query('BEGIN');
      try {
        const result = await fn((sql, params) => c.query(sql, params));
        await c.query('COMMIT');
        ok = true;
        return result;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    } catch (err) {
      throw new GatewayError('GW_ERR_STORE_WRITE', `${kind}: ${(err as Error).message}`, { cause: err });
    } finally {
      // A connection that failed mid-transaction is discarded rather than handed out again.
      client?.release(ok ? undefined : true);
      this.#observe?.(kind, (performance.now() - t0) / 1000, ok);
    }
  }

  async insertDialing(c: DialingCall): Promise<void> {
    const now = this.#now();
    await this.#write('dialing', (q) =>
      q(
        `INSERT INTO calls (id, correlation_id, transport, direction, from_number, to_number, state, created_at, provider, metadata, owner, updated_at)
         VALUES ($1, $2, $3, 'outbound', $4, $5, 'dialing', $6, $7, $8, $9, $10)`,
        [c.callId, c.correlationId, c.transport, c.from, c.to, now, c.provider, c.metadata === undefined ? null : JSON.stringify(c.metadata), this.owner, now],
      ),
    );
  }

  async setCarrierCallId(callId: string, carrierCallId: string): Promise<void> {
    await this.#write('carrier_id', (q) => q('UPDATE calls SET carrier_call_id = COALESCE(carrier_call_id, $1), updated_at = $2 WHERE id = $3', [carrierCallId, this.#now(), callId]));
  }

  async markFailed(callId: string, error: { code: string; message: string }): Promise<boolean> {
    const now = this.#now();
    const r = await this.#write('failed', (q) =>
      q(
        `UPDATE calls SET state = 'failed', error_code = $1, error_message = $2, end_reason = 'carrier_error', ended_at = $3, updated_at = $3
         WHERE id = $4 AND state = 'dialing'`,
        [error.code, error.message, now, callId],
      ),
    );
    return r.rowCount === 1;
  }

  async endDialing(callId: string, reason: string, endedAt = this.#now()): Promise<boolean> {
    const r = await this.#write('ended', (q) =>
      q(`UPDATE calls SET state = 'ended', end_reason = $1, ended_at = $2, updated_at = $3 WHERE id = $4 AND state = 'dialing'`, [reason, endedAt, this.#now(), callId]),
    );
    return r.rowCount === 1;
  }

  async writeSnapshots(snapshots: readonly CallSnapshot[]): Promise<void> {
    if (snapshots.length === 0) return;
    const now = this.#now();
    await this.#write('batch', async (q) => {
      for (const s of snapshots) await q(UPSERT_LIVE, paramsOf(rowFromSnapshot(s, this.owner, now)));
    });
  }

  async writeEnded(snapshot: CallSnapshot, endReason?: string): Promise<void> {
    const row = rowFromSnapshot(snapshot, this.owner, this.#now());
    row.state = 'ended';
    row.ended_at ??= this.#now();
    if (endReason !== undefined) row.end_reason = endReason;
    await this.#write('ended', (q) => q(UPSERT_ANY, paramsOf(row)));
  }

  async applyCarrierEvent(u: CarrierUpdate): Promise<{ callId: string; state: RecordState } | undefined> {
    return this.#write('carrier_event', async (q) => {
      type Found = { id: string; state: RecordState; carrier_events: string };
      // FOR UPDATE: two nodes folding events of one call do not lose each other's.
      const byId = u.callId === undefined ? undefined : ((await q('SELECT id, state, carrier_events FROM calls WHERE id = $1 FOR UPDATE', [u.callId])).rows[0] as Found | undefined);
      const row =
        byId ??
        (u.carrierCallId === undefined
          ? undefined
          : ((await q('SELECT id, state, carrier_events FROM calls WHERE carrier_call_id = $1 ORDER BY created_at DESC LIMIT 1 FOR UPDATE', [u.carrierCallId])).rows[0] as Found | undefined));
      if (!row) return undefined;
      const events = withCarrierEvent(row.carrier_events, u.event);
      const now = this.#now();
      await q(
        `UPDATE calls SET carrier_status = $1, carrier_events = $2, answered_by = COALESCE($3, answered_by),
           answered_at = COALESCE(answered_at, $4), carrier_call_id = COALESCE(carrier_call_id, $5), updated_at = $6 WHERE id = $7`,
        [u.event.status, events, u.answeredBy ?? null, u.answeredAt ?? null, u.carrierCallId ?? null, now, row.id],
      );
      let state = row.state;
      if (u.endReason !== undefined && state === 'dialing') {
        await q(`UPDATE calls SET state = 'ended', end_reason = $1, ended_at = $2 WHERE id = $3`, [u.endReason, u.endedAt ?? now, row.id]);
        state = 'ended';
      }
      return { callId: row.id, state };
    });
  }

  async heartbeat(): Promise<void> {
    await this.#write('heartbeat', (q) => q(`UPDATE calls SET updated_at = $1 WHERE owner = $2 AND state IN ${LIVE_STATES}`, [this.#now(), this.owner]));
  }

  /** End rows left live or dialing by an owner silent for `staleMs` (any node) or gone (this host). */
  async sweepOrphans(staleMs: number): Promise<number> {
    const now = this.#now();
    return this.#write('sweep', async (q) => {
      const rows = (await q(`SELECT id, owner, updated_at FROM calls WHERE state IN ${LIVE_STATES} AND (owner IS NULL OR owner <> $1) FOR UPDATE SKIP LOCKED`, [this.owner]))
        .rows as { id: string; owner: string | null; updated_at: string }[];
      let n = 0;
      for (const r of rows) {
        if (Number(r.updated_at) >= now - staleMs && !ownerIsGone(r.owner)) continue;
        const res = await q(
          `UPDATE calls SET state = 'ended', end_reason = 'gateway_interrupted', ended_at = updated_at, updated_at = $1 WHERE id = $2 AND state IN ${LIVE_STATES}`,
          [now, r.id],
        );
        n += res.rowCount ?? 0;
      }
      return n;
    });
  }

  async prune(beforeMs: number): Promise<number> {
    const r = await this.#write('prune', (q) => q(`DELETE FROM calls WHERE state IN ('ended', 'failed') AND created_at < $1`, [beforeMs]));
    return r.rowCount ?? 0;
  }

  async get(callId: string): Promise<CallRecord | undefined> {
    const r = await this.#pool.query('SELECT * FROM calls WHERE id = $1', [callId]);
    const row = r.rows[0] as Record<string, unknown> | undefined;
    return row ? recordFromRow(rowOf(row)) : undefined;
  }

  async list(q: ListQuery): Promise<{ records: CallRecord[]; nextCursor: string | null }> {
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const params: unknown[] = [[...q.states]];
    const where = ['state = ANY($1)'];
    if (after) {
      params.push(after.createdAt, after.id);
      where.push('(created_at < $2 OR (created_at = $2 AND id COLLATE "C" < $3))');
    }
    params.push(q.limit + 1);
    // COLLATE "C": ids compare bytewise, as SQLite's BINARY does, so cursors continue the same way.
    const res = await this.#pool.query(
      `SELECT * FROM calls WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT $${String(params.length)}`,
      params,
    );
    const rows = (res.rows as Record<string, unknown>[]).map(rowOf);
    const more = rows.length > q.limit;
    const page = more ? rows.slice(0, q.limit) : rows;
    const last = page[page.length - 1];
    return { records: page.map(recordFromRow), nextCursor: more && last ? encodeCursor(last.created_at, last.id) : null };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
