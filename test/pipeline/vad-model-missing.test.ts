/** Without the Silero model file the gateway keeps running: the service hands out energy VADs. */
import { describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createVadService } from '../../src/pipeline/vad/vad-service.js';
import type { WorkerPool } from '../../src/workers/pool.js';

vi.mock('../../src/pipeline/vad/silero-model.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../src/pipeline/vad/silero-model.js')>()),
  sileroModelPath: (): string => {
    throw new GatewayError('GW_ERR_VAD_MODEL_NOT_FOUND', '/nowhere/silero_vad_v5.onnx');
  },
}));

const unusedPool: WorkerPool = {
  size: 1,
  ready: true,
  run: () => Promise.reject(new Error('the pool must not be used')),
  close: () => Promise.resolve(),
};

describe('VAD service without the model file', () => {
  it('falls back to the energy VAD for every call, and says so once', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ destination: { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) } });
    const metrics = createMetrics();
    const service = createVadService({ engine: 'silero', pool: unusedPool, logger, metrics });
    expect(service.engine).toBe('energy');
    const call = service.createCallVad({ callId: 'c', sampleRate: 8000, onEvent: () => undefined });
    expect(call.engine).toBe('energy');
    call.push(new Int16Array(8000), 0);
    await call.flush();
    expect(lines.filter((l) => l.event === 'vad_fallback')).toEqual([
      expect.objectContaining({ level: 50, reason: 'model_not_found' }),
    ]);
    const { values } = await metrics.vadFallbacksTotal.get();
    expect(values).toEqual([expect.objectContaining({ labels: { reason: 'model_not_found' }, value: 1 })]);
    await service.close();
  });
});
