import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { isGatewayError } from '../../src/errors.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createWorkerPool, type WorkerPool } from '../../src/workers/pool.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

let pool: WorkerPool | undefined;

afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

async function errorCount(metrics: ReturnType<typeof createMetrics>, task: string): Promise<number> {
  const { values } = await metrics.workerTaskErrorsTotal.get();
  return values.find((v) => v.labels.task === task)?.value ?? 0;
}

describe('worker pool faults', () => {
  it.each([
    ['a task that throws', 'throwing.task.ts', 'injected task failure'],
    ['a worker that dies mid-task', 'dying.task.ts', 'exit'],
  ])('turns %s into a rejected run, counts it, and keeps serving', async (_name, file, message) => {
    const metrics = createMetrics();
    pool = createWorkerPool({ size: 1, metrics, taskFiles: { vad: fixture(file) } });

    const error = await pool.run('vad', {}).catch((err: unknown) => err);
    expect(isGatewayError(error, 'GW_ERR_WORKER_TASK_FAILED')).toBe(true);
    expect((error as Error).message).toContain(message);
    expect((error as Error).cause).toBeDefined();
    expect(await errorCount(metrics, 'vad')).toBe(1);

    // The same pool (a replacement worker, if one died) still runs tasks, and this process lives on.
    expect(await pool.run<string>('ping', 'still here')).toBe('still here');
    expect(pool.ready).toBe(true);
  });

  it('survives many workers dying in a row', async () => {
    pool = createWorkerPool({ size: 2, taskFiles: { vad: fixture('dying.task.ts') } });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => pool!.run('vad', {})));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(await pool.run<number>('ping', 7)).toBe(7);
  });
});
