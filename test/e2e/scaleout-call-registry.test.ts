/**
 * The call registry across two gateway nodes sharing only Redis (no shared call log, so A can only
 * know B's calls through the registry): node A in this process, node B a real `voice-gateway serve`
 * process. A call held on B is listed by A (with `node`); hangup, DTMF and provider-switch requests sent
 * to A act on B's call (forwarded over B's internal route with CLUSTER_SECRET). With B killed, A
 * answers 502 naming B, and once B's entries expire (CALL_REGISTRY_TTL_MS) A no longer lists the call.
 * With Redis stopped, a call in progress on A goes on and A lists its own calls; failures are counted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callWebhook } from '../../src/simulator/webhook.js';
import { twilioMessages } from '../../src/carriers/twilio/network-messages.js';
import { freePort, metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';
import { REDIS_SERVER, requireTool } from '../support/requirements.js';
import { GeminiLiveFake } from '../fakes/gemini-live-fake.js';
import { startRedis, type RunningService } from '../support/services.js';
import { until } from '../support/until.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const redisServer = requireTool(REDIS_SERVER);
const SECRET = 'registry-test-cluster-secret-0123';
const payload = Buffer.alloc(160, 0xff).toString('base64');

/** Node B: `voice-gateway serve` in its own process, so it can be killed outright. */
async function startNodeB(env: Record<string, string>): Promise<{ child: ChildProcess; baseUrl: string; exited: Promise<void> }> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${String(port)}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'serve'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: baseUrl, CALL_RECORD_PATH: ':memory:', WORKER_POOL_SIZE: '1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await until(() => {
    if (child.exitCode !== null) throw new Error(`node B exited: ${out}`);
    return out.includes('"event":"listening"');
  }, 'node B to listen', 30_000);
  return { child, baseUrl, exited };
}

async function streamCallOn(baseUrl: string, carrierCallId: string): Promise<WebSocket> {
  const target = await callWebhook({ transport: 'twilio', baseUrl, carrierCallId, from: '+15550001111', to: '+15550002222' });
  const ws = new WebSocket(baseUrl.replace('http', 'ws') + new URL(target.url).pathname);
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  const msgs = twilioMessages(`MZ${carrierCallId}`);
  ws.send(msgs.connected());
  ws.send(msgs.start({ carrierCallId, streamId: '', codec: 'mulaw', customParameters: target.parameters }));
  for (let i = 0; i < 5; i++) ws.send(msgs.media(payload, i * 20, i + 1));
  return ws;
}

interface Listed { callId: string; carrierCallId: string | null; node?: string; state: string; provider?: string }
async function listOn(gw: TestGateway): Promise<Listed[]> {
  const res = await fetch(`${gw.baseUrl}/api/v1/calls?state=live`);
  return ((await res.json()) as { calls: Listed[] }).calls;
}
const post = (gw: TestGateway, path: string, body: unknown = {}) =>
  fetch(`${gw.baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe.skipIf(!redisServer.path)('call registry: two gateway nodes sharing Redis', () => {
  let redis: RunningService;
  let a: TestGateway;
  let b: Awaited<ReturnType<typeof startNodeB>>;
  let gemini: GeminiLiveFake;
  beforeAll(async () => {
    [redis, gemini] = await Promise.all([startRedis(redisServer.path!), GeminiLiveFake.start({ replyDelayMs: 50, chunkMs: 40 })]);
    const shared = { VAD_ENGINE: 'energy', REDIS_URL: redis.url, CLUSTER_SECRET: SECRET, CALL_REGISTRY_TTL_MS: '1500' };
    [a, b] = await Promise.all([startTestGateway({ ...shared, NODE_ID: 'node-a' }), startNodeB({ ...shared, NODE_ID: 'node-b', PROVIDERS: 'echo,gemini', GEMINI_API_KEY: gemini.apiKey, GEMINI_BASE_URL: gemini.baseUrl })]);
  }, 60_000);
  afterAll(async () => {
    if (b?.child.exitCode === null) b.child.kill('SIGKILL');
    await a?.close();
    await redis?.stop();
    await gemini?.close();
  });

  it('lists B\'s call on A; hangup, dtmf and provider switch sent to A act on B; B killed: 502 naming B, then the entry expires', { timeout: 40_000 }, async () => {
    const ws = await streamCallOn(b.baseUrl, 'CAregistry1');
    let listed: Listed | undefined;
    await until(async () => (listed = (await listOn(a)).find((c) => c.carrierCallId === 'CAregistry1')) !== undefined, 'A to list the call on B');
    expect(listed).toMatchObject({ node: 'node-b', state: 'live' });
    expect(a.gateway.calls.list()).toHaveLength(0);
    const callId = listed!.callId;
    // A's own one-call view says where it lives too.
    expect(((await (await fetch(`${a.baseUrl}/api/v1/calls/${callId}`)).json()) as Listed).node).toBe('node-b');

    // DTMF through A: B plays the tones in band on its Twilio call.
    const dtmf = await post(a, `/api/v1/calls/${callId}/dtmf`, { digits: '42#' });
    expect(dtmf.status).toBe(200);
    expect(await dtmf.json()).toMatchObject({ callId, digits: '42#', via: 'inband' });
    expect(dtmf.headers.get('x-voice-gateway-node')).toBe('node-b');

    // Provider switch through A: B's own switch route answers, refusals included.
    const same = await post(a, `/api/v1/calls/${callId}/provider`, { provider: 'echo' });
    expect(same.status).toBe(409);
    expect(((await same.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'GW_ERR_CALL_SWITCH_CONFLICT', message: expect.stringContaining("already on 'echo'") });
    const unknown = await post(a, `/api/v1/calls/${callId}/provider`, { provider: 'openai' });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('GW_ERR_PROVIDER_UNKNOWN');
    const moved = await post(a, `/api/v1/calls/${callId}/provider`, { provider: 'gemini' });
    expect(moved.status).toBe(200);
    expect(await moved.json()).toMatchObject({ callId, provider: 'gemini', switch: { result: 'ok' } });
    await until(async () => (await listOn(a)).find((c) => c.callId === callId)?.provider === 'gemini', "A's listing to show B's call on gemini (next heartbeat)");

    // Hangup through A ends B's call: its media socket closes and A no longer lists it.
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    const hung = await post(a, `/api/v1/calls/${callId}/hangup`);
    expect(hung.status).toBe(200);
    expect(await hung.json()).toMatchObject({ callId, state: 'ended' });
    await closed;
    await until(async () => !(await listOn(a)).some((c) => c.callId === callId), 'the hung-up call to leave the listing');
    expect(await metricValue(a.gateway, 'voice_gateway_api_forwarded_total', { action: 'hangup', outcome: 'ok' })).toBe(1);
    expect(await metricValue(a.gateway, 'voice_gateway_api_forwarded_total', { action: 'dtmf', outcome: 'ok' })).toBe(1);

    // A second call on B, then B is killed (no clean shutdown: its entry stays until the TTL).
    const ws2 = await streamCallOn(b.baseUrl, 'CAregistry2');
    let second: Listed | undefined;
    await until(async () => (second = (await listOn(a)).find((c) => c.carrierCallId === 'CAregistry2')) !== undefined, 'A to list the second call');
    ws2.on('error', () => undefined);
    b.child.kill('SIGKILL');
    await b.exited;
    const gone = await post(a, `/api/v1/calls/${second!.callId}/hangup`);
    expect(gone.status).toBe(502);
    const err = ((await gone.json()) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('GW_ERR_CLUSTER_NODE_UNREACHABLE');
    expect(err.message).toContain("node 'node-b'");
    expect(await metricValue(a.gateway, 'voice_gateway_api_forwarded_total', { action: 'hangup', outcome: 'unreachable' })).toBe(1);
    await until(async () => !(await listOn(a)).some((c) => c.callId === second!.callId), "B's entry to expire", 5000);
    // Expired: the call is unknown now (404), not an unreachable node.
    expect((await post(a, `/api/v1/calls/${second!.callId}/hangup`)).status).toBe(404);

    // Redis goes away: a call in progress on A goes on, A still lists its own calls, registry errors are counted.
    const ws3 = await streamCallOn(a.baseUrl, 'CAregistry3');
    await until(() => a.gateway.calls.list().length === 1, 'the call on A');
    await redis.stop();
    await until(async () => (await metricValue(a.gateway, 'voice_gateway_call_registry_errors_total')) >= 1, 'a counted registry failure');
    const mine = await listOn(a);
    expect(mine.map((c) => [c.carrierCallId, c.node])).toEqual([['CAregistry3', 'node-a']]);
    const msgs = twilioMessages('MZCAregistry3');
    for (let i = 5; i < 10; i++) ws3.send(msgs.media(payload, i * 20, i + 1));
    await new Promise((r) => setTimeout(r, 200));
    expect(ws3.readyState).toBe(WebSocket.OPEN);
    expect(a.gateway.calls.list()).toHaveLength(1);
    const ended = new Promise<void>((r) => ws3.once('close', () => r()));
    expect((await post(a, `/api/v1/calls/${a.gateway.calls.list()[0].id}/hangup`)).status).toBe(200);
    await ended;
  });
});
