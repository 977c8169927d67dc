/**
 * Two gateway nodes sharing Redis (REDIS_URL) and PostgreSQL (DATABASE_URL), as behind a load
 * balancer: Twilio's webhook lands on node A, its media socket on node B. B accepts A's token once;
 * the token is refused on reuse on either node; the call B carries is listed by A's API. With Redis
 * stopped, a new stream is refused (counted), a webhook gets no token, and the call in progress goes on.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callWebhook } from '../../src/simulator/webhook.js';
import { twilioMessages } from '../../src/carriers/twilio/network-messages.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';
import { POSTGRES_INITDB, REDIS_SERVER, requireTool } from '../support/requirements.js';
import { startPostgres, startRedis, type RunningService } from '../support/services.js';
import { openSocket } from '../support/media-socket.js';
import { until } from '../support/until.js';

const redisServer = requireTool(REDIS_SERVER);
const initdb = requireTool(POSTGRES_INITDB);

const closed = (ws: WebSocket) => new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
const payload = Buffer.alloc(160, 0xff).toString('base64');
const wsBase = (gw: TestGateway) => gw.baseUrl.replace('http', 'ws');

describe.skipIf(!redisServer.path || !initdb.path)('two gateways sharing Redis and PostgreSQL', () => {
  let redis: RunningService;
  let postgres: RunningService;
  let a: TestGateway;
  let b: TestGateway;
  beforeAll(async () => {
    [redis, postgres] = await Promise.all([startRedis(redisServer.path!), startPostgres(initdb.path!)]);
    const env = { VAD_ENGINE: 'energy', REDIS_URL: redis.url, DATABASE_URL: postgres.url };
    [a, b] = await Promise.all([startTestGateway(env), startTestGateway(env)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await Promise.allSettled([redis?.stop(), postgres?.stop()]);
  });

  it('webhook on A, stream on B: accepted once, refused on reuse anywhere, listed by A; Redis stopped: refused, call goes on', { timeout: 30_000 }, async () => {
    const target = await callWebhook({ transport: 'twilio', baseUrl: a.baseUrl, carrierCallId: 'CAshared', from: '+1', to: '+2' });
    const streamPath = new URL(target.url).pathname;
    const msgs = twilioMessages('MZshared');
    const live = await openSocket(wsBase(b) + streamPath);
    live.send(msgs.connected());
    live.send(msgs.start({ carrierCallId: 'CAshared', streamId: '', codec: 'mulaw', customParameters: target.parameters }));
    for (let i = 0; i < 5; i++) live.send(msgs.media(payload, i * 20, i + 1));
    await until(() => b.gateway.calls.list().length === 1, 'the call on B', 5000);
    expect(a.gateway.calls.list()).toHaveLength(0);

    // The same token again, on B and on A: refused (1008).
    for (const gw of [b, a]) {
      const again = await openSocket(wsBase(gw) + streamPath);
      const gone = closed(again);
      again.send(twilioMessages('MZagain').start({ carrierCallId: 'CAshared', streamId: '', codec: 'mulaw', customParameters: target.parameters }));
      expect(await gone).toBe(1008);
    }

    // Node A's API lists the call node B carries (the shared call log).
    await until(async () => {
      const res = await fetch(`${a.baseUrl}/api/v1/calls?state=live`);
      const body = (await res.json()) as { calls: { carrierCallId: string }[] };
      return body.calls.some((c) => c.carrierCallId === 'CAshared');
    }, 'A to list the call on B', 5000);

    // Redis goes away: a webhook gets no token, a presented token is refused and counted; the live call goes on.
    await redis.stop();
    await expect(callWebhook({ transport: 'twilio', baseUrl: a.baseUrl, carrierCallId: 'CAlate', from: '+1', to: '+2' })).rejects.toThrow();
    const late = await openSocket(`${wsBase(b)}/twilio/media`);
    const lateGone = closed(late);
    late.send(twilioMessages('MZlate').start({ carrierCallId: 'CAlate', streamId: '', codec: 'mulaw', customParameters: { token: 'whatever' } }));
    expect(await lateGone).toBe(1008);
    expect(await metricValue(b.gateway, 'voice_gateway_stream_grant_store_errors_total', { op: 'take' })).toBeGreaterThanOrEqual(1);
    for (let i = 5; i < 10; i++) live.send(msgs.media(payload, i * 20, i + 1));
    await new Promise((r) => setTimeout(r, 200));
    expect(live.readyState).toBe(WebSocket.OPEN);
    expect(b.gateway.calls.list()).toHaveLength(1);
    const gone = closed(live);
    live.send(JSON.stringify({ event: 'stop', streamSid: 'MZshared', stop: { callSid: 'CAshared' } }));
    live.close();
    await gone;
  });
});
