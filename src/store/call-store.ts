/**
 * The call log in SQLite (better-sqlite3: synchronous, in process, one file, nothing to run). WAL
 * mode with synchronous=NORMAL for the once-a-second counter batches (a commit survives a process
 * crash; only an OS crash or power cut can lose the last ones), and synchronous=FULL around the
 * writes that must survive anything: a call placed, a call finished, a call failed.
 *
 * Rows a process leaves live or dialing when it dies are "orphans": each row names its owner
 * (host:pid:nonce) and owners heartbeat their rows, so another process, or the next start, can mark
 * them ended (`gateway_interrupted`) once the owner is gone or silent, and a crashed call is never
 * listed as live for ever.
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import type { CallSnapshot } from '../calls/call.js';
import { GatewayError } from '../errors.js';
import { migrate } from './migrations.js';
import { recordFromRow, rowFromSnapshot, withCarrierEvent, type CallRecord, type CallRow, type CarrierEvent, type RecordState } from './call-record.js';

export interface CallStoreOptions {
  /** A file path (its directory is created), or ':memory:'. */
  readonly path: string;
  readonly now?: () => number;
  /** ms to wait for another process's write lock before giving up. */
  readonly busyTimeoutMs?: number;
  /** Called after each write with its kind, duration and outcome (metrics). */
  readonly observe?: (kind: string, seconds: number, ok: boolean) => void;
}

export interface DialingCall {
  readonly callId: string;
  readonly correlationId: string;
  readonly transport: string;
  readonly from: string;
  readonly to: string;
  readonly provider: string;
  readonly metadata: Record<string, unknown> | undefined;
}

export interface CarrierUpdate {
  /** Our id when the carrier echoes it back (status callback URL, client_state). */
  readonly callId?: string;
  readonly carrierCallId?: string;
  readonly event: CarrierEvent;
  readonly answeredAt?: number;
  readonly answeredBy?: string;
  /** The carrier says the call is over: a row still dialing ends with this reason. */
  readonly endReason?: string;
  readonly endedAt?: number;
}

export interface ListQuery {
  readonly states: readonly RecordState[];
  readonly limit: number;
  readonly cursor?: string;
}

const LIVE_STATES = `('dialing', 'live')`;

export function encodeCursor(createdAt: number, id: string): string {
  return Buffer.from(`${String(createdAt)}.${id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const text = /^[A-Za-z0-9_-]{1,400}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const m = /^(\d{1,15})\.(.+)$/s.exec(text);
  if (!m) throw new GatewayError('GW_ERR_CALL_BAD_CURSOR', `'${cursor.slice(0, 60)}' is not a cursor this API returned`);
  return { createdAt: Number(m[1]), id: m[2] };
}

/** Whether an owner string names a process on this host that no longer exists. */
export function ownerIsGone(owner: string | null): boolean {
  if (!owner) return true;
  const [host, pidText] = owner.split(':');
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid) || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** What the rest of the gateway may call on a store: CallStore's public members (a mirror has them too). */
export type CallStoreApi = Pick<CallStore, keyof CallStore>;

export class CallStore {
  readonly owner = `${hostname()}:${String(process.pid)}:${randomUUID().slice(0, 8)}`;
  readonly path: string;
  readonly schemaVersion: number;
  readonly #db: BetterSqlite3.Database;
  readonly #now: () => number;
  readonly #observe: CallStoreOptions['observe'];
  readonly #stmts: Record<string, BetterSqlite3.Statement> = {};

  /** Open (creating the file and its directory if needed) and migrate to the current schema. */
  static open(opts: CallStoreOptions): CallStore {
    let db: BetterSqlite3.Database;
    try {
      if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
      db = new Database(opts.path, { timeout: opts.busyTimeoutMs ?? 5000 });
    } catch (err) {
      throw new GatewayError('GW_ERR_STORE_OPEN', `${opts.path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      if (!db.memory) db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      return new CallStore(db, migrate(db), opts);
    } catch (err) {
      db.close();
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('GW_ERR_STORE_OPEN', `${opts.path}: ${(err as Error).message}`, { cause: err });
    }
  }

  private constructor(db: BetterSqlite3.Database, schemaVersion: number, opts: CallStoreOptions) {
    this.#db = db;
    this.schemaVersion = schemaVersion;
    this.path = opts.path;
    this.#now = opts.now ?? Date.now;
    this.#observe = opts.observe;
  }

  #stmt(sql: string): BetterSqlite3.Statement {
    return (this.#stmts[sql] ??= this.#db.prepare(sql));
  }

  /** Run `fn` in one transaction, timed and wrapped; `durable` fsyncs the WAL on commit. */
  #write<T>(kind: string, durable: boolean, fn: () => T): T {
    const t0 = performance.now();
    let ok = false;
    const full = durable && !this.#db.memory;
    try {
      if (full) this.#db.pragma('synchronous = FULL');
      const result = this.#db.transaction(fn)();
      ok = true;
      return result;
    } catch (err) {
      throw new GatewayError('GW_ERR_STORE_WRITE', `${kind}: ${(err as Error).message}`, { cause: err });
    } finally {
      if (full && this.#db.open) this.#db.pragma('synchronous = NORMAL');
      this.#observe?.(kind, (performance.now() - t0) / 1000, ok);
    }
  }

  /** An outbound call the API is about to place: recorded before the carrier is asked. */
  insertDialing(c: DialingCall): void {
    const now = this.#now();
    this.#write('dialing', true, () =>
      this.#stmt(
        `INSERT INTO calls (id, correlation_id, transport, direction, from_number, to_number, state, created_at, provider, metadata, owner, updated_at)
         VALUES (?, ?, ?, 'outbound', ?, ?, 'dialing', ?, ?, ?, ?, ?)`,
      ).run(c.callId, c.correlationId, c.transport, c.from, c.to, now, c.provider, c.metadata === undefined ? null : JSON.stringify(c.metadata), this.owner, now),
    );
  }

  setCarrierCallId(callId: string, carrierCallId: string): void {
    this.#write('carrier_id', false, () =>
      this.#stmt('UPDATE calls SET carrier_call_id = COALESCE(carrier_call_id, ?), updated_at = ? WHERE id = ?').run(carrierCallId, this.#now(), callId),
    );
  }

  /** A dial the carrier refused or did not confirm. Only a row still dialing changes; true if it did. */
  markFailed(callId: string, error: { code: string; message: string }): boolean {
    const now = this.#now();
    return this.#write('failed', true, () =>
      this.#stmt(
        `UPDATE calls SET state = 'failed', error_code = ?, error_message = ?, end_reason = 'carrier_error', ended_at = ?, updated_at = ?
         WHERE id = ? AND state = 'dialing'`,
      ).run(error.code, error.message, now, now, callId).changes === 1,
    );
  }

  /** A dialing call that will never stream (cancelled, not answered, token expired). True if it was dialing. */
  endDialing(callId: string, reason: string, endedAt = this.#now()): boolean {
    return this.#write('ended', true, () =>
      this.#stmt(`UPDATE calls SET state = 'ended', end_reason = ?, ended_at = ?, updated_at = ? WHERE id = ? AND state = 'dialing'`)
        .run(reason, endedAt, this.#now(), callId).changes === 1,
    );
  }

  static readonly #UPSERT_COLUMNS = [
    'id', 'carrier_call_id', 'correlation_id', 'transport', 'direction', 'from_number', 'to_number', 'state', 'created_at',
    'answered_at', 'ended_at', 'end_reason', 'codec', 'sample_rate', 'provider', 'vad_engine', 'providers_used', 'switches',
    'transcripts', 'dtmf', 'barge_ins', 'turns', 'frames_in', 'frames_out', 'frames_dropped', 'latency', 'metadata', 'owner', 'updated_at',
  ] as const;

  static #upsertSql(guard: string): string {
    const cols = CallStore.#UPSERT_COLUMNS;
    // An outbound row keeps its creation time (the API request) and the carrier's answer time.
    const keep = new Set(['id', 'created_at', 'answered_at', 'carrier_call_id', 'metadata']);
    const sets = cols.filter((c) => !keep.has(c)).map((c) => `${c} = excluded.${c}`);
    sets.push('answered_at = COALESCE(calls.answered_at, excluded.answered_at)');
    sets.push('carrier_call_id = COALESCE(excluded.carrier_call_id, calls.carrier_call_id)');
    sets.push('metadata = COALESCE(excluded.metadata, calls.metadata)');
    return `INSERT INTO calls (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})
      ON CONFLICT (id) DO UPDATE SET ${sets.join(', ')} ${guard}`;
  }

  /** Live calls' snapshots, all in one transaction. A row already ended or failed is left alone. */
  writeSnapshots(snapshots: readonly CallSnapshot[]): void {
    if (snapshots.length === 0) return;
    const now = this.#now();
    const stmt = this.#stmt(CallStore.#upsertSql(`WHERE calls.state NOT IN ('ended', 'failed')`));
    this.#write('batch', false, () => {
      for (const s of snapshots) stmt.run(rowFromSnapshot(s, this.owner, now));
    });
  }

  /** A finished call, durable when this returns. `endReason` overrides the snapshot's (a hangup we asked for). */
  writeEnded(snapshot: CallSnapshot, endReason?: string): void {
    const row = rowFromSnapshot(snapshot, this.owner, this.#now());
    row.state = 'ended';
    row.ended_at ??= this.#now();
    if (endReason !== undefined) row.end_reason = endReason;
    this.#write('ended', true, () => this.#stmt(CallStore.#upsertSql('')).run(row));
  }

  /** Fold a carrier status callback / event into the record. Returns the row's id and state, if found. */
  applyCarrierEvent(u: CarrierUpdate): { callId: string; state: RecordState } | undefined {
    return this.#write('carrier_event', u.endReason !== undefined, () => {
      const byId = u.callId === undefined ? undefined : this.#stmt('SELECT id, state, carrier_events FROM calls WHERE id = ?').get(u.callId);
      const row = (byId ??
        (u.carrierCallId === undefined
          ? undefined
          : this.#stmt('SELECT id, state, carrier_events FROM calls WHERE carrier_call_id = ? ORDER BY created_at DESC LIMIT 1').get(u.carrierCallId))) as
        | { id: string; state: RecordState; carrier_events: string }
        | undefined;
      if (!row) return undefined;
      const events = withCarrierEvent(row.carrier_events, u.event);
      const now = this.#now();
      this.#stmt(
        `UPDATE calls SET carrier_status = ?, carrier_events = ?, answered_by = COALESCE(?, answered_by),
           answered_at = COALESCE(answered_at, ?), carrier_call_id = COALESCE(carrier_call_id, ?), updated_at = ? WHERE id = ?`,
      ).run(u.event.status, events, u.answeredBy ?? null, u.answeredAt ?? null, u.carrierCallId ?? null, now, row.id);
      let state = row.state;
      if (u.endReason !== undefined && state === 'dialing') {
        this.#stmt(`UPDATE calls SET state = 'ended', end_reason = ?, ended_at = ? WHERE id = ?`).run(u.endReason, u.endedAt ?? now, row.id);
        state = 'ended';
      }
      return { callId: row.id, state };
    });
  }

  /** Tell other processes this one's live and dialing rows are still looked after. */
  heartbeat(): void {
    this.#write('heartbeat', false, () =>
      this.#stmt(`UPDATE calls SET updated_at = ? WHERE owner = ? AND state IN ${LIVE_STATES}`).run(this.#now(), this.owner),
    );
  }

  /**
   * End rows left live or dialing by an owner that is gone (a process on this host that no longer
   * exists) or silent for `staleMs`. Their end time is their last sign of life. Returns how many.
   */
  sweepOrphans(staleMs: number): number {
    const now = this.#now();
    return this.#write('sweep', true, () => {
      const rows = this.#stmt(`SELECT id, owner, updated_at FROM calls WHERE state IN ${LIVE_STATES} AND (owner IS NULL OR owner != ?)`).all(this.owner) as {
        id: string;
        owner: string | null;
        updated_at: number;
      }[];
      let n = 0;
      for (const r of rows) {
        if (r.updated_at >= now - staleMs && !ownerIsGone(r.owner)) continue;
        n += this.#stmt(
          `UPDATE calls SET state = 'ended', end_reason = 'gateway_interrupted', ended_at = updated_at, updated_at = ? WHERE id = ? AND state IN ${LIVE_STATES}`,
        ).run(now, r.id).changes;
      }
      return n;
    });
  }

  /** Delete finished calls created before `beforeMs`. Returns how many. */
  prune(beforeMs: number): number {
    return this.#write('prune', false, () => this.#stmt(`DELETE FROM calls WHERE state IN ('ended', 'failed') AND created_at < ?`).run(beforeMs).changes);
  }

  get(callId: string): CallRecord | undefined {
    const row = this.#stmt('SELECT * FROM calls WHERE id = ?').get(callId) as CallRow | undefined;
    return row ? recordFromRow(row) : undefined;
  }

  /** Newest first, `limit` at a time; `nextCursor` continues after the last one returned. */
  list(q: ListQuery): { records: CallRecord[]; nextCursor: string | null } {
    const states = q.states.map((s) => `'${s}'`).join(', ');
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const where = [`state IN (${states})`];
    const params: unknown[] = [];
    if (after) {
      where.push('(created_at < ? OR (created_at = ? AND id < ?))');
      params.push(after.createdAt, after.createdAt, after.id);
    }
    params.push(q.limit + 1);
    const rows = this.#stmt(`SELECT * FROM calls WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`).all(...params) as CallRow[];
    const more = rows.length > q.limit;
    const page = more ? rows.slice(0, q.limit) : rows;
    const last = page[page.length - 1];
    return { records: page.map(recordFromRow), nextCursor: more && last ? encodeCursor(last.created_at, last.id) : null };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
