/**
 * The call log's schema in PostgreSQL, as numbered migrations recorded in `schema_migrations`. The
 * same table and columns as the SQLite schema (migrations.ts), so a record reads the same from either.
 * All missing migrations run in one transaction under a transaction-scoped advisory lock: two gateways
 * starting at once serialise here, the second finds the work done, and a failure leaves nothing half
 * applied (PostgreSQL DDL is transactional). Append new migrations; never edit one that has shipped.
 */
import type { PoolClient } from 'pg';
import { GatewayError } from '../errors.js';
import { callsTableV1, type Migration } from './migrations.js';

/** Any fixed 64-bit key works; every gateway must use the same one. ("vgcalls" in ASCII.) */
export const MIGRATION_LOCK_KEY = 0x7667_6361_6c6c_73n;

export const PG_MIGRATIONS: readonly Migration[] = [
  { version: 1, description: 'calls: one row per call, JSON columns for the lists (as the SQLite schema)', sql: callsTableV1('BIGINT', false) },
];

/** Bring the database to the newest version (holding the advisory lock). Returns the version it is at. */
export async function migratePg(client: PoolClient, migrations: readonly Migration[] = PG_MIGRATIONS): Promise<number> {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${String(i)} has version ${String(m.version)}, expected ${String(i + 1)}`);
  });
  const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())',
    );
    const res = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
    const current = res.rows[0]?.v ?? 0;
    if (current > known) {
      throw new GatewayError('GW_ERR_STORE_SCHEMA', `the database is at schema version ${String(current)}, this gateway knows up to ${String(known)}`);
    }
    for (const m of migrations.slice(current)) {
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, description) VALUES ($1, $2)', [m.version, m.description]);
    }
    await client.query('COMMIT');
    return Math.max(current, known);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
