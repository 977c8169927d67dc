/**
 * Shared breakers (issue 17): two gateways on one real Redis. Node A's OpenAI key is refused (a hard
 * failure opens A's breaker at once); node B's key is good. Within 1 s B reports its OpenAI breaker
 * open on /metrics, and a new call on B goes to the next provider (echo) without B ever trying
 * OpenAI. Before that, a call on B goes to OpenAI: B's own OpenAI works, the breaker is A's verdict.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callWebhook } from '../../src/simulator/webhook.js';
import { twilioMessages } from '../../src/carriers/twilio/network-messages.js';
import { OpenAIRealtimeFake } from '../fakes/openai-realtime-fake.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';
import { REDIS_SERVER, requireTool } from '../support/requirements.js';
import { startRedis, type RunningService } from '../support/services.js';

const redisServer = requireTool(REDIS_SERVER);

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** voice_gateway_circuit_breaker_state{provider} as GET /metrics shows it (2 = open). */
async function breakerState(gw: TestGateway, provider: string): Promise<number | undefined> {
  const text = await (await fetch(`${gw.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`voice_gateway_circuit_breaker_state{provider="${provider}"}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/** A Twilio call on `gw`: webhook, media socket, start. Returns the socket (the caller closes it). */
async function call(gw: TestGateway, sid: string): Promise<WebSocket> {
  const target = await callWebhook({ transport: 'twilio', baseUrl: gw.baseUrl, carrierCallId: sid, from: '+1', to: '+2' });
  const ws = new WebSocket(gw.baseUrl.replace('http', 'ws') + new URL(target.url).pathname);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const msgs = twilioMessages(`MZ${sid}`);
  ws.send(msgs.connected());
  ws.send(msgs.start({ carrierCallId: sid, streamId: '', codec: 'mulaw', customParameters: target.parameters }));
  return ws;
}

async function hangUp(ws: WebSocket, sid: string): Promise<void> {
  const gone = new Promise((r) => ws.once('close', r));
  ws.send(JSON.stringify({ event: 'stop', streamSid: `MZ${sid}`, stop: { callSid: sid } }));
  ws.close();
  await gone;
}

describe.skipIf(!redisServer.path)('two gateways sharing circuit breakers through Redis', () => {
  let redis: RunningService;
  let openai: OpenAIRealtimeFake;
  let a: TestGateway;
  let b: TestGateway;
  beforeAll(async () => {
    [redis, openai] = await Promise.all([startRedis(redisServer.path!), OpenAIRealtimeFake.start()]);
    const env = {
      VAD_ENGINE: 'energy',
      REDIS_URL: redis.url,
      PROVIDERS: 'openai,echo',
      OPENAI_BASE_URL: openai.baseUrl,
      OPENAI_CA_FILE: openai.caFile,
      BREAKER_RESET_TIMEOUT_MS: '60000',
    };
    [a, b] = await Promise.all([startTestGateway({ ...env, OPENAI_API_KEY: 'sk-wrong' }), startTestGateway({ ...env, OPENAI_API_KEY: openai.apiKey })]);
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await Promise.allSettled([redis?.stop(), openai?.close()]);
  });

  it('a breaker opened on A is open on B within 1 s, and a new call on B goes to the next provider', { timeout: 30_000 }, async () => {
    // B's OpenAI works: its first call goes there.
    const first = await call(b, 'CAfirst');
    await until(async () => (await metricValue(b.gateway, 'voice_gateway_provider_requests_total', { provider: 'openai', op: 'connect', status: 'ok' })) === 1, 'the first call on B to connect to openai');
    expect(openai.connections).toHaveLength(1);
    await hangUp(first, 'CAfirst');
    await until(() => b.gateway.calls.size === 0, 'the first call on B to end');

    // A's key is refused: A's breaker opens, A's call goes to echo.
    const onA = await call(a, 'CAonA');
    await until(() => a.gateway.calls.list().some((c) => c.provider === 'echo'), 'the call on A to fail over to echo');
    expect(await breakerState(a, 'openai')).toBe(2);
    const openedAt = Date.now();

    // B sees it open within 1 s (polled on its public /metrics).
    await until(async () => (await breakerState(b, 'openai')) === 2, "B's openai breaker to open", 1000);
    expect(Date.now() - openedAt).toBeLessThanOrEqual(1000);
    expect(await metricValue(b.gateway, 'voice_gateway_breaker_remote_changes_total', { provider: 'openai', state: 'open' })).toBe(1);
    // A did not apply its own message.
    expect(await metricValue(a.gateway, 'voice_gateway_breaker_remote_changes_total')).toBe(0);

    // A new call on B goes to echo; B never tried OpenAI for it (refused by the breaker, not the fake).
    const second = await call(b, 'CAsecond');
    await until(() => b.gateway.calls.list().some((c) => c.carrierCallId === 'CAsecond' && c.provider === 'echo'), 'the second call on B to go to echo');
    expect(openai.connections).toHaveLength(1);
    expect(await metricValue(b.gateway, 'voice_gateway_provider_requests_total', { provider: 'openai', op: 'connect', status: 'rejected' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(b.gateway, 'voice_gateway_breaker_sync_errors_total')).toBe(0);
    await Promise.all([hangUp(second, 'CAsecond'), hangUp(onA, 'CAonA')]);
  });
});
