/**
 * The batcher's shared slots: a batch's rows, state and result live in shared memory reused from
 * batch to batch (nothing allocated or transferred per batch), and a slot whose task failed is never
 * reused, since its worker may still write into it.
 */
import { describe, expect, it } from 'vitest';
import { SileroBatcher, type BatchMember, type FallbackReason } from '../../src/pipeline/vad/silero-batcher.js';
import { SILERO_GEOMETRY, SILERO_STATE_SIZE } from '../../src/pipeline/vad/silero-model.js';
import type { VadTaskPayload } from '../../src/pipeline/vad/vad.task.js';
import type { WorkerPool, WorkerRunOptions } from '../../src/workers/pool.js';

const ROW = SILERO_GEOMETRY[8000].rowSamples;

/** A call with one window ready each time it is asked; its rows hold its number, its result is read back. */
class Member implements BatchMember {
  readonly sampleRate = 8000 as const;
  readonly scores: number[] = [];
  readonly errors: FallbackReason[] = [];
  constructor(readonly id: number) {}
  acceptWindows(): number {
    return 1;
  }
  writeWindow(input: Float32Array, offset: number): void {
    input.fill(this.id, offset, offset + ROW);
  }
  writeState(state: Float32Array, row: number, batchSize: number): void {
    for (let layer = 0; layer < 2; layer++) state.fill(this.id, (layer * batchSize + row) * 128, (layer * batchSize + row + 1) * 128);
  }
  onResult(probabilities: Float32Array): void {
    this.scores.push(probabilities[0]);
  }
  onError(_err: Error, reason: FallbackReason): void {
    this.errors.push(reason);
  }
}

/** A worker stand-in that writes each row's first input float / 100 as its probability, into `out`; or hangs. */
function sharedPool(hangFirst: boolean) {
  const payloads: VadTaskPayload[] = [];
  const signals: (AbortSignal | undefined)[] = [];
  const late: (() => void)[] = [];
  const pool: WorkerPool = {
    size: 1,
    ready: true,
    run<T>(_task: string, payload: unknown, options: WorkerRunOptions = {}): Promise<T> {
      const p = payload as VadTaskPayload;
      payloads.push(p);
      signals.push(options.signal);
      expect(options.transferList ?? []).toHaveLength(0); // shared, not transferred
      const answer = () => {
        for (let row = 0; row < p.batchSize; row++) p.out![row] = p.input[row * ROW] / 100;
        p.out!.fill(0, p.batchSize);
        return p.batchSize + p.batchSize * SILERO_STATE_SIZE;
      };
      if (hangFirst && payloads.length === 1) {
        return new Promise<T>((_resolve, reject) => {
          options.signal?.addEventListener('abort', () => reject(new Error('aborted')));
          late.push(answer); // the worker finishes after the timeout and writes into its slot anyway
        });
      }
      return new Promise<T>((resolve) => setTimeout(() => resolve(answer() as T), 1));
    },
    close: () => Promise.resolve(),
  };
  return { pool, payloads, late, signals };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('SileroBatcher shared slots', () => {
  it('reuses one shared slot from batch to batch, and reads each result from it', async () => {
    const { pool, payloads } = sharedPool(false);
    const batcher = new SileroBatcher({ pool, maxBatch: 8, maxInFlight: 1, maxWindowsPerCall: 1, batchWaitMs: 0, taskTimeoutMs: 1000 });
    const a = new Member(1);
    const b = new Member(2);
    for (let i = 0; i < 3; i++) {
      batcher.enqueue(a);
      batcher.enqueue(b);
      await settle();
    }
    expect(payloads).toHaveLength(3);
    expect(payloads[0].input.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(payloads[1].input.buffer).toBe(payloads[0].input.buffer);
    expect(payloads[2].out!.buffer).toBe(payloads[0].input.buffer);
    expect(a.scores.map((s) => Math.round(s * 100))).toEqual([1, 1, 1]);
    expect(b.scores.map((s) => Math.round(s * 100))).toEqual([2, 2, 2]);
    await batcher.close();
  });

  it('never reuses the slot of a task that timed out: its late write cannot reach the next batch', async () => {
    const { pool, payloads, late } = sharedPool(true);
    const batcher = new SileroBatcher({ pool, maxBatch: 8, maxInFlight: 1, maxWindowsPerCall: 1, batchWaitMs: 0, taskTimeoutMs: 30 });
    const a = new Member(3);
    batcher.enqueue(a);
    await new Promise((r) => setTimeout(r, 60));
    expect(a.errors).toEqual(['timeout']);
    const b = new Member(4);
    batcher.enqueue(b);
    await new Promise((r) => setImmediate(r));
    expect(payloads).toHaveLength(2);
    expect(payloads[1].input.buffer).not.toBe(payloads[0].input.buffer);
    late[0](); // the hung worker writes now: into the old slot only
    await settle();
    expect(b.scores.map((s) => Math.round(s * 100))).toEqual([4]);
    await batcher.close();
  });

  it("aborts a batch's task only when it times out: a batch that answered clears its timer", async () => {
    const { pool, signals } = sharedPool(true);
    const batcher = new SileroBatcher({ pool, maxBatch: 8, maxInFlight: 2, maxWindowsPerCall: 1, batchWaitMs: 0, taskTimeoutMs: 30 });
    batcher.enqueue(new Member(5)); // hangs
    await new Promise((r) => setImmediate(r));
    const answered = new Member(6);
    batcher.enqueue(answered);
    await new Promise((r) => setTimeout(r, 60)); // past both deadlines
    expect(answered.scores).toHaveLength(1);
    expect(signals[0]?.aborted).toBe(true);
    expect((signals[0]?.reason as { code?: string }).code).toBe('GW_ERR_VAD_INFERENCE');
    // AbortSignal.timeout() would abort this one too, at its deadline, answered or not (an error made
    // and an abort event dispatched per batch).
    expect(signals[1]?.aborted).toBe(false);
    await batcher.close();
  });
});

describe('SileroBatcher wait', () => {
  const turn = () => new Promise((r) => setImmediate(r));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Enqueue `member` at clock time `at`; true when its batch went out within two event-loop turns (no wait). */
  async function wentAtOnce(batcher: SileroBatcher, clock: { t: number }, payloads: unknown[], member: Member, at: number): Promise<boolean> {
    clock.t = at;
    const before = payloads.length;
    const scored = member.scores.length;
    batcher.enqueue(member);
    await turn();
    await turn();
    const atOnce = payloads.length > before;
    // Past the wait, until the window is scored: a waiting batch goes too, and every batch answers
    // (the timers are real, so on a loaded machine this is not a fixed time).
    await sleep(60);
    for (const deadline = Date.now() + 5000; member.scores.length === scored && Date.now() < deadline; ) await sleep(10);
    return atOnce;
  }

  it('waits while windows come closer together than the wait, and not once they come further apart', async () => {
    const { pool, payloads } = sharedPool(false);
    const clock = { t: 0 };
    // A 50 ms wait; the gaps between windows are on a clock the test sets (the wait's timer is real).
    const batcher = new SileroBatcher({ pool, maxBatch: 8, maxInFlight: 1, maxWindowsPerCall: 1, batchWaitMs: 50, taskTimeoutMs: 1000, now: () => clock.t });
    const lone = new Member(7);
    // A new batcher assumes it is busy: the first window waits.
    expect(await wentAtOnce(batcher, clock, payloads, lone, 0)).toBe(false);
    // One call, a window every 100 ms: once the mean gap passes the wait, windows go on the next turn.
    const atOnce: boolean[] = [];
    for (let k = 1; k <= 12; k++) atOnce.push(await wentAtOnce(batcher, clock, payloads, lone, k * 100));
    expect(atOnce.slice(0, 3)).toEqual([false, false, false]); // the mean gap still under 50 ms
    expect(atOnce.slice(-6)).toEqual([true, true, true, true, true, true]);
    expect(lone.scores).toHaveLength(13);

    // Many calls, their windows 0.1 ms apart, each in its own event-loop turn: the wait comes back
    // and gathers them into full batches instead of one window per turn.
    const many = Array.from({ length: 30 }, (_, i) => new Member(10 + i));
    const first = payloads.length;
    for (let i = 0; i < many.length; i++) {
      clock.t = 1300 + i * 0.1;
      batcher.enqueue(many[i]);
      await turn();
    }
    clock.t += 1000; // every wait is over
    // The wait's timer and the tasks are real: on a loaded machine they take what they take.
    const batchSizes = () => (payloads.slice(first) as VadTaskPayload[]).map((p) => p.batchSize);
    for (const deadline = Date.now() + 5000; batchSizes().reduce((a, b) => a + b, 0) < 30 && Date.now() < deadline; ) await sleep(10);
    const batches = batchSizes();
    expect(batches.reduce((a, b) => a + b, 0)).toBe(30);
    expect(batches[0]).toBe(1); // the mean gap was still long: no wait yet
    expect(Math.max(...batches)).toBe(8);
    await batcher.close();
  });
});
