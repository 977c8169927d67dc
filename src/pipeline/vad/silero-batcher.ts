/**
 * The cross-call Silero batcher, one per process (inside the VadService). Calls whose next window
 * is ready join a queue for their sample rate; the queue is flushed `batchWaitMs` after the oldest
 * queued window joined it (0: on `setImmediate`, so every window that became ready in the same
 * event-loop turn shares one model run) or as soon as it holds `maxBatch` calls. The wait is only
 * worth its delay when another window is due before it ends: with windows arriving further apart
 * than the time left (a few calls, or one), the queue goes out on the next turn instead, so a
 * quiet gateway pays no batching delay and a busy one gets large batches. At most
 * `maxInFlight` batches are out at once; the rest wait their turn, which keeps batches large under
 * load instead of flooding the workers with small ones.
 *
 * A call has at most one task in flight, because window n+1 needs the state window n produces. A
 * call that fell behind (a slow or busy worker) sends up to `maxWindowsPerCall` consecutive windows
 * in its next task, which the worker runs as successive steps: it catches up in one round trip
 * instead of one window per round trip, so a burst of load does not snowball into a backlog.
 * Each call's state and context live in the call (main thread) and are copied into the batch rows.
 *
 * A batch's rows, state and result live in shared memory the batcher reuses (one slot per batch in
 * flight), so a batch allocates nothing on either thread: buffers made per batch and transferred
 * outlived a scavenge often enough (queued, in flight, then waiting for the other thread's GC) to
 * make Silero's memory per call. A slot whose task failed or timed out is never reused, since its
 * worker may still write into it.
 */
import { GatewayError } from '../../errors.js';
import type { Metrics } from '../../observability/metrics.js';
import type { WorkerPool } from '../../workers/pool.js';
import { SILERO_GEOMETRY, SILERO_STATE_SIZE, type VadSampleRate } from './silero-model.js';
import type { VadTaskPayload } from './vad.task.js';

/** Why a call gave up on Silero; the label of `voice_gateway_vad_fallbacks_total`. */
export type FallbackReason = 'worker_error' | 'timeout' | 'pool_closed' | 'backlog' | 'model_not_found';

/** What the batcher needs from a call. */
export interface BatchMember {
  readonly sampleRate: VadSampleRate;
  /** Taken off the queue: how many consecutive windows (at most `max`) it sends now; they are then in flight. */
  acceptWindows(max: number): number;
  /** Write accepted window `step` (0 = the oldest unscored) as a whole [context | window] row at `offset` (the row holds an earlier batch's floats). */
  writeWindow(input: Float32Array, offset: number, step: number): void;
  /** Write the state before the first accepted window as row `row` of the [2, B, 128] state. */
  writeState(state: Float32Array, row: number, batchSize: number): void;
  /**
   * `probabilities[0..count)` score the accepted windows in order; the state after the last one is
   * row `row` of the [2, B, 128] block of `result` that starts at `stateOffset`.
   */
  onResult(probabilities: Float32Array, count: number, result: Float32Array, stateOffset: number, row: number, batchSize: number): void;
  onError(err: Error, reason: FallbackReason): void;
}

export interface SileroBatcherOptions {
  pool: WorkerPool;
  maxBatch: number;
  maxInFlight: number;
  /** Most consecutive windows one call sends in a task (1 = never catch up in bulk). */
  maxWindowsPerCall: number;
  /** Gather windows this long before a batch goes out (0: one event-loop turn). */
  batchWaitMs: number;
  /** The clock the wait is measured on (tests drive their own). */
  now?: () => number;
  taskTimeoutMs: number;
  metrics?: Metrics;
}

function abortTimedOut(abort: AbortController, ms: number): void {
  abort.abort(new GatewayError('GW_ERR_VAD_INFERENCE', `no result from the worker within ${String(ms)} ms`));
}

export class SileroBatcher {
  readonly #o: SileroBatcherOptions;
  readonly #queues = new Map<VadSampleRate, Set<BatchMember>>([
    [16000, new Set()],
    [8000, new Set()],
  ]);
  readonly #inFlight = new Set<Promise<void>>();
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  /** When the oldest window still queued joined: it waits batchWaitMs in all, not again after each batch. */
  #waitingSince: number | undefined;
  #closed = false;
  readonly #now: () => number;
  /**
   * Mean time between windows joining the queues (exponentially weighted, 1/8 per window), what
   * decides whether waiting can grow a batch. Starts at 0, as if busy: a new gateway batches until
   * it has seen how far apart its windows come.
   */
  #arrivalGapMs = 0;
  #lastArrival: number | undefined;
  /** One member's probabilities, gathered out of a result (reused: consumed synchronously). */
  readonly #scratch: Float32Array;
  /** Shared float buffers for batches, free ones (at most maxInFlight kept). */
  readonly #slots: Float32Array[] = [];

  constructor(options: SileroBatcherOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    this.#scratch = new Float32Array(options.maxWindowsPerCall);
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  enqueue(member: BatchMember): void {
    if (this.#closed) return;
    const queue = this.#queues.get(member.sampleRate);
    if (!queue) return;
    const now = this.#now();
    if (this.#lastArrival !== undefined) this.#arrivalGapMs += (now - this.#lastArrival - this.#arrivalGapMs) / 8;
    this.#lastArrival = now;
    this.#waitingSince ??= now;
    queue.add(member);
    if (queue.size >= this.#o.maxBatch && this.#inFlight.size < this.#o.maxInFlight) {
      this.#dispatch(member.sampleRate, queue);
      this.#noteDrained();
    } else {
      this.#schedule();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const queue of this.#queues.values()) queue.clear();
    await Promise.allSettled([...this.#inFlight]);
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    const now = this.#now();
    const waitMs = this.#o.batchWaitMs - (now - (this.#waitingSince ?? now));
    // Wait only while another window is due before the wait ends (see the header).
    if (waitMs > 0 && waitMs > this.#arrivalGapMs) this.#timer = setTimeout(this.#flush, waitMs);
    else setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    this.#timer = undefined;
    for (const [rate, queue] of this.#queues) {
      while (queue.size > 0 && this.#inFlight.size < this.#o.maxInFlight) this.#dispatch(rate, queue);
    }
    this.#noteDrained();
  };

  #noteDrained(): void {
    for (const queue of this.#queues.values()) if (queue.size > 0) return;
    this.#waitingSince = undefined;
  }

  #dispatch(rate: VadSampleRate, queue: Set<BatchMember>): void {
    const accepted: { member: BatchMember; windows: number }[] = [];
    for (const member of queue) {
      queue.delete(member);
      const windows = member.acceptWindows(this.#o.maxWindowsPerCall);
      if (windows > 0) accepted.push({ member, windows });
      if (accepted.length === this.#o.maxBatch) break;
    }
    const batchSize = accepted.length;
    if (batchSize === 0) return;
    // Longest first, so the rows still running at any step are a prefix (see SileroSession.runSteps).
    accepted.sort((a, b) => b.windows - a.windows);
    const members = accepted.map((a) => a.member);
    const rowSteps = Uint16Array.from(accepted, (a) => a.windows);
    const steps = rowSteps[0];
    // stepStart[s]: index of step s's first row among all windows, in input (and result) order.
    const stepStart = new Int32Array(steps + 1);
    for (let step = 0, rows = batchSize; step < steps; step++) {
      while (rowSteps[rows - 1] <= step) rows--;
      stepStart[step + 1] = stepStart[step] + rows;
    }
    const windows = stepStart[steps];
    const { rowSamples } = SILERO_GEOMETRY[rate];
    const inputFloats = windows * rowSamples;
    const stateFloats = batchSize * SILERO_STATE_SIZE;
    const slot = this.#takeSlot(inputFloats + 2 * stateFloats + windows);
    const input = slot.subarray(0, inputFloats);
    const state = slot.subarray(inputFloats, inputFloats + stateFloats);
    const out = slot.subarray(inputFloats + stateFloats, inputFloats + 2 * stateFloats + windows);
    for (let row = 0; row < batchSize; row++) {
      members[row].writeState(state, row, batchSize);
      for (let step = 0; step < rowSteps[row]; step++) {
        members[row].writeWindow(input, (stepStart[step] + row) * rowSamples, step);
      }
    }

    const metrics = this.#o.metrics;
    metrics?.vadBatchSize.observe(batchSize);
    // A timer cleared when the batch settles, not AbortSignal.timeout(): that one always fires at its
    // deadline while the signal lives (a DOMException with a stack and an abort event per batch, ~1 %
    // of the event loop at 100 calls) and keeps a timer per batch for taskTimeoutMs.
    const abort = new AbortController();
    const signal = abort.signal;
    const timer = setTimeout(abortTimedOut, this.#o.taskTimeoutMs, abort, this.#o.taskTimeoutMs).unref();
    const startedNs = process.hrtime.bigint();
    const payload: VadTaskPayload = { sampleRate: rate, batchSize, rowSteps, input, state, out };
    const done = this.#o.pool
      .run<number>('vad', payload, { signal })
      .then(
        () => {
          metrics?.vadInferenceSeconds.observe(Number(process.hrtime.bigint() - startedNs) / 1e9);
          // The task wrote its result into the slot.
          const result = out;
          const scratch = this.#scratch;
          for (let row = 0; row < batchSize; row++) {
            const count = rowSteps[row];
            for (let step = 0; step < count; step++) scratch[step] = result[stepStart[step] + row];
            members[row].onResult(scratch, count, result, windows, row, batchSize);
          }
          this.#giveBack(slot);
        },
        (err: unknown) => {
          const error = err instanceof Error ? err : new Error(String(err));
          const reason: FallbackReason = signal.aborted
            ? 'timeout'
            : (error as { code?: string }).code === 'GW_ERR_WORKER_POOL_CLOSED'
              ? 'pool_closed'
              : 'worker_error';
          for (const member of members) member.onError(error, reason);
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.#inFlight.delete(done);
        // Windows held back by maxInFlight go now or at their wait's end; with none queued there is
        // nothing to schedule (a stale timer would cut the next window's wait short).
        if (!this.#closed && this.#waitingSince !== undefined) this.#schedule();
      });
    this.#inFlight.add(done);
  }

  /** A free slot of at least `floats`, else a new one (a power of two, so a few sizes serve all batches). */
  #takeSlot(floats: number): Float32Array {
    const i = this.#slots.findIndex((slot) => slot.length >= floats);
    if (i >= 0) return this.#slots.splice(i, 1)[0];
    let size = 1024;
    while (size < floats) size *= 2;
    return new Float32Array(new SharedArrayBuffer(size * Float32Array.BYTES_PER_ELEMENT));
  }

  /** Keep a slot for the next batch; with enough kept, it replaces the smallest if larger. */
  #giveBack(slot: Float32Array): void {
    if (this.#slots.length < this.#o.maxInFlight) {
      this.#slots.push(slot);
      return;
    }
    let smallest = 0;
    for (let i = 1; i < this.#slots.length; i++) if (this.#slots[i].length < this.#slots[smallest].length) smallest = i;
    if (this.#slots[smallest].length < slot.length) this.#slots[smallest] = slot;
  }
}
