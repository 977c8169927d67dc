/**
 * The call registry's store in Redis: one key per call (`vg:call:<callId>`, JSON, PX ttl), written in
 * one pipeline per heartbeat; listing SCANs the prefix and MGETs the values. Connection settings follow
 * src/http/security/redis-grant-store.ts: no offline queue and a command timeout, so a Redis that is
 * down fails a command at once instead of queueing; ioredis reconnects with backoff, each attempt logged.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import type { RegistryEntry, RegistryStore } from './call-registry.js';

const MAX_BACKOFF_MS = 5000;

export interface RedisRegistryStoreOptions {
  readonly url: string;
  readonly logger: Logger;
  readonly commandTimeoutMs?: number;
  readonly keyPrefix?: string;
}

function parse(raw: string | null): RegistryEntry | undefined {
  if (raw === null) return undefined;
  try {
    const e = JSON.parse(raw) as RegistryEntry;
    return typeof e.callId === 'string' && typeof e.nodeId === 'string' && typeof e.nodeUrl === 'string' ? e : undefined;
  } catch {
    return undefined; // not ours; never let a stray value break a listing
  }
}

export class RedisRegistryStore implements RegistryStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(opts: RedisRegistryStoreOptions) {
    const log = opts.logger.child({ component: 'call_registry_redis' });
    this.#prefix = opts.keyPrefix ?? 'vg:call:';
    this.#redis = new Redis(opts.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs ?? 1000,
      retryStrategy: (attempt) => Math.min(attempt * 200, MAX_BACKOFF_MS),
    });
    this.#redis.on('error', (err: Error) => log.warn({ event: 'call_registry_redis_error', err: err.message }, 'Redis connection error (call registry)'));
    this.#redis.on('reconnecting', (delayMs: number) => log.warn({ event: 'call_registry_redis_reconnecting', delayMs }, 'reconnecting to Redis (call registry)'));
    this.#redis.on('ready', () => log.info({ event: 'call_registry_redis_ready' }, 'Redis ready (call registry)'));
  }

  async put(entries: readonly RegistryEntry[], ttlMs: number): Promise<void> {
    const p = this.#redis.pipeline();
    for (const e of entries) p.set(this.#prefix + e.callId, JSON.stringify(e), 'PX', ttlMs);
    const results = await p.exec();
    const failed = results?.find(([err]) => err !== null);
    if (failed) throw failed[0] as Error;
  }

  async remove(callId: string): Promise<void> {
    await this.#redis.del(this.#prefix + callId);
  }

  async get(callId: string): Promise<RegistryEntry | undefined> {
    return parse(await this.#redis.get(this.#prefix + callId));
  }

  async all(): Promise<RegistryEntry[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.#redis.scan(cursor, 'MATCH', `${this.#prefix}*`, 'COUNT', 500);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await this.#redis.mget(...keys);
    return values.map(parse).filter((e): e is RegistryEntry => e !== undefined);
  }

  async close(): Promise<void> {
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }
}
