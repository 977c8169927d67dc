/**
 * The call store's schema, as numbered migrations. `PRAGMA user_version` holds the number of the
 * last one applied; each runs in its own transaction with the version bump, so a crash mid-way
 * leaves the file at the previous version, never half-migrated. Append new migrations; never edit
 * one that has shipped. A file from a newer gateway (a version we do not know) is refused rather
 * than written with assumptions it may break.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { GatewayError } from '../errors.js';

export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/**
 * Version 1's calls table, for either engine: the same columns and indexes, with the engine's 64-bit
 * integer type (SQLite's INTEGER is 64-bit; PostgreSQL's is 32) and SQLite's STRICT typing. One text,
 * so the two schemas cannot drift apart (pg-migrations.ts uses it too).
 */
export function callsTableV1(int64: 'INTEGER' | 'BIGINT', strict: boolean): string {
  return `
      CREATE TABLE calls (
        id              TEXT PRIMARY KEY,
        carrier_call_id TEXT,
        correlation_id  TEXT,
        transport       TEXT NOT NULL,
        direction       TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
        from_number     TEXT,
        to_number       TEXT,
        state           TEXT NOT NULL CHECK (state IN ('dialing', 'live', 'ended', 'failed')),
        created_at      ${int64} NOT NULL,
        answered_at     ${int64},
        ended_at        ${int64},
        end_reason      TEXT,
        error_code      TEXT,
        error_message   TEXT,
        codec           TEXT,
        sample_rate     INTEGER,
        provider        TEXT,
        vad_engine      TEXT,
        providers_used  TEXT NOT NULL DEFAULT '[]',
        switches        TEXT NOT NULL DEFAULT '[]',
        transcripts     TEXT NOT NULL DEFAULT '[]',
        dtmf            TEXT NOT NULL DEFAULT '[]',
        barge_ins       TEXT NOT NULL DEFAULT '[]',
        turns           ${int64} NOT NULL DEFAULT 0,
        frames_in       ${int64} NOT NULL DEFAULT 0,
        frames_out      ${int64} NOT NULL DEFAULT 0,
        frames_dropped  ${int64} NOT NULL DEFAULT 0,
        latency         TEXT,
        metadata        TEXT,
        carrier_status  TEXT,
        answered_by     TEXT,
        carrier_events  TEXT NOT NULL DEFAULT '[]',
        owner           TEXT,
        updated_at      ${int64} NOT NULL
      )${strict ? ' STRICT' : ''};
      CREATE INDEX calls_by_created ON calls (created_at DESC, id DESC);
      CREATE INDEX calls_by_state ON calls (state, created_at DESC, id DESC);
      CREATE INDEX calls_by_carrier_id ON calls (carrier_call_id);
    `;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: 'calls: one row per call, JSON columns for the lists', sql: callsTableV1('INTEGER', true) },
];

/** Bring the database to the newest version. Returns the version it is at. */
export function migrate(db: BetterSqlite3.Database, migrations: readonly Migration[] = MIGRATIONS): number {
  const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${String(i)} has version ${String(m.version)}, expected ${String(i + 1)}`);
  });
  const current = Number(db.pragma('user_version', { simple: true }));
  if (current > known) {
    throw new GatewayError('GW_ERR_STORE_SCHEMA', `the file is at schema version ${String(current)}, this gateway knows up to ${String(known)}`);
  }
  for (const m of migrations.slice(current)) {
    db.transaction(() => {
      db.exec(m.sql);
      // PRAGMA takes no bound parameters; the value is an integer from our own table.
      db.pragma(`user_version = ${String(m.version)}`);
    })();
  }
  return Math.max(current, known);
}
