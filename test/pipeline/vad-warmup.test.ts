/**
 * Silero is loaded in every worker at start (vad-service.ts warmSilero), and the service says when:
 * /ready waits for `warm`, so the first calls do not wait for a model load. A worker that cannot load
 * it is logged, and the service still becomes ready (calls fall back per call, as before).
 */
import { fileURLToPath } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { createVadService, type VadService } from '../../src/pipeline/vad/vad-service.js';
import { createWorkerPool, type WorkerPool } from '../../src/workers/pool.js';
import { until } from '../support/until.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../workers/fixtures/${name}`, import.meta.url));

let pool: WorkerPool | undefined;
let service: VadService | undefined;
let channel: BroadcastChannel | undefined;

afterEach(async () => {
  channel?.close();
  await service?.close();
  await pool?.close();
  service = undefined;
  pool = undefined;
});

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) } });
  return { lines, logger };
}

describe('Silero warm-up', () => {
  it('runs one window in each worker before it says warm', async () => {
    const threads = new Set<number>();
    channel = new BroadcastChannel('vad-announcing-task');
    channel.onmessage = (e) => threads.add((e as { data: { threadId: number } }).data.threadId);
    const { lines, logger } = capture();
    pool = createWorkerPool({ size: 2, logger, taskFiles: { vad: fixture('vad-announcing.task.ts') } });
    service = createVadService({ engine: 'silero', pool, logger });
    expect(service.warm).toBe(false);
    await until(() => service!.warm, 'the VAD service to be warm', 30_000);
    await until(() => threads.size === 2, 'both workers to announce', 2000);
    expect(lines.find((l) => l.event === 'vad_warm')).toMatchObject({ workers: 2 });
  });

  it('a worker that cannot run Silero is logged, and the service still becomes ready', async () => {
    const { lines, logger } = capture();
    pool = createWorkerPool({ size: 1, logger, taskFiles: { vad: fixture('throwing.task.ts') } });
    service = createVadService({ engine: 'silero', pool, logger });
    await until(() => service!.warm, 'the VAD service to be warm', 30_000);
    expect(lines.find((l) => l.event === 'vad_warmup_failed')).toMatchObject({ workers: 1, failed: 1 });
    expect(service.engine).toBe('silero');
  });

  it('the energy and off engines are warm at once', () => {
    for (const engine of ['energy', 'off'] as const) {
      const s = createVadService({ engine });
      expect(s.warm).toBe(true);
      void s.close();
    }
  });
});
