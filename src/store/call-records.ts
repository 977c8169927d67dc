/**
 * The call log as the rest of the gateway sees it: the CallRecorder the call manager writes to, the
 * housekeeping timers (heartbeat, orphan sweep, retention prune) and the store underneath.
 *
 * Writes stay off the media path: `started` / `updated` only note the call (the newest wins) and
 * schedule a flush, so the manager's once-a-second tick costs a Map.set per call. The flush takes
 * each call's snapshot as it writes it, FLUSH_SLICE calls per turn of the event loop, each slice
 * its own transaction. At 100 calls the one block was ~1 ms of snapshots and a 3-4.6 ms write once
 * a second (timed under the bench's load), in the way of every call's next paced frame; a slice
 * takes ~0.75 ms, and the egress clock's ticks and the sockets run between slices.
 *
 * `ended` writes at once, durably (its own fsynced transaction): a finished call's record survives a
 * SIGKILL the moment the call is over.
 */
import type { CallSnapshot } from '../calls/call.js';
import type { CallRecorder, SnapshotSource } from '../calls/call-recorder.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { CallRecord } from './call-record.js';
import { CallStore, type CallStoreApi, type CallStoreOptions, type ListQuery } from './call-store.js';
import { MirroredCallStore } from './mirrored-call-store.js';
import type { PgCallStore } from './pg-call-store.js';

export interface CallRecordsOptions {
  /** The SQLite store, or (DATABASE_URL) a local mirror of PostgreSQL. */
  readonly store: CallStoreApi;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Finished calls older than this are deleted (at start, then hourly). */
  readonly retentionDays: number;
  readonly heartbeatMs?: number;
  /** A live/dialing row whose owner has been silent this long is an orphan. */
  readonly staleMs?: number;
  readonly sweepEveryMs?: number;
  readonly pruneEveryMs?: number;
  /** Metrics hooks: rows pruned, orphans swept. */
  readonly onPruned?: (n: number) => void;
  readonly onSwept?: (n: number) => void;
}

const DAY_MS = 24 * 3600 * 1000;
/** Live calls written per turn of the event loop on the scheduled path (~30-60 us each). */
export const FLUSH_SLICE = 16;
const ENDED_RETRIES = 3;

export class CallRecords implements CallRecorder {
  readonly store: CallStoreApi;
  /** Set when the log is shared (PostgreSQL): reads go there. */
  readonly #shared: MirroredCallStore | undefined;
  readonly #opts: CallRecordsOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  /** Calls to write, by id, in the order they were first noted. */
  readonly #pending = new Map<string, SnapshotSource>();
  readonly #endReasons = new Map<string, { reason: string; until: number }>();
  readonly #timers: NodeJS.Timeout[] = [];
  #flushScheduled: NodeJS.Immediate | undefined;
  #closed = false;

  constructor(opts: CallRecordsOptions) {
    this.#opts = opts;
    this.store = opts.store;
    this.#shared = opts.store instanceof MirroredCallStore ? opts.store : undefined;
    this.#log = opts.logger.child({ component: 'call_records' });
    this.#now = opts.now ?? Date.now;
  }

  /** Prune and sweep now, then keep doing it (and heartbeating) on unref'd timers. */
  start(): this {
    this.#log.info({ event: 'call_records_open', path: this.store.path, schemaVersion: this.store.schemaVersion }, 'call records open');
    this.#housekeep('prune', () => this.prune());
    this.#housekeep('sweep', () => this.sweep());
    this.#every(this.#opts.heartbeatMs ?? 1000, 'heartbeat', () => this.store.heartbeat());
    this.#every(this.#opts.sweepEveryMs ?? 5000, 'sweep', () => this.sweep());
    this.#every(this.#opts.pruneEveryMs ?? 3600_000, 'prune', () => this.prune());
    return this;
  }

  #housekeep(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ event: 'call_records_housekeeping_failed', what, err }, 'call record housekeeping failed');
    }
  }

  #every(ms: number, what: string, fn: () => void): void {
    const t = setInterval(() => this.#housekeep(what, fn), ms);
    t.unref();
    this.#timers.push(t);
  }

  prune(): number {
    const cutoff = this.#now() - this.#opts.retentionDays * DAY_MS;
    const n = this.#shared ? this.#shared.prune(cutoff, (m) => this.#pruned(m)) : this.store.prune(cutoff);
    this.#pruned(n);
    return n;
  }

  #pruned(n: number): void {
    if (n > 0) {
      this.#opts.onPruned?.(n);
      this.#log.info({ event: 'call_records_pruned', rows: n, retentionDays: this.#opts.retentionDays }, 'old call records pruned');
    }
  }

  sweep(): number {
    const staleMs = this.#opts.staleMs ?? 15_000;
    const n = this.#shared ? this.#shared.sweepOrphans(staleMs, (m) => this.#swept(m)) : this.store.sweepOrphans(staleMs);
    this.#swept(n);
    return n;
  }

  #swept(n: number): void {
    if (n > 0) {
      this.#opts.onSwept?.(n);
      this.#log.warn({ event: 'call_records_orphans', rows: n }, 'calls left live by a stopped gateway marked ended');
    }
  }

  /** Resolves when this node's writes so far are in the log every node reads (at once without one). */
  async durable(): Promise<void> {
    if (!this.#shared) return;
    this.flush();
    await this.#shared.settled();
  }

  /** One call's record from the log every node writes (the shared one when there is one). */
  async get(callId: string): Promise<CallRecord | undefined> {
    if (!this.#shared) return this.store.get(callId);
    await this.durable();
    return this.#shared.shared.get(callId);
  }

  /** A page of the log (all nodes' calls when shared); this node's pending writes land first. */
  async list(q: ListQuery): Promise<{ records: CallRecord[]; nextCursor: string | null }> {
    this.flush();
    if (!this.#shared) return this.store.list(q);
    await this.#shared.settled();
    return this.#shared.shared.list(q);
  }

  started(snapshot: CallSnapshot): void {
    this.#stash({ id: snapshot.callId, snapshot: () => snapshot });
  }

  updated(calls: Iterable<SnapshotSource>): void {
    for (const call of calls) this.#stash(call);
  }

  #stash(call: SnapshotSource): void {
    if (this.#closed) return;
    this.#pending.set(call.id, call);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    this.#flushScheduled ??= setImmediate(() => {
      this.#flushScheduled = undefined;
      this.#write(FLUSH_SLICE);
      if (this.#pending.size > 0 && !this.#closed) this.#scheduleFlush();
    });
  }

  /** Write everything pending now (listings call this so a call that just started is in the store). */
  flush(): void {
    this.#write(Infinity);
  }

  /** Snapshots and writes up to `max` pending calls, oldest first, in one transaction. */
  #write(max: number): void {
    if (this.#pending.size === 0) return;
    const batch: CallSnapshot[] = [];
    for (const [id, call] of this.#pending) {
      this.#pending.delete(id);
      try {
        batch.push(call.snapshot());
      } catch (err) {
        // One call's broken snapshot costs its own row this round, not the others'.
        this.#log.error({ event: 'call_records_snapshot_failed', callId: id, err }, 'could not take a live call snapshot');
      }
      if (batch.length >= max) break;
    }
    if (batch.length === 0) return;
    try {
      this.store.writeSnapshots(batch);
    } catch (err) {
      // The next tick brings fresher snapshots; a lost batch costs a second of counters.
      this.#log.error({ event: 'call_records_batch_failed', calls: batch.length, err }, 'could not write live call records');
    }
  }

  /**
   * The next end of this call, within `withinMs`, is recorded with this reason whatever the media
   * side saw (a hangup we asked the carrier for races the carrier's own stop on the stream).
   * Returns a function that withdraws it (the request failed).
   */
  expectEnd(callId: string, reason: string, withinMs = 10_000): () => void {
    const entry = { reason, until: this.#now() + withinMs };
    this.#endReasons.set(callId, entry);
    return () => {
      if (this.#endReasons.get(callId) === entry) this.#endReasons.delete(callId);
    };
  }

  ended(snapshot: CallSnapshot): void | Promise<void> {
    this.#pending.delete(snapshot.callId);
    const expected = this.#endReasons.get(snapshot.callId);
    this.#endReasons.delete(snapshot.callId);
    const reason = expected && expected.until >= this.#now() ? expected.reason : undefined;
    try {
      this.store.writeEnded(snapshot, reason);
      // Shared log: done when the database has it (a failure there is logged and counted, not thrown).
      return this.#shared?.settled();
    } catch (err) {
      this.#log.warn({ event: 'call_record_retry', callId: snapshot.callId, err }, 'finished call record not written yet; retrying');
    }
    // SQLITE_BUSY past the busy timeout (another process holding the file) or a transient I/O error.
    return (async () => {
      for (let attempt = 1; ; attempt++) {
        await new Promise((r) => setTimeout(r, 500 * attempt));
        try {
          this.store.writeEnded(snapshot, reason);
          return;
        } catch (err) {
          if (attempt >= ENDED_RETRIES) throw err;
        }
      }
    })();
  }

  /** Flush, stop the timers, close the file (and, shared, the pool once queued writes are tried). */
  close(): void | Promise<void> {
    if (this.#closed) return this.#shared?.closeShared();
    if (this.#flushScheduled) clearImmediate(this.#flushScheduled);
    this.flush();
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.store.close();
    return this.#shared?.closeShared();
  }
}

/** Open the store at `path` and start its housekeeping. */
export function openCallRecords(opts: Omit<CallRecordsOptions, 'store'> & CallStoreOptions): CallRecords {
  return new CallRecords({ ...opts, store: CallStore.open(opts) }).start();
}

function observeInto(metrics: Metrics): (kind: string, seconds: number, ok: boolean) => void {
  return (kind, seconds, ok) => {
    metrics.callRecordWriteSeconds.observe({ kind }, seconds);
    if (!ok) metrics.callRecordWriteErrorsTotal.inc({ kind });
  };
}

/** Orphans are looked for twice per stale window (at most every 5 s, as before the window was configurable). */
function sweepTimes(staleMs: number | undefined): { staleMs?: number; sweepEveryMs?: number } {
  return staleMs === undefined ? {} : { staleMs, sweepEveryMs: Math.min(5000, Math.floor(staleMs / 2)) };
}

/** The call log the config asks for, its write timings and housekeeping counted in `metrics`. */
export function callRecordsFor(
  config: { calls: { recordPath: string; recordDays: number; recordStaleMs?: number } },
  deps: { metrics: Metrics; logger: Logger },
): CallRecords {
  const { metrics } = deps;
  return openCallRecords({
    path: config.calls.recordPath,
    retentionDays: config.calls.recordDays,
    ...sweepTimes(config.calls.recordStaleMs),
    logger: deps.logger,
    observe: observeInto(metrics),
    onPruned: (n) => metrics.callRecordsPrunedTotal.inc(n),
    onSwept: (n) => metrics.callRecordsOrphanedTotal.inc(n),
  });
}

/**
 * As callRecordsFor, but with DATABASE_URL the log is PostgreSQL, shared by every node (connected and
 * migrated here: a database that cannot be reached fails the start with GW_ERR_STORE_OPEN).
 */
export async function openCallRecordsFor(
  config: { calls: { recordPath: string; recordDays: number; recordStaleMs?: number; databaseUrl?: string } },
  deps: { metrics: Metrics; logger: Logger; now?: () => number },
): Promise<CallRecords> {
  const url = config.calls.databaseUrl;
  if (url === undefined) return callRecordsFor(config, deps);
  const { metrics } = deps;
  // The mirror's own timings are not the log's: only PostgreSQL's writes are observed.
  const local = CallStore.open({ path: ':memory:', now: deps.now });
  let shared: PgCallStore;
  try {
    // Imported here, with pg, only when DATABASE_URL asks for it.
    const { PgCallStore } = await import('./pg-call-store.js');
    shared = await PgCallStore.open({ url, owner: local.owner, now: deps.now, observe: observeInto(metrics) });
  } catch (err) {
    local.close();
    throw err;
  }
  return new CallRecords({
    store: new MirroredCallStore(local, shared, { logger: deps.logger, now: deps.now, onDropped: (kind) => metrics.callRecordWriteErrorsTotal.inc({ kind }) }),
    retentionDays: config.calls.recordDays,
    ...sweepTimes(config.calls.recordStaleMs),
    logger: deps.logger,
    now: deps.now,
    onPruned: (n) => metrics.callRecordsPrunedTotal.inc(n),
    onSwept: (n) => metrics.callRecordsOrphanedTotal.inc(n),
  }).start();
}
