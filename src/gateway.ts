/**
 * Assembles a gateway from a validated config: process-wide registries (logger, metrics, worker pool,
 * VAD service) created once here and passed down, providers, the call manager and the HTTP app. It
 * does not listen and handles no signals; `voice-gateway serve` does that.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { createLogger, type Logger } from './observability/logger.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { createWorkerPool, type WorkerPool } from './workers/pool.js';
import { createVadService, type VadService } from './pipeline/vad/vad-service.js';
import { CallManager } from './calls/call-manager.js';
import { ChunkPool } from './calls/chunk-pool.js';
import { EgressClock } from './calls/egress-clock.js';
import { buildApp } from './http/app.js';
import { createTelnyxCallControl, telnyxSdk } from './carriers/telnyx/call-control.js';
import { createCallControl, twilioCredentials } from './carriers/call-control.js';
import { twilioSdk } from './carriers/twilio/rest-client.js';
import { werift } from './transports/webrtc/session.js';
import { CarrierLegs } from './carriers/telnyx/legs.js';
import { openCallRecordsFor } from './store/call-records.js';
import { StreamTokens } from './http/security/stream-tokens.js';
import type { GrantStore } from './store/grant-store.js';
import { CallRegistry, type RegistryStore } from './calls/call-registry.js';
import { audioChunkMsFor, createProviders, withAllDownFallback } from './providers/registry.js';
import type { GuardedProvider } from './providers/guard.js';
import { BreakerSync } from './providers/breaker-sync.js';

export interface Gateway {
  readonly app: FastifyInstance;
  readonly calls: CallManager;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Drain calls (up to the deadline), close the app, the VAD service and the worker pool. */
  close(deadlineMs?: number): Promise<void>;
}

export interface GatewayOverrides {
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly now?: () => number;
  /** A worker pool made by the caller (the soak benchmark injects worker crashes); closed with the gateway. */
  readonly pool?: WorkerPool;
  /**
   * `serve --processes N` without Redis: the primary process's stores (over IPC) in place of Redis's,
   * and /metrics answered with every process's metrics. Ignored where REDIS_URL is set.
   */
  readonly processes?: {
    readonly grantStore: GrantStore;
    readonly registryStore: RegistryStore;
    readonly metricsText: () => Promise<string>;
  };
}

export async function createGateway(config: Config, overrides: GatewayOverrides = {}): Promise<Gateway> {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel });
  const metrics = overrides.metrics ?? createMetrics({ defaultMetrics: true });
  // Call records: opened (and migrated) before any call can start (and before the workers: a database that is down fails the start with nothing to close); DATABASE_URL shares them across nodes.
  const records = await openCallRecordsFor(config, { metrics, logger, now: overrides.now });
  // REDIS_URL: one-time stream grants shared by every node; a Redis that is down fails the start.
  // Without it, under `serve --processes N`, the primary process holds them.
  const sharedInProcesses = config.media.redisUrl === undefined ? overrides.processes : undefined;
  const grantStore: GrantStore | undefined = sharedInProcesses?.grantStore ?? (await openGrantStore(config, { metrics, logger }).catch(async (err: unknown) => {
    await records.close();
    throw err;
  }));
  // REDIS_URL (or several processes): which node holds each live call; its writes fail soft, so it never delays the start.
  const registryStore: RegistryStore | undefined =
    sharedInProcesses?.registryStore ?? (config.media.redisUrl === undefined ? undefined : new (await redisStores.registry()).RedisRegistryStore({ url: config.media.redisUrl, logger }));
  const registry = registryStore === undefined ? undefined : new CallRegistry({
    store: registryStore,
    nodeId: config.cluster.nodeId,
    nodeUrl: config.cluster.nodeUrl,
    ttlMs: config.cluster.registryTtlMs,
    logger,
    errors: metrics.callRegistryErrorsTotal,
  });
  // What the configuration names is imported before the gateway takes calls (an import runs on the
  // event loop: at a first connect or command it would stall every live call's audio); what it does
  // not name is never imported (util/lazy-import.ts). A module that does not load fails the start.
  const providers = withAllDownFallback(createProviders(config, { metrics, logger }), config, { metrics, logger });
  try {
    await Promise.all([
      ...providers.map((p) => p.preload()),
      werift(),
      config.telnyx.apiKey ? telnyxSdk() : undefined,
      twilioCredentials(config) ? twilioSdk() : undefined,
    ]);
  } catch (err) {
    await Promise.all([grantStore?.close(), registry?.close()]);
    await records.close();
    throw err;
  }
  let pool: WorkerPool | undefined;
  if (config.vadEngine === 'silero') pool = overrides.pool ?? createWorkerPool({ size: config.workerPoolSize, niceIncrement: config.workerNice, logger, metrics });
  const turn = Object.fromEntries(Object.entries(config.turn).filter(([, v]) => v !== undefined));
  const vad: VadService = createVadService({ engine: config.vadEngine, batchWaitMs: config.vadBatchWaitMs, silenceGateDb: config.vadSilenceGateDb, pool, metrics, logger, turn });
  // REDIS_URL: breaker transitions shared with the other nodes (best effort; never fails the start).
  const breakerSync = await openBreakerSync(config, providers, { metrics, logger });
  // One egress clock paces every call's audio to its caller (one timer, not one per call: issue 16).
  const egressClock = new EgressClock({
    counts: metrics.egressTicks,
    onError: (err) => logger.error({ event: 'egress_tick_failed', err }, 'a call\'s egress failed on the clock tick; it is no longer paced'),
  });
  // One pool of byte chunks for every call's replay ring (a call's chunks go to the next call).
  const ringChunks = new ChunkPool();
  const calls = new CallManager({
    providers,
    failover: config.failover,
    instructions: config.instructions,
    vad,
    metrics,
    logger,
    media: { ...config.media, audioChunkMsFor: (provider) => audioChunkMsFor(provider, config) },
    egressClock,
    ringChunks,
    recorder: records,
    dtmfToProvider: config.calls.dtmfToProvider,
    registry,
    // A provider's goodbye hangs up the way the API does (callControl is made just below, from calls).
    hangup: (callId, reason) => callControl.hangup(callId, reason),
  });
  const telnyxCallControl = config.telnyx.apiKey
    ? createTelnyxCallControl({ apiKey: config.telnyx.apiKey, baseUrl: config.telnyx.apiBaseUrl, timeoutMs: config.calls.carrierTimeoutMs, commands: metrics.carrierCommandsTotal })
    : undefined;
  // Telnyx Call Control legs outlive our media socket: every end of a call hangs its leg up here.
  const legs = new CarrierLegs({ telnyx: telnyxCallControl, logger });
  // One token table for webhooks and outbound calls (an outbound call's grant is issued by call control).
  const tokens = new StreamTokens({ ttlMs: config.media.streamTokenTtlMs, now: overrides.now, shared: grantStore, logger });
  const callControl = createCallControl(config, { calls, tokens, records, telnyx: telnyxCallControl, legs, metrics, logger });
  const app = await buildApp({
    config,
    logger,
    metrics,
    calls,
    telnyxCallControl,
    tokens,
    grantStore,
    callRecords: records,
    callControl,
    legs,
    registry,
    metricsText: overrides.processes?.metricsText,
    // Workers up and, with Silero, the model loaded in each (a cold model would stall the first calls).
    isReady: () => (pool?.ready ?? true) && vad.warm,
    now: overrides.now,
  });
  let closing: Promise<void> | undefined;
  return {
    app,
    calls,
    metrics,
    logger,
    close(deadlineMs = config.shutdownDeadlineMs) {
      closing ??= (async () => {
        await calls.drain(deadlineMs);
        egressClock.close();
        await callControl.close();
        await legs.close();
        await app.close();
        await breakerSync?.close();
        await grantStore?.close();
        await registry?.close();
        await records.close();
        await vad.close();
        await pool?.close();
        metrics.close();
      })();
      return closing;
    },
  };
}

/** The Redis-backed stores and ioredis under them, imported only when REDIS_URL asks for them. */
const redisStores = {
  grants: () => import('./http/security/redis-grant-store.js'),
  registry: () => import('./calls/redis-registry-store.js'),
  breakers: () => import('./providers/redis-breaker-bus.js'),
};

async function openGrantStore(config: Config, deps: { metrics: Metrics; logger: Logger }): Promise<GrantStore | undefined> {
  if (config.media.redisUrl === undefined) return undefined;
  const { RedisGrantStore } = await redisStores.grants();
  const store = new RedisGrantStore({ url: config.media.redisUrl, logger: deps.logger, errors: deps.metrics.streamGrantStoreErrorsTotal });
  try {
    await store.ready();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/**
 * With REDIS_URL, each node tells the others when a provider's breaker opens or closes. Unlike the
 * grant store, a Redis that cannot be reached does not fail the start: breakers still work per node,
 * and the subscription is made when Redis comes back. The start waits briefly so that a node taking
 * calls normally already hears the others.
 */
async function openBreakerSync(config: Config, providers: readonly GuardedProvider[], deps: { metrics: Metrics; logger: Logger }): Promise<BreakerSync | undefined> {
  if (config.media.redisUrl === undefined) return undefined;
  const nodeId = randomUUID();
  const { RedisBreakerBus } = await redisStores.breakers();
  const bus = new RedisBreakerBus({ url: config.media.redisUrl, logger: deps.logger, errors: deps.metrics.breakerSyncErrorsTotal });
  const sync = new BreakerSync({ nodeId, bus, breakers: providers, metrics: deps.metrics, logger: deps.logger });
  sync.start();
  if (!(await bus.ready())) deps.logger.warn({ event: 'breaker_sync_not_ready', node: nodeId }, 'breaker sync not subscribed yet (Redis); starting anyway, breakers judge per node until it is');
  return sync;
}
