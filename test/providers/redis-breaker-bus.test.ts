/**
 * The breaker sync's Redis channel against a real redis-server: two buses hear each other; with Redis
 * stopped a publish fails at once (no offline queue) and the errors are counted; when Redis is back on
 * the same port the subscriber subscribes again by itself.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { RedisBreakerBus } from '../../src/providers/redis-breaker-bus.js';
import { REDIS_SERVER, requireTool } from '../support/requirements.js';
import { startRedis, type RunningService } from '../support/services.js';

const redisServer = requireTool(REDIS_SERVER);

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((x) => x.close()));
});

describe.skipIf(!redisServer.path)('RedisBreakerBus', () => {
  it('delivers between buses; Redis stopped: publish fails fast, counted; Redis back: subscribed again', { timeout: 30_000 }, async () => {
    let redis: RunningService = await startRedis(redisServer.path!);
    open.push({ close: () => redis.stop() });
    const metrics = createMetrics();
    const channel = 'vg:breakers:test';
    const a = new RedisBreakerBus({ url: redis.url, logger: silentLogger(), errors: metrics.breakerSyncErrorsTotal, channel });
    const b = new RedisBreakerBus({ url: redis.url, logger: silentLogger(), errors: metrics.breakerSyncErrorsTotal, channel });
    open.push(a, b);
    expect(await a.ready(10_000)).toBe(true);
    expect(await b.ready(10_000)).toBe(true);
    const heard: string[] = [];
    b.onMessage((m) => heard.push(m));
    await a.publish('one');
    await until(() => heard.includes('one'), 'b to hear one');

    await redis.stop();
    await until(async () => (await metrics.breakerSyncErrorsTotal.get()).values.some((v) => v.labels.op === 'connection' && v.value > 0), 'a connection error to be counted');
    const t0 = Date.now();
    await expect(a.publish('lost')).rejects.toThrow();
    // No offline queue: the publish is refused now, not held until Redis returns.
    expect(Date.now() - t0).toBeLessThan(1000);

    redis = await startRedis(redisServer.path!, redis.port);
    await until(async () => {
      try {
        await a.publish('two');
      } catch {
        return false;
      }
      return heard.includes('two');
    }, 'b to hear two after Redis came back');
    expect(heard).not.toContain('lost');
  });
});
