/**
 * The call log when several nodes share PostgreSQL (DATABASE_URL): every write lands first in a local
 * in-memory SQLite store (the synchronous API call control and the recorder use, answering at once
 * for this node's own calls) and is then queued, in order, to PostgreSQL, which is the log every node
 * lists and reads.
 *
 * PostgreSQL going away mid-run must not stop calls: a queued write that fails is logged and counted
 * (voice_gateway_call_record_write_errors_total, through `observe`) and the queue moves on. Reads of
 * the shared log wait for this node's queue first, so a node always lists what it has just written.
 */
import type { CallSnapshot } from '../calls/call.js';
import type { Logger } from '../observability/logger.js';
import type { RecordState } from './call-record.js';
import type { CallStore, CallStoreApi, CarrierUpdate, DialingCall } from './call-store.js';
import type { PgCallStore } from './pg-call-store.js';

/** Finished rows the local mirror keeps (it answers only for calls in progress on this node). */
const LOCAL_KEEP_MS = 3600_000;
/**
 * Writes waiting for PostgreSQL at most. A database that hangs (rather than refuses) would otherwise
 * grow the queue for as long as it hangs; past this, new writes are dropped, logged and counted, and
 * the local mirror still has them. Live-call batches that wait at the end of the queue are merged
 * (the recorder writes them a slice at a time), so a hang grows it by a batch a second at most.
 */
const MAX_PENDING = 1000;

export class MirroredCallStore implements CallStoreApi {
  readonly local: CallStore;
  readonly shared: PgCallStore;
  readonly #log: Logger;
  readonly #now: () => number;
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;
  /** The last write queued, while it is a live-call batch not yet started: later snapshots join it. */
  #openBatch: Map<string, CallSnapshot> | undefined;

  readonly #dropped: ((kind: string) => void) | undefined;

  constructor(local: CallStore, shared: PgCallStore, opts: { logger: Logger; now?: () => number; onDropped?: (kind: string) => void }) {
    this.local = local;
    this.shared = shared;
    this.#log = opts.logger.child({ component: 'call_records_shared' });
    this.#now = opts.now ?? Date.now;
    this.#dropped = opts.onDropped;
  }

  get owner(): string {
    return this.local.owner;
  }

  get path(): string {
    return this.shared.path;
  }

  get schemaVersion(): number {
    return this.shared.schemaVersion;
  }

  /** Queue one write to PostgreSQL behind the others (false: dropped); its failure is logged, never thrown. */
  #enqueue(kind: string, fn: () => Promise<unknown>): boolean {
    // Whatever is queued now goes after the open batch: nothing may join it and overtake this.
    this.#openBatch = undefined;
    if (this.#pending >= MAX_PENDING) {
      this.#dropped?.(kind);
      this.#log.error({ event: 'call_record_shared_write_dropped', kind, pending: this.#pending }, 'shared database is not keeping up; call record write dropped');
      return false;
    }
    this.#pending++;
    const next = this.#tail.then(fn).then(
      () => undefined,
      (err: unknown) => {
        this.#log.error({ event: 'call_record_shared_write_failed', kind, err }, 'call record not written to the shared database; calls go on');
      },
    ).finally(() => this.#pending--);
    this.#tail = next;
    return true;
  }

  /** Resolves when every write queued so far has been tried. */
  settled(): Promise<void> {
    return this.#tail;
  }

  get pendingWrites(): number {
    return this.#pending;
  }

  insertDialing(c: DialingCall): void {
    this.local.insertDialing(c);
    this.#enqueue('dialing', () => this.shared.insertDialing(c));
  }

  setCarrierCallId(callId: string, carrierCallId: string): void {
    this.local.setCarrierCallId(callId, carrierCallId);
    this.#enqueue('carrier_id', () => this.shared.setCarrierCallId(callId, carrierCallId));
  }

  markFailed(callId: string, error: { code: string; message: string }): boolean {
    const changed = this.local.markFailed(callId, error);
    this.#enqueue('failed', () => this.shared.markFailed(callId, error));
    return changed;
  }

  endDialing(callId: string, reason: string, endedAt = this.#now()): boolean {
    const changed = this.local.endDialing(callId, reason, endedAt);
    this.#enqueue('ended', () => this.shared.endDialing(callId, reason, endedAt));
    return changed;
  }

  writeSnapshots(snapshots: readonly CallSnapshot[]): void {
    this.local.writeSnapshots(snapshots);
    const open = this.#openBatch;
    if (open) {
      for (const s of snapshots) open.set(s.callId, s);
      return;
    }
    const batch = new Map(snapshots.map((s) => [s.callId, s]));
    const queued = this.#enqueue('batch', () => {
      if (this.#openBatch === batch) this.#openBatch = undefined;
      return this.shared.writeSnapshots([...batch.values()]);
    });
    if (queued) this.#openBatch = batch;
  }

  writeEnded(snapshot: CallSnapshot, endReason?: string): void {
    this.local.writeEnded(snapshot, endReason);
    this.#enqueue('ended', () => this.shared.writeEnded(snapshot, endReason));
  }

  /**
   * Folded into both. The answer is the local one: a status callback for a call another node placed
   * is folded into the shared row, but reads as unknown here (no cross-node call registry yet).
   */
  applyCarrierEvent(u: CarrierUpdate): { callId: string; state: RecordState } | undefined {
    const found = this.local.applyCarrierEvent(u);
    this.#enqueue('carrier_event', () => this.shared.applyCarrierEvent(u));
    return found;
  }

  heartbeat(): void {
    this.local.heartbeat();
    this.#enqueue('heartbeat', () => this.shared.heartbeat());
  }

  /** The shared sweep (any node's silent rows); its count arrives later, through `onShared`. */
  sweepOrphans(staleMs: number, onShared?: (n: number) => void): number {
    const n = this.local.sweepOrphans(staleMs);
    this.#enqueue('sweep', async () => onShared?.(await this.shared.sweepOrphans(staleMs)));
    return n;
  }

  prune(beforeMs: number, onShared?: (n: number) => void): number {
    this.local.prune(Math.max(beforeMs, this.#now() - LOCAL_KEEP_MS));
    this.#enqueue('prune', async () => onShared?.(await this.shared.prune(beforeMs)));
    // The local mirror's rows are copies: only the shared log's deletions count as pruned.
    return 0;
  }

  get: CallStore['get'] = (callId) => this.local.get(callId);
  list: CallStore['list'] = (q) => this.local.list(q);

  /** Closes the local mirror at once; `closeShared` waits for the queue, then ends the pool. */
  close(): void {
    this.local.close();
  }

  async closeShared(): Promise<void> {
    await this.#tail;
    await this.shared.close();
  }
}
