/**
 * The process-wide VAD: made once by the entry file with the worker pool, then asked for one
 * CallVad per call. It owns the cross-call Silero batcher. Engines: 'silero' (batched in workers,
 * per-call fallback to energy on any fault), 'energy' (on the event loop), 'off' (no events).
 */
import { GatewayError, isGatewayError } from '../../errors.js';
import { silentLogger, type Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import type { WorkerPool } from '../../workers/pool.js';
import { WindowedCallVad, type CallVad, type CallVadContext, type CallVadOptions, type VadEngine } from './call-vad.js';
import type { EnergyVadOptions } from './energy-vad.js';
import { SileroBatcher } from './silero-batcher.js';
import { SILERO_GEOMETRY, SILERO_STATE_SIZE, sileroModelPath } from './silero-model.js';
import type { VadTaskPayload } from './vad.task.js';
import { SileroRecovery } from './silero-recovery.js';
import { resolveTurnOptions, type TurnOptions } from './turn-detector.js';

export interface VadServiceOptions {
  engine: VadEngine;
  /** Required for 'silero'. The service uses it; its owner closes it. */
  pool?: WorkerPool;
  metrics?: Metrics;
  logger?: Logger;
  turn?: Partial<TurnOptions>;
  energy?: Partial<EnergyVadOptions>;
  /** Most windows per model run (default 128). */
  maxBatch?: number;
  /** Most batches out at once (default: the pool's size). */
  maxInFlight?: number;
  /** Most consecutive windows a call that fell behind sends in one task (default 8, 256 ms). */
  maxWindowsPerCall?: number;
  /**
   * How long a batch gathers windows before it goes out (default 0: the windows of one event-loop
   * turn). Live calls finish their windows at staggered times, so a few ms here make batches
   * several times larger, and the per-window cost falls with batch size. Taken only while windows
   * come closer together than the time left (see SileroBatcher).
   */
  batchWaitMs?: number;
  /** A call whose unscored audio exceeds this falls back to energy (default 2000 ms; Infinity for files). */
  maxBacklogMs?: number;
  /** A batch taking longer than this fails its calls over to energy (default 2000 ms). */
  taskTimeoutMs?: number;
  /**
   * Load Silero in every worker at start (default true; see warmSilero). False leaves each worker to
   * load it on its first task: the `vad` command scoring one file, tests that count the pool's tasks.
   */
  warmUp?: boolean;
  /**
   * Between turns, a window whose band-limited level is under this many dBFS is scored 0 without
   * Silero (see call-vad.ts). Default: no gate; -Infinity also means none.
   */
  silenceGateDb?: number;
  /** After a worker fault, the first probe of the pool comes this long later (default 2000 ms); see silero-recovery.ts. */
  recoveryProbeMs?: number;
}

export interface VadService {
  /** The engine new calls start with ('energy' if Silero could not be set up). */
  readonly engine: VadEngine;
  /**
   * False while the workers are still loading the Silero model (see warmSilero); /ready waits for it,
   * so the first calls neither wait for a model load nor pile windows up behind one.
   */
  readonly warm: boolean;
  createCallVad(options: CallVadOptions): CallVad;
  close(): Promise<void>;
}

function positive(name: string, value: number): number {
  if (!(value > 0)) throw new GatewayError('GW_ERR_CONFIG_INVALID', `${name} must be positive, got ${String(value)}`);
  return value;
}

function silenceGate(db: number | undefined): number {
  if (db === undefined) return Number.NEGATIVE_INFINITY;
  if (Number.isNaN(db) || db > 0) throw new GatewayError('GW_ERR_CONFIG_INVALID', `silenceGateDb must be a level in dBFS (<= 0), got ${String(db)}`);
  return db;
}

export function createVadService(options: VadServiceOptions): VadService {
  const logger = options.logger ?? silentLogger();
  const metrics = options.metrics;
  const turn = resolveTurnOptions(options.turn);
  let engine = options.engine;
  let batcher: SileroBatcher | undefined;
  let recovery: SileroRecovery | undefined;

  if (engine === 'silero') {
    const pool = options.pool;
    if (!pool) throw new GatewayError('GW_ERR_CONFIG_INVALID', 'the silero VAD engine needs a worker pool');
    try {
      sileroModelPath();
      batcher = new SileroBatcher({
        pool,
        maxBatch: Math.floor(positive('maxBatch', options.maxBatch ?? 128)),
        maxInFlight: Math.floor(positive('maxInFlight', options.maxInFlight ?? pool.size)),
        batchWaitMs: Math.min(Math.max(options.batchWaitMs ?? 0, 0), 1000),
        maxWindowsPerCall: Math.min(Math.floor(positive('maxWindowsPerCall', options.maxWindowsPerCall ?? 8)), 1024),
        taskTimeoutMs: positive('taskTimeoutMs', options.taskTimeoutMs ?? 2000),
        metrics,
      });
      recovery = new SileroRecovery({ pool, logger, probeDelayMs: options.recoveryProbeMs, probeTimeoutMs: options.taskTimeoutMs });
    } catch (err) {
      if (!isGatewayError(err, 'GW_ERR_VAD_MODEL_NOT_FOUND')) throw err;
      // The gateway keeps working without the model: every call uses the energy VAD.
      engine = 'energy';
      metrics?.vadFallbacksTotal.inc({ reason: 'model_not_found' });
      logger.error({ event: 'vad_fallback', reason: 'model_not_found', err }, 'Silero model missing, using the energy VAD');
    }
  }

  let warm = true;
  if (batcher && options.pool && options.warmUp !== false) {
    warm = false;
    void warmSilero(options.pool, logger).finally(() => {
      warm = true;
    });
  }

  const calls = new Set<WindowedCallVad>();
  const ctx: CallVadContext = {
    engine,
    batcher,
    turn,
    energy: options.energy ?? {},
    maxBacklogMs: positive('maxBacklogMs', options.maxBacklogMs ?? 2000),
    logger,
    metrics,
    windowCounters: metrics?.vadWindows,
    silenceGateDb: silenceGate(options.silenceGateDb),
    onClose: (call) => calls.delete(call),
    recovery,
  };
  let closed = false;

  return {
    engine,
    get warm() {
      return warm;
    },
    createCallVad(callOptions) {
      if (closed) throw new GatewayError('GW_ERR_CONFIG_INVALID', 'the VAD service is closed');
      const call = new WindowedCallVad(callOptions, ctx);
      calls.add(call);
      return call;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const call of [...calls]) call.close();
      recovery?.close();
      await batcher?.close();
    },
  };
}

/**
 * Each worker loads its ONNX session on its first task. Run one silent window per worker, all at
 * once (a worker takes one task at a time, so they spread over the pool), before calls arrive: the
 * load (~100 ms and tens of MiB per worker) happens at start-up, not under the first calls. A failure
 * here is only logged: each call still falls back to the energy VAD on its own if Silero keeps failing.
 */
async function warmSilero(pool: WorkerPool, logger: Logger): Promise<void> {
  const startedAt = performance.now();
  const { rowSamples } = SILERO_GEOMETRY[8000];
  const one = (): Promise<unknown> => {
    const input = new ArrayBuffer(rowSamples * 4);
    const state = new ArrayBuffer(SILERO_STATE_SIZE * 4);
    const payload: VadTaskPayload = { sampleRate: 8000, batchSize: 1, input: new Float32Array(input), state: new Float32Array(state) };
    return pool.run('vad', payload, { transferList: [input, state] });
  };
  const results = await Promise.allSettled(Array.from({ length: pool.size }, one));
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length > 0) {
    logger.warn({ event: 'vad_warmup_failed', workers: pool.size, failed: failed.length, err: failed[0].reason as unknown }, 'Silero did not load in every worker at start; calls fall back to the energy VAD if it keeps failing');
  } else {
    logger.info({ event: 'vad_warm', workers: pool.size, ms: Math.round(performance.now() - startedAt) }, 'Silero loaded in every worker');
  }
}
