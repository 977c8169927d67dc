/**
 * One-time stream grants in Redis, shared by every gateway node. `SET key value NX PX ttl` mints (a
 * token is never overwritten), `GETDEL` spends atomically (Redis 6.2+): of two nodes presenting one
 * token at once, exactly one gets the grant. Keys outlive the grant by a grace period so an expired
 * token still reads as expired (and its Telnyx leg is hung up), not as unknown.
 *
 * Redis down or slow must never let an unverified stream in: commands fail fast (no offline queue, a
 * command timeout), the failure is a GatewayError the caller turns into a refusal, and it is logged
 * and counted in voice_gateway_stream_grant_store_errors_total. ioredis reconnects with backoff; each
 * reconnect attempt is logged.
 */
import { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import { GatewayError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { GrantStore } from '../../store/grant-store.js';

export interface RedisGrantStoreOptions {
  /** redis:// or rediss:// URL. */
  readonly url: string;
  readonly logger: Logger;
  /** voice_gateway_stream_grant_store_errors_total, by op. */
  readonly errors: Counter<'op'>;
  /** A command slower than this fails (the stream is refused, never waved through). */
  readonly commandTimeoutMs?: number;
  /** Kept past the grant's own expiry so an expired token is told apart from an unknown one. */
  readonly expiredGraceMs?: number;
  readonly keyPrefix?: string;
}

const MAX_BACKOFF_MS = 5000;

export class RedisGrantStore implements GrantStore {
  readonly #redis: Redis;
  readonly #log: Logger;
  readonly #errors: Counter<'op'>;
  readonly #graceMs: number;
  readonly #prefix: string;

  constructor(opts: RedisGrantStoreOptions) {
    this.#log = opts.logger.child({ component: 'stream_grants_redis' });
    this.#errors = opts.errors;
    this.#graceMs = opts.expiredGraceMs ?? 60_000;
    this.#prefix = opts.keyPrefix ?? 'vg:grant:';
    this.#redis = new Redis(opts.url, {
      lazyConnect: false,
      // Fail now rather than queue while disconnected: a media socket must not wait on a dead Redis.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs ?? 1000,
      retryStrategy: (attempt) => Math.min(attempt * 200, MAX_BACKOFF_MS),
    });
    this.#redis.on('error', (err: Error) => this.#log.warn({ event: 'stream_grants_redis_error', err: err.message }, 'Redis connection error (stream grants)'));
    this.#redis.on('reconnecting', (delayMs: number) => this.#log.warn({ event: 'stream_grants_redis_reconnecting', delayMs }, 'reconnecting to Redis (stream grants)'));
    this.#redis.on('ready', () => this.#log.info({ event: 'stream_grants_redis_ready' }, 'Redis ready (stream grants)'));
  }

  /** Resolves once connected (start-up waits, so a Redis that is down fails the start clearly). */
  async ready(timeoutMs = 5000): Promise<void> {
    if (this.#redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new GatewayError('GW_ERR_GRANTS_UNAVAILABLE', `Redis did not answer within ${String(timeoutMs)} ms`));
      }, timeoutMs);
      const onReady = () => {
        cleanup();
        resolve();
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.#redis.off('ready', onReady);
      };
      this.#redis.on('ready', onReady);
    });
  }

  async #run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.#errors.inc({ op });
      this.#log.error({ event: 'stream_grants_redis_failed', op, err: (err as Error).message }, 'stream grant store (Redis) failed; refusing rather than trusting an unverified stream');
      throw new GatewayError('GW_ERR_GRANTS_UNAVAILABLE', `${op}: ${(err as Error).message}`, { cause: err });
    }
  }

  async put(token: string, value: string, ttlMs: number): Promise<void> {
    const ok = await this.#run('put', () => this.#redis.set(this.#prefix + token, value, 'PX', ttlMs + this.#graceMs, 'NX'));
    // Random 192-bit tokens do not collide; a clash means something wrote our key space.
    if (ok !== 'OK') throw new GatewayError('GW_ERR_GRANTS_UNAVAILABLE', 'put: the token already exists');
  }

  async take(token: string): Promise<string | undefined> {
    return (await this.#run('take', () => this.#redis.getdel(this.#prefix + token))) ?? undefined;
  }

  async peek(token: string): Promise<string | undefined> {
    return (await this.#run('peek', () => this.#redis.get(this.#prefix + token))) ?? undefined;
  }

  async revoke(token: string): Promise<void> {
    await this.#run('revoke', () => this.#redis.del(this.#prefix + token));
  }

  async close(): Promise<void> {
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }
}
