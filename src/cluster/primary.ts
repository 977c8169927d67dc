/**
 * `serve --processes N`: the primary process. It listens on nothing itself: it forks N gateway
 * processes (node:cluster; they share the public port, and the kernel spreads connections between
 * them), holds what they must share when there is no Redis (one-time grants and the call registry,
 * ./memory-stores.ts, answered over IPC), aggregates their metrics for whichever of them is scraped
 * (prom-client's AggregatorRegistry), replaces a process that dies, and on SIGTERM/SIGINT drains
 * them all: each gets the signal and drains its own calls as a single process does.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { serveIpc, type IpcHandlers } from './ipc.js';
import { MemoryGrantStore, MemoryRegistryStore } from './memory-stores.js';

export interface PrimaryOptions {
  readonly processes: number;
  /** This machine's NODE_ID; process i is `<nodeId>.p<i>` in the call registry. */
  readonly nodeId: string;
  readonly clusterSecret: string | undefined;
  /** WORKER_POOL_SIZE as configured (undefined: not set, so the cores are shared out). */
  readonly workerPoolSize: number | undefined;
  readonly cores: number;
  readonly logger: Logger;
  /** A process that died is replaced after this long (not when it exits because of a drain). */
  readonly restartDelayMs?: number;
}

/** Environment a gateway process gets from the primary (besides the primary's own). */
export const PROCESS_INDEX_ENV = 'VOICE_GATEWAY_PROCESS_INDEX';
/** A process that dies before it listened, or this soon after it started... */
const QUICK_DEATH_MS = 10_000;
/** ...this many times in a row means its start cannot work: the primary stops rather than loop. */
const MAX_QUICK_DEATHS = 3;

export function runPrimary(opts: PrimaryOptions): Promise<number> {
  const log = opts.logger.child({ component: 'cluster_primary' });
  // Processes forward API requests to each other's internal routes: they need one secret.
  const secret = opts.clusterSecret ?? randomBytes(24).toString('base64url');
  // Each process runs its own Silero pool: share the cores out unless told otherwise.
  const poolSize = opts.workerPoolSize ?? Math.max(1, Math.floor(opts.cores / opts.processes));
  const grants = new MemoryGrantStore();
  const registry = new MemoryRegistryStore();
  const aggregator = new AggregatorRegistry();
  const handlers: IpcHandlers = {
    'grant.put': (token, value, ttlMs) => grants.put(String(token), String(value), Number(ttlMs)),
    'grant.take': async (token) => (await grants.take(String(token))) ?? null,
    'grant.peek': async (token) => (await grants.peek(String(token))) ?? null,
    'grant.revoke': (token) => grants.revoke(String(token)),
    'registry.put': (entries, ttlMs) => registry.put(entries as Parameters<MemoryRegistryStore['put']>[0], Number(ttlMs)),
    'registry.remove': (callId) => registry.remove(String(callId)),
    'registry.get': async (callId) => (await registry.get(String(callId))) ?? null,
    'registry.all': () => registry.all(),
    metrics: () => aggregator.clusterMetrics(),
  };

  const byIndex = new Map<number, Worker>();
  let stopping = false;
  let exitCode = 0;
  /** Processes that died soon after they started, in a row: a start that cannot work (port taken, a store down). */
  let quickDeaths = 0;
  let giveUp: (() => void) | undefined;

  const fork = (index: number): void => {
    const worker = cluster.fork({
      [PROCESS_INDEX_ENV]: String(index),
      NODE_ID: `${opts.nodeId}.p${String(index)}`,
      CLUSTER_SECRET: secret,
      WORKER_POOL_SIZE: String(poolSize),
    });
    byIndex.set(index, worker);
    const startedAt = Date.now();
    // A start slowed by a busy machine can take longer than QUICK_DEATH_MS and still be a start that fails.
    let listened = false;
    worker.once('listening', () => {
      listened = true;
    });
    const stopServing = serveIpc(worker, handlers, (detail) => log.warn({ event: 'cluster_ipc_rejected', process: index, detail }, 'bad IPC message from a gateway process'));
    worker.once('exit', (code, signal) => {
      stopServing();
      if (byIndex.get(index) === worker) byIndex.delete(index);
      const dropped = registry.dropNode(`${opts.nodeId}.p${String(index)}`);
      if (stopping) {
        if (code !== 0) exitCode = 1;
        log.info({ event: 'cluster_process_stopped', process: index, code, signal }, `gateway process ${String(index)} stopped`);
        return;
      }
      // A process that served a while died of something else: the count starts over.
      quickDeaths = !listened || Date.now() - startedAt < QUICK_DEATH_MS ? quickDeaths + 1 : 0;
      if (quickDeaths >= MAX_QUICK_DEATHS) {
        log.fatal({ event: 'cluster_crash_loop', process: index, code, signal, deaths: quickDeaths }, `gateway processes keep dying as they start (${String(quickDeaths)} in a row): stopping; see the errors above`);
        giveUp?.();
        return;
      }
      log.error({ event: 'cluster_process_died', process: index, code, signal, callsLost: dropped }, `gateway process ${String(index)} died; starting another`);
      // Not unref'd: with every process gone this timer is what keeps the primary alive to restart one.
      setTimeout(() => {
        if (!stopping) fork(index);
      }, opts.restartDelayMs ?? 1000);
    });
  };

  log.info({ event: 'cluster_starting', processes: opts.processes, workerPoolSize: poolSize, sharedStores: 'primary' }, `starting ${String(opts.processes)} gateway processes`);
  for (let i = 0; i < opts.processes; i++) fork(i);

  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ event: 'forced_exit', signal }, 'second signal: stopping every process now');
        for (const w of byIndex.values()) w.process.kill('SIGKILL');
        resolve(1);
        return;
      }
      stopping = true;
      log.info({ event: 'cluster_shutdown', signal, processes: byIndex.size }, 'draining every gateway process');
      const workers = [...byIndex.values()];
      if (workers.length === 0) resolve(exitCode);
      let left = workers.length;
      for (const w of workers) {
        w.once('exit', () => {
          if (--left === 0) {
            log.info({ event: 'cluster_shutdown_complete', exitCode }, 'every gateway process stopped');
            resolve(exitCode);
          }
        });
        w.process.kill(signal);
      }
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    giveUp = () => {
      exitCode = 1;
      stop('SIGTERM');
    };
  });
}
