/**
 * One-time stream grants shared through a real redis-server (REDIS_URL): two StreamTokens, each with
 * its own Redis client, stand for two gateway nodes. Minted on one, spent once on the other, refused
 * on reuse anywhere; of two nodes spending one token at once exactly one wins; with Redis stopped a
 * stream is refused (counted and logged), never accepted unverified.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StreamTokens } from '../../src/http/security/stream-tokens.js';
import { freePort } from '../../src/util/net.js';
import { RedisGrantStore } from '../../src/http/security/redis-grant-store.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { REDIS_SERVER, requireTool } from '../support/requirements.js';
import { startRedis, type RunningService } from '../support/services.js';

const redisServer = requireTool(REDIS_SERVER);

describe.skipIf(!redisServer.path)('stream grants shared through Redis', () => {
  let redis: RunningService;
  const stores: RedisGrantStore[] = [];
  beforeAll(async () => {
    redis = await startRedis(redisServer.path!);
  });
  afterAll(async () => {
    await redis.stop();
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  async function node(opts: { now?: () => number; ttlMs?: number } = {}) {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
    const metrics = createMetrics();
    const store = new RedisGrantStore({ url: redis.url, logger, errors: metrics.streamGrantStoreErrorsTotal, commandTimeoutMs: 500 });
    stores.push(store);
    await store.ready();
    return { tokens: new StreamTokens({ ttlMs: opts.ttlMs ?? 60_000, now: opts.now, shared: store, logger }), metrics, lines, store };
  }

  it('minted on node A, accepted once on node B for its call and route, refused on reuse on either', async () => {
    const a = await node();
    const b = await node();
    expect(a.tokens.shared).toBe(true);
    const t = a.tokens.issue('CA1', { transport: 'twilio', leg: 'stream_verb' });
    await a.tokens.issued(t);
    expect(await b.tokens.isLive(t)).toBe(true);
    expect(await b.tokens.redeem(t, 'CA1', 'twilio')).toEqual({ transport: 'twilio', leg: 'stream_verb' });
    expect(await b.tokens.redeem(t, 'CA1', 'twilio')).toBeUndefined();
    expect(await a.tokens.redeem(t, 'CA1', 'twilio')).toBeUndefined();
    expect(await a.tokens.isLive(t)).toBe(false);
    // Wrong call or wrong route: refused, and spent too (a guessed pairing gets no second try).
    const u = a.tokens.issue('CA2', { transport: 'telnyx' });
    await a.tokens.issued(u);
    expect(await b.tokens.claim(u, 'twilio')).toEqual({ ok: false, reason: 'wrong_transport' });
    expect(await a.tokens.claim(u, 'telnyx')).toEqual({ ok: false, reason: 'unknown' });
    const v = a.tokens.issue('CA3', { transport: 'twilio' });
    await a.tokens.issued(v);
    expect(await b.tokens.redeem(v, 'CA-other', 'twilio')).toBeUndefined();
    expect(await b.tokens.redeem(v, 'CA3', 'twilio')).toBeUndefined();
    expect(await b.tokens.claim(undefined, 'twilio')).toEqual({ ok: false, reason: 'missing' });
  });

  it('of many nodes presenting one token at the same moment, exactly one gets it (GETDEL is atomic)', async () => {
    const nodes = await Promise.all([node(), node(), node(), node()]);
    for (let round = 0; round < 20; round++) {
      const t = nodes[0].tokens.issue('CA', { transport: 'twilio' });
      await nodes[0].tokens.issued(t);
      const results = await Promise.all(nodes.map((n) => n.tokens.claim(t, 'twilio')));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
    }
  });

  it('an expired grant reads as expired on any node (so a Telnyx leg can be hung up), not as unknown', async () => {
    let now = 1_000_000;
    const a = await node({ now: () => now, ttlMs: 1000 });
    const b = await node({ now: () => now, ttlMs: 1000 });
    const t = a.tokens.issue('v3:x', { transport: 'telnyx', leg: 'call_control' });
    await a.tokens.issued(t);
    now += 1001;
    expect(await b.tokens.isLive(t)).toBe(false);
    expect(await b.tokens.claim(t, 'telnyx')).toMatchObject({ ok: false, reason: 'expired', carrierCallId: 'v3:x', info: { leg: 'call_control' } });
  });

  it('withdrawing a grant (consume without a stream, as call control does) deletes it for every node', async () => {
    const a = await node();
    const b = await node();
    const t = a.tokens.issue(undefined, { callId: 'ours', transport: 'twilio' });
    await a.tokens.issued(t);
    expect(a.tokens.consume(t)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 50));
    expect(await b.tokens.redeem(t, 'CA9', 'twilio')).toBeUndefined();
  });

  it('Redis stopped: minting fails (no token handed out), a presented token is refused, counted and logged', async () => {
    const own = await startRedis(redisServer.path!);
    const mk = async () => {
      const lines: string[] = [];
      const logger = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
      const metrics = createMetrics();
      const store = new RedisGrantStore({ url: own.url, logger, errors: metrics.streamGrantStoreErrorsTotal, commandTimeoutMs: 300 });
      stores.push(store);
      await store.ready();
      return { tokens: new StreamTokens({ ttlMs: 60_000, shared: store, logger }), metrics, lines };
    };
    const a = await mk();
    const b = await mk();
    const t = a.tokens.issue('CA1', { transport: 'twilio' });
    await a.tokens.issued(t);
    // A grant already taken (a call in progress) is the holder's: Redis going away cannot take it back.
    const held = await b.tokens.claim(t, 'twilio');
    expect(held.ok).toBe(true);
    await own.stop();
    await new Promise((r) => setTimeout(r, 100));
    const u = a.tokens.issue('CA2', { transport: 'twilio' });
    // Asked after the failed write has settled: still reported.
    await new Promise((r) => setTimeout(r, 20));
    await expect(a.tokens.issued(u)).rejects.toMatchObject({ code: 'GW_ERR_GRANTS_UNAVAILABLE' });
    expect(await b.tokens.redeem(u, 'CA2', 'twilio')).toBeUndefined();
    expect(await b.tokens.claim('any', 'twilio')).toEqual({ ok: false, reason: 'unavailable' });
    expect(await b.tokens.isLive('any')).toBe(false);
    const takes = (await b.metrics.streamGrantStoreErrorsTotal.get()).values.find((v) => v.labels.op === 'take');
    expect(takes?.value).toBeGreaterThanOrEqual(2);
    expect(b.lines.some((l) => l.includes('"stream_grants_redis_failed"'))).toBe(true);
    expect((await a.metrics.streamGrantStoreErrorsTotal.get()).values.find((v) => v.labels.op === 'put')?.value).toBe(1);
    expect(held).toMatchObject({ ok: true, carrierCallId: 'CA1' });
  });

  it('a Redis that is not there at start: ready() fails with GW_ERR_GRANTS_UNAVAILABLE (the gateway does not start)', async () => {
    const metrics = createMetrics();
    const store = new RedisGrantStore({ url: `redis://127.0.0.1:${String(await freePort())}`, logger: createLogger({ level: 'silent' }), errors: metrics.streamGrantStoreErrorsTotal });
    stores.push(store);
    await expect(store.ready(300)).rejects.toMatchObject({ code: 'GW_ERR_GRANTS_UNAVAILABLE' });
  });
});
