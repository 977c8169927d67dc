/**
 * The breaker sync's channel over Redis pub/sub (REDIS_URL): one connection subscribes (a Redis
 * connection in subscriber mode can do nothing else), one publishes. Same habits as the stream
 * grant store (src/http/security/redis-grant-store.ts): no offline queue and a command timeout, so a
 * Redis that is down or slow fails a publish at once instead of holding it; ioredis reconnects with
 * backoff; every connection error is logged and counted in voice_gateway_breaker_sync_errors_total.
 *
 * Nothing here is on a call's path: publishes are fire-and-forget for breaker-sync.ts, and a lost
 * subscription only means this node judges providers alone until it is back. The channel is
 * subscribed again on every `ready` (autoResubscribe is off, so the one path is ours and a failed
 * SUBSCRIBE is counted rather than silently retried).
 */
import { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import type { BreakerBus } from './breaker-sync.js';

export interface RedisBreakerBusOptions {
  /** redis:// or rediss:// URL. */
  readonly url: string;
  readonly logger: Logger;
  /** voice_gateway_breaker_sync_errors_total, by op (connection, subscribe; publish is counted by the sync). */
  readonly errors: Counter<'op'>;
  readonly channel?: string;
  /** A publish or subscribe slower than this fails (and is counted). */
  readonly commandTimeoutMs?: number;
}

const MAX_BACKOFF_MS = 5000;
export const DEFAULT_BREAKER_CHANNEL = 'vg:breakers';

export class RedisBreakerBus implements BreakerBus {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #channel: string;
  readonly #log: Logger;
  readonly #errors: Counter<'op'>;
  readonly #listeners = new Set<(message: string) => void>();
  #subscribed = false;
  readonly #subscribedWaiters = new Set<() => void>();

  constructor(opts: RedisBreakerBusOptions) {
    this.#channel = opts.channel ?? DEFAULT_BREAKER_CHANNEL;
    this.#log = opts.logger.child({ component: 'breaker_sync_redis' });
    this.#errors = opts.errors;
    const options = {
      lazyConnect: false,
      // Fail now rather than queue while disconnected: a transition published late is worse than none.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs ?? 1000,
      autoResubscribe: false,
      retryStrategy: (attempt: number) => Math.min(attempt * 200, MAX_BACKOFF_MS),
    };
    this.#pub = new Redis(opts.url, options);
    this.#sub = new Redis(opts.url, options);
    for (const [role, conn] of [
      ['publisher', this.#pub],
      ['subscriber', this.#sub],
    ] as const) {
      conn.on('error', (err: Error) => {
        this.#errors.inc({ op: 'connection' });
        this.#log.warn({ event: 'breaker_sync_redis_error', role, err: err.message }, 'Redis connection error (breaker sync)');
      });
      conn.on('reconnecting', (delayMs: number) => this.#log.warn({ event: 'breaker_sync_redis_reconnecting', role, delayMs }, 'reconnecting to Redis (breaker sync)'));
    }
    this.#pub.on('ready', () => {
      this.#log.info({ event: 'breaker_sync_redis_ready', role: 'publisher' }, 'Redis ready (breaker sync publisher)');
      this.#wakeIfReady();
    });
    this.#sub.on('ready', () => this.#subscribe());
    this.#sub.on('close', () => {
      this.#subscribed = false;
    });
    this.#sub.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#deliver(message);
    });
  }

  #subscribe(): void {
    this.#sub.subscribe(this.#channel).then(
      () => {
        this.#subscribed = true;
        this.#log.info({ event: 'breaker_sync_subscribed', channel: this.#channel }, 'subscribed to breaker transitions of other nodes');
        this.#wakeIfReady();
      },
      (err: unknown) => {
        this.#errors.inc({ op: 'subscribe' });
        this.#log.warn({ event: 'breaker_sync_subscribe_failed', channel: this.#channel, err: (err as Error).message }, 'could not subscribe to breaker transitions; retried on the next reconnect');
      },
    );
  }

  /** Both halves up: subscribed, and the publisher connected (without an offline queue a publish before that fails). */
  #isReady(): boolean {
    return this.#subscribed && this.#pub.status === 'ready';
  }

  #wakeIfReady(): void {
    if (!this.#isReady()) return;
    for (const wake of this.#subscribedWaiters) wake();
  }

  #deliver(message: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(message);
      } catch (err) {
        this.#log.error({ event: 'breaker_sync_listener_failed', err: (err as Error).message }, 'a breaker sync listener threw; ignored');
      }
    }
  }

  /** Resolves true once subscribed and able to publish, false if not within timeoutMs (start-up goes on either way). */
  async ready(timeoutMs = 2000): Promise<boolean> {
    if (this.#isReady()) return true;
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.#subscribedWaiters.delete(wake);
        resolve(ok);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#subscribedWaiters.add(wake);
    });
  }

  async publish(message: string): Promise<void> {
    await this.#pub.publish(this.#channel, message);
  }

  onMessage(listener: (message: string) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await Promise.all(
      [this.#pub, this.#sub].map(async (conn) => {
        try {
          await conn.quit();
        } catch {
          conn.disconnect();
        }
      }),
    );
  }
}
