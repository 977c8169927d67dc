/**
 * The process's worker pool: piscina, created once by the entry file and passed to what needs it
 * (never a module-level singleton). Tasks are modules `<name>.task.{js,ts}` found by path (TASK_MODULES):
 * the pool never imports them, so the code a task runs (the Silero VAD in src/pipeline/vad/) may import
 * the pool's types without a cycle between pipeline and workers.
 *
 * From compiled `dist/` the `.js` task runs as is. From TypeScript sources (vitest, tsx) only the
 * `.ts` exists, so workers start with `--import tsx` (resolved to an absolute URL, so it works
 * whatever the working directory).
 *
 * Nothing here blocks the event loop: `run()` is a promise, data goes by transfer, and a worker
 * that throws or dies turns into a rejected promise (GW_ERR_WORKER_TASK_FAILED), never a crash.
 *
 * An aborted task (a deadline) is abandoned, never cancelled: its promise rejects at once and its
 * late result is dropped, but the worker is left to finish. Piscina cancels a running task by
 * terminating its thread, and terminating a thread while an ONNX Runtime inference is in flight
 * aborts the whole process (the native completion callback throws into a dead environment:
 * "terminate called after throwing an instance of 'Napi::Error'"; reproduced here, and reported by
 * others, e.g. daintreehq/daintree#12577). A slow worker delays the tasks queued behind it; a dead
 * process ends every call.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { TransferListItem } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Metrics } from '../observability/metrics.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { untilAborted } from '../util/abort.js';

export type WorkerTaskName = 'vad' | 'ping';

const TASKS: readonly WorkerTaskName[] = ['vad', 'ping'];

/** Where each task's module lives, relative to this file, without its `.task.{js,ts}` ending. */
const TASK_MODULES: Readonly<Record<WorkerTaskName, string>> = { vad: '../pipeline/vad/vad', ping: './ping' };

export interface WorkerPoolOptions {
  /** Worker threads; default: the machine's available parallelism. */
  size?: number;
  logger?: Logger;
  metrics?: Metrics;
  /**
   * How much lower the worker threads run than the event loop (Unix nice, 0-19; default 0). The
   * event loop paces every call's audio and forwards every caller frame, so it must win the CPU;
   * Silero batches wait a few ms without harm (see WORKER_NICE in config.ts). Through piscina's
   * `niceIncrement` (its optional @napi-rs/nice: on Linux a thread's own priority).
   */
  niceIncrement?: number;
  /** Where a task's module lives, when not next to this file (tests use it to inject faults). */
  taskFiles?: Partial<Record<WorkerTaskName, string>>;
}

export interface WorkerRunOptions {
  /** Buffers to move to the worker instead of copying them (they are detached here). */
  transferList?: readonly TransferListItem[];
  /** Abandons the task when aborted: the promise rejects, the worker finishes it and the result is dropped. */
  signal?: AbortSignal;
}

export interface WorkerPool {
  readonly size: number;
  /** True while the pool is open and has threads (for /ready). */
  readonly ready: boolean;
  run<T>(task: WorkerTaskName, payload: unknown, options?: WorkerRunOptions): Promise<T>;
  close(): Promise<void>;
}

/** The task's `.task.js` when compiled, else its `.task.ts` (running from sources). */
export function resolveTaskFile(name: WorkerTaskName): string {
  for (const ext of ['js', 'ts']) {
    const url = new URL(`${TASK_MODULES[name]}.task.${ext}`, import.meta.url);
    if (existsSync(url)) return fileURLToPath(url);
  }
  throw new GatewayError('GW_ERR_WORKER_TASK_FAILED', `no module for task '${name}' at ${TASK_MODULES[name]}.task.{js,ts} from ${import.meta.url}`);
}

function tsxExecArgv(): string[] {
  const loader = createRequire(import.meta.url).resolve('tsx');
  return ['--import', pathToFileURL(loader).href];
}

export function createWorkerPool(options: WorkerPoolOptions = {}): WorkerPool {
  const size = options.size ?? availableParallelism();
  if (!Number.isInteger(size) || size < 1) {
    throw new GatewayError('GW_ERR_CONFIG_INVALID', `worker pool size must be a positive integer, got ${String(size)}`);
  }
  const niceIncrement = options.niceIncrement ?? 0;
  if (!Number.isInteger(niceIncrement) || niceIncrement < 0 || niceIncrement > 19) {
    throw new GatewayError('GW_ERR_CONFIG_INVALID', `worker nice increment must be an integer from 0 to 19, got ${String(niceIncrement)}`);
  }
  const logger = options.logger ?? silentLogger();
  const metrics = options.metrics;
  const files = new Map<WorkerTaskName, string>();
  for (const task of TASKS) files.set(task, options.taskFiles?.[task] ?? resolveTaskFile(task));
  const needsTsx = [...files.values()].some((f) => f.endsWith('.ts'));

  const piscina = new Piscina({
    minThreads: size,
    maxThreads: size,
    idleTimeout: Infinity,
    closeTimeout: 5000,
    niceIncrement,
    ...(needsTsx ? { execArgv: tsxExecArgv() } : {}),
  });
  // A worker that fails outside a task (or dies between tasks) is reported here; piscina replaces
  // it. Without a listener the EventEmitter would throw and take the process down.
  piscina.on('error', (err: unknown) => {
    logger.error({ event: 'worker_error', err }, 'worker thread failed outside a task');
  });
  let closed = false;

  return {
    size,
    get ready() {
      return !closed && piscina.threads.length > 0;
    },
    async run<T>(task: WorkerTaskName, payload: unknown, runOptions: WorkerRunOptions = {}): Promise<T> {
      if (closed) throw new GatewayError('GW_ERR_WORKER_POOL_CLOSED', `task '${task}'`);
      const filename = files.get(task);
      if (filename === undefined) throw new GatewayError('GW_ERR_WORKER_TASK_FAILED', `unknown task '${task}'`);
      const signal = runOptions.signal;
      try {
        signal?.throwIfAborted();
        const task = piscina.run(payload, { filename, name: 'default', transferList: runOptions.transferList as TransferListItem[] | undefined });
        return (await (signal ? abandonOnAbort(task, signal) : task)) as T;
      } catch (err) {
        metrics?.workerTaskErrorsTotal.inc({ task });
        if (closed) throw new GatewayError('GW_ERR_WORKER_POOL_CLOSED', `task '${task}'`, { cause: err });
        if (isGatewayError(err)) throw err;
        throw new GatewayError('GW_ERR_WORKER_TASK_FAILED', `${task}: ${(err as Error).message}`, { cause: err });
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await piscina.close();
    },
  };
}

/** The task's outcome, or a rejection as soon as `signal` aborts (the task itself runs on; see the header). */
function abandonOnAbort<T>(task: Promise<T>, signal: AbortSignal): Promise<T> {
  return untilAborted(task, signal, () => (signal.reason instanceof Error ? signal.reason : new Error('task abandoned')));
}
