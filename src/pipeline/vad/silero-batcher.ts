/**
 * The cross-call Silero batcher, one per process (inside the VadService). Calls whose next window
 * is ready join a queue for their sample rate; the queue is flushed on `setImmediate` (so every
 * window that became ready in the same event-loop turn shares one model run) or as soon as it holds
 * `maxBatch` calls. At most `maxInFlight` batches are out at once; the rest wait their turn, which
 * keeps batches large under load instead of flooding the workers with small ones.
 *
 * A call has at most one window in flight, because window n+1 needs the state window n produces.
 * Each call's state and context live in the call (main thread) and are copied into the batch rows;
 * the buffers are transferred to the worker and the result transferred back.
 */
import type { Metrics } from '../../observability/metrics.js';
import type { WorkerPool } from '../../workers/pool.js';
import { SILERO_GEOMETRY, SILERO_STATE_SIZE, type VadSampleRate } from './silero-model.js';
import type { VadTaskPayload } from '../../workers/vad.task.js';

/** Why a call gave up on Silero; the label of `voice_gateway_vad_fallbacks_total`. */
export type FallbackReason = 'worker_error' | 'timeout' | 'pool_closed' | 'backlog' | 'model_not_found';

/** What the batcher needs from a call. */
export interface BatchMember {
  readonly sampleRate: VadSampleRate;
  /** Taken off the queue: true if it still has a window to score (it is then in flight). */
  acceptWindow(): boolean;
  /** Write the window's [context | window] row and its state into the batch buffers. */
  writeRow(input: Float32Array, state: Float32Array, row: number, batchSize: number): void;
  /** `result` is B probabilities followed by the [2, B, 128] next state. */
  onResult(result: Float32Array, row: number, batchSize: number): void;
  onError(err: Error, reason: FallbackReason): void;
}

export interface SileroBatcherOptions {
  pool: WorkerPool;
  maxBatch: number;
  maxInFlight: number;
  taskTimeoutMs: number;
  metrics?: Metrics;
}

export class SileroBatcher {
  readonly #o: SileroBatcherOptions;
  readonly #queues = new Map<VadSampleRate, Set<BatchMember>>([
    [16000, new Set()],
    [8000, new Set()],
  ]);
  readonly #inFlight = new Set<Promise<void>>();
  #scheduled = false;
  #closed = false;

  constructor(options: SileroBatcherOptions) {
    this.#o = options;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  enqueue(member: BatchMember): void {
    if (this.#closed) return;
    const queue = this.#queues.get(member.sampleRate);
    if (!queue) return;
    queue.add(member);
    if (queue.size >= this.#o.maxBatch && this.#inFlight.size < this.#o.maxInFlight) {
      this.#dispatch(member.sampleRate, queue);
    } else {
      this.#schedule();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const queue of this.#queues.values()) queue.clear();
    await Promise.allSettled([...this.#inFlight]);
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    for (const [rate, queue] of this.#queues) {
      while (queue.size > 0 && this.#inFlight.size < this.#o.maxInFlight) this.#dispatch(rate, queue);
    }
  };

  #dispatch(rate: VadSampleRate, queue: Set<BatchMember>): void {
    const members: BatchMember[] = [];
    for (const member of queue) {
      queue.delete(member);
      if (member.acceptWindow()) members.push(member);
      if (members.length === this.#o.maxBatch) break;
    }
    const batchSize = members.length;
    if (batchSize === 0) return;
    const { rowSamples } = SILERO_GEOMETRY[rate];
    const input = new Float32Array(batchSize * rowSamples);
    const state = new Float32Array(batchSize * SILERO_STATE_SIZE);
    for (let row = 0; row < batchSize; row++) members[row].writeRow(input, state, row, batchSize);

    const metrics = this.#o.metrics;
    metrics?.vadBatchSize.observe(batchSize);
    const signal = AbortSignal.timeout(this.#o.taskTimeoutMs);
    const startedNs = process.hrtime.bigint();
    const payload: VadTaskPayload = { sampleRate: rate, batchSize, input, state };
    const done = this.#o.pool
      .run<Float32Array>('vad', payload, { transferList: [input.buffer, state.buffer], signal })
      .then(
        (result) => {
          metrics?.vadInferenceSeconds.observe(Number(process.hrtime.bigint() - startedNs) / 1e9);
          for (let row = 0; row < batchSize; row++) members[row].onResult(result, row, batchSize);
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
        this.#inFlight.delete(done);
        if (!this.#closed) this.#schedule();
      });
    this.#inFlight.add(done);
  }
}
