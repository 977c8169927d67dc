/**
 * The call log as the rest of the gateway sees it: the CallRecorder the call manager writes to, the
 * housekeeping timers (heartbeat, orphan sweep, retention prune) and the store underneath.
 *
 * Writes stay off the media path: `started` / `updated` only keep the newest snapshot per call and
 * schedule one flush (a single transaction) on the next turn of the event loop, so the manager's
 * once-a-second tick costs a Map.set per call. `ended` writes at once, durably (its own fsynced
 * transaction): a finished call's record survives a SIGKILL the moment the call is over.
 */
import type { CallSnapshot } from '../calls/call.js';
import type { CallRecorder } from '../calls/call-recorder.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { CallStore, type CallStoreOptions } from './call-store.js';

export interface CallRecordsOptions {
  readonly store: CallStore;
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
const ENDED_RETRIES = 3;

export class CallRecords implements CallRecorder {
  readonly store: CallStore;
  readonly #opts: CallRecordsOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #pending = new Map<string, CallSnapshot>();
  readonly #endReasons = new Map<string, { reason: string; until: number }>();
  readonly #timers: NodeJS.Timeout[] = [];
  #flushScheduled: NodeJS.Immediate | undefined;
  #closed = false;

  constructor(opts: CallRecordsOptions) {
    this.#opts = opts;
    this.store = opts.store;
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
    const n = this.store.prune(this.#now() - this.#opts.retentionDays * DAY_MS);
    if (n > 0) {
      this.#opts.onPruned?.(n);
      this.#log.info({ event: 'call_records_pruned', rows: n, retentionDays: this.#opts.retentionDays }, 'old call records pruned');
    }
    return n;
  }

  sweep(): number {
    const n = this.store.sweepOrphans(this.#opts.staleMs ?? 15_000);
    if (n > 0) {
      this.#opts.onSwept?.(n);
      this.#log.warn({ event: 'call_records_orphans', rows: n }, 'calls left live by a stopped gateway marked ended');
    }
    return n;
  }

  started(snapshot: CallSnapshot): void {
    this.#stash(snapshot);
  }

  updated(snapshots: readonly CallSnapshot[]): void {
    for (const s of snapshots) this.#stash(s);
  }

  #stash(s: CallSnapshot): void {
    if (this.#closed) return;
    this.#pending.set(s.callId, s);
    this.#flushScheduled ??= setImmediate(() => {
      this.#flushScheduled = undefined;
      this.flush();
    });
  }

  /** Write what is pending now (listings call this so a call that just started is in the store). */
  flush(): void {
    if (this.#pending.size === 0) return;
    const batch = [...this.#pending.values()];
    this.#pending.clear();
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
      return;
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

  /** Flush, stop the timers, close the file. Live calls should have ended first. */
  close(): void {
    if (this.#closed) return;
    if (this.#flushScheduled) clearImmediate(this.#flushScheduled);
    this.flush();
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.store.close();
  }
}

/** Open the store at `path` and start its housekeeping. */
export function openCallRecords(opts: Omit<CallRecordsOptions, 'store'> & CallStoreOptions): CallRecords {
  return new CallRecords({ ...opts, store: CallStore.open(opts) }).start();
}

/** The call log the config asks for, its write timings and housekeeping counted in `metrics`. */
export function callRecordsFor(
  config: { calls: { recordPath: string; recordDays: number } },
  deps: { metrics: Metrics; logger: Logger },
): CallRecords {
  const { metrics } = deps;
  return openCallRecords({
    path: config.calls.recordPath,
    retentionDays: config.calls.recordDays,
    logger: deps.logger,
    observe: (kind, seconds, ok) => {
      metrics.callRecordWriteSeconds.observe({ kind }, seconds);
      if (!ok) metrics.callRecordWriteErrorsTotal.inc({ kind });
    },
    onPruned: (n) => metrics.callRecordsPrunedTotal.inc(n),
    onSwept: (n) => metrics.callRecordsOrphanedTotal.inc(n),
  });
}
