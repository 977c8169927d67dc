import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { isGatewayError } from '../../src/errors.js';
import { createWorkerPool, resolveTaskFile, type WorkerPool } from '../../src/workers/pool.js';
import { SILERO_GEOMETRY, SILERO_STATE_SIZE } from '../../src/pipeline/vad/silero-model.js';

let pool: WorkerPool | undefined;

afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('worker pool', () => {
  it('resolves task modules by their path from the pool (the .ts sources here, the .js in dist)', () => {
    const file = resolveTaskFile('vad');
    expect(file.endsWith('src/pipeline/vad/vad.task.ts')).toBe(true);
    expect(existsSync(file)).toBe(true);
  });

  it('runs a TypeScript task in a worker and reports ready until closed', async () => {
    pool = createWorkerPool({ size: 1 });
    expect(pool.size).toBe(1);
    expect(pool.ready).toBe(true);
    expect(await pool.run<number>('ping', 42)).toBe(42);
    await pool.close();
    expect(pool.ready).toBe(false);
  });

  it('transfers buffers to the worker instead of copying them', async () => {
    pool = createWorkerPool({ size: 1 });
    const bytes = new Uint8Array([1, 2, 3, 4]);
    const back = await pool.run<Uint8Array>('ping', bytes, { transferList: [bytes.buffer] });
    expect(bytes.byteLength).toBe(0); // detached: it was moved
    expect(Array.from(back)).toEqual([1, 2, 3, 4]);
  });

  it('runs a Silero batch and returns probabilities followed by the next state', async () => {
    pool = createWorkerPool({ size: 1 });
    const batchSize = 3;
    const { rowSamples } = SILERO_GEOMETRY[16000];
    const input = new Float32Array(batchSize * rowSamples);
    const state = new Float32Array(batchSize * SILERO_STATE_SIZE);
    const result = await pool.run<Float32Array>(
      'vad',
      { sampleRate: 16000, batchSize, input, state },
      { transferList: [input.buffer, state.buffer] },
    );
    expect(result.length).toBe(batchSize + batchSize * SILERO_STATE_SIZE);
    for (let i = 0; i < batchSize; i++) {
      expect(result[i]).toBeGreaterThanOrEqual(0);
      expect(result[i]).toBeLessThan(0.5); // silence
    }
  });

  it('rejects a malformed VAD batch with the window error', async () => {
    pool = createWorkerPool({ size: 1 });
    const error = await pool
      .run('vad', { sampleRate: 16000, batchSize: 1, input: new Float32Array(10), state: new Float32Array(SILERO_STATE_SIZE) })
      .catch((err: unknown) => err);
    expect(isGatewayError(error, 'GW_ERR_WORKER_TASK_FAILED')).toBe(true);
    expect((error as Error).message).toContain('wrong size');
  });

  it('refuses work after close', async () => {
    pool = createWorkerPool({ size: 1 });
    await pool.close();
    const error = await pool.run('ping', 1).catch((err: unknown) => err);
    expect(isGatewayError(error, 'GW_ERR_WORKER_POOL_CLOSED')).toBe(true);
  });

  it('aborts a task by signal', async () => {
    pool = createWorkerPool({ size: 1 });
    const controller = new AbortController();
    controller.abort();
    const error = await pool.run('ping', 1, { signal: controller.signal }).catch((err: unknown) => err);
    expect(isGatewayError(error, 'GW_ERR_WORKER_TASK_FAILED')).toBe(true);
  });

  it('a deadline abandons a running Silero inference without terminating its worker (which aborts the process)', async () => {
    pool = createWorkerPool({ size: 1 });
    const { rowSamples } = SILERO_GEOMETRY[16000];
    const batch = 512; // tens of ms per inference: the deadlines below land while it runs
    const payload = () => {
      const input = new Float32Array(batch * rowSamples);
      const state = new Float32Array(batch * SILERO_STATE_SIZE);
      return { p: { sampleRate: 16000, batchSize: batch, input, state }, transferList: [input.buffer, state.buffer] };
    };
    const warm = payload();
    await pool.run('vad', warm.p, { transferList: warm.transferList });
    // Before the fix, piscina terminated the thread mid-inference and the whole test process died
    // ("terminate called after throwing an instance of 'Napi::Error'") within a few of these.
    for (let i = 0; i < 12; i++) {
      const t = payload();
      const error = await pool.run('vad', t.p, { transferList: t.transferList, signal: AbortSignal.timeout(2 + (i % 6) * 3) }).catch((err: unknown) => err);
      expect(isGatewayError(error, 'GW_ERR_WORKER_TASK_FAILED')).toBe(true);
    }
    // The same worker goes on serving.
    const after = payload();
    const out = await pool.run<Float32Array>('vad', after.p, { transferList: after.transferList });
    expect(out.length).toBe(batch + batch * SILERO_STATE_SIZE);
  });

  /** Each thread of this process (Linux: /proc/self/task) with its nice value (field 19 of stat). */
  function niceByThread(): Map<number, number> {
    const out = new Map<number, number>();
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    }
    return out;
  }

  it.runIf(process.platform === 'linux')('runs its worker threads at a lower priority than the event loop when told, and only them', async () => {
    const before = niceByThread();
    const base = before.get(process.pid) ?? 0;
    pool = createWorkerPool({ size: 2, niceIncrement: 7 });
    await Promise.all([pool.run('ping', 1), pool.run('ping', 2)]);
    const after = niceByThread();
    const lowered = [...after].filter(([tid, nice]) => !before.has(tid) && nice === Math.min(base + 7, 19));
    // The pool's two threads (and any a worker starts itself, which inherit its priority).
    expect(lowered.length).toBeGreaterThanOrEqual(2);
    expect(after.get(process.pid)).toBe(base); // the event loop keeps its priority
    for (const [tid, nice] of before) if (after.has(tid)) expect(after.get(tid), `thread ${String(tid)}`).toBe(nice);
  });

  it.each([-1, 20, 2.5])('rejects a nice increment of %s', (niceIncrement) => {
    let error: unknown;
    try {
      createWorkerPool({ size: 1, niceIncrement });
    } catch (err) {
      error = err;
    }
    expect(isGatewayError(error, 'GW_ERR_CONFIG_INVALID')).toBe(true);
  });

  it('rejects a size that is not a positive integer', () => {
    let error: unknown;
    try {
      createWorkerPool({ size: 0 });
    } catch (err) {
      error = err;
    }
    expect(isGatewayError(error, 'GW_ERR_CONFIG_INVALID')).toBe(true);
  });
});
