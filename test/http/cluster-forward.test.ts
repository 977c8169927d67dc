/**
 * Forwarding at its seams: a front node whose registry says another node holds the call, and a fake
 * owner (the real internal routes over a fake call control) on a port-0 server. The owner's answer is
 * relayed; a wrong or missing secret is 401 and counted; an owner that is gone is 502 naming the node.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { forwardToOwner } from '../../src/http/cluster-forward.js';
import { registerInternalRoutes } from '../../src/http/routes/internal.js';
import type { RouteContext } from '../../src/http/route-context.js';
import { isGatewayError } from '../../src/errors.js';

const SECRET = 'a-cluster-secret-of-32-characters';
const opened: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((a) => a.close()));
});

function errorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err, _req, reply) => {
    const status = isGatewayError(err) ? (err.statusCode ?? 500) : 500;
    void reply.code(status).send({ error: { code: isGatewayError(err) ? err.code : 'x', message: err instanceof Error ? err.message : '' } });
  });
}

/** The owner: the real internal routes; its call control records what it was asked. */
async function owner(secret: string | undefined) {
  const asked: unknown[][] = [];
  const metrics = createMetrics();
  const ctx = {
    config: loadConfig({ CLUSTER_SECRET: secret }),
    metrics,
    calls: {
      // One live call, 'c9', on echo: the real switch handler moves it to openai.
      get: (id: string) => (id === 'c9' ? { id, provider: 'echo', switching: false, switchProvider: async (why: string, to: string) => (asked.push(['provider', id, why, to]), { result: 'ok', from: 'echo', to }) } : undefined),
      providerFor: (name: string) => ({ name }),
    },
    callControl: {
      hangup: async (callId: string, reason: string) => (asked.push(['hangup', callId, reason]), { callId, state: 'ended', endReason: reason, via: 'media' }),
      sendDtmf: async (callId: string, digits: string) => (asked.push(['dtmf', callId, digits]), { callId, digits, via: 'inband', durationMs: 100 }),
    },
  } as unknown as RouteContext;
  const app = Fastify();
  errorHandler(app);
  registerInternalRoutes(app, ctx);
  opened.push(app);
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, asked, metrics };
}

/** The front node: its registry names `nodeUrl` as the owner of every call. */
async function front(nodeUrl: string, metrics: Metrics, secret = SECRET) {
  const ctx = {
    config: loadConfig({ CLUSTER_SECRET: secret }),
    metrics,
    calls: { get: () => undefined },
    registry: { remoteOwner: async (callId: string) => ({ callId, nodeId: 'node-b', nodeUrl, record: {} }) },
  } as unknown as RouteContext;
  const app = Fastify({ loggerInstance: createLogger({ level: 'silent' }) }) as unknown as FastifyInstance;
  errorHandler(app);
  app.post<{ Params: { callId: string; action: 'hangup' | 'dtmf' | 'provider' } }>('/api/v1/calls/:callId/:action', async (request, reply) =>
    (await forwardToOwner(ctx, reply, request.params.action, request.params.callId, request.body)) ?? reply.code(404).send({ local: true }));
  opened.push(app);
  return app;
}

const count = async (m: Metrics, name: 'apiForwardedTotal' | 'webhookRejectedTotal', labels: Record<string, string>) =>
  (await m[name].get()).values.filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k as never]) === x)).reduce((s, v) => s + v.value, 0);

describe('forwarding to the node holding a call', () => {
  it('relays hangup, dtmf and provider switch to the owner, which runs its own call control', async () => {
    const b = await owner(SECRET);
    const metrics = createMetrics();
    const a = await front(b.url, metrics);
    const hung = await a.inject({ method: 'POST', url: '/api/v1/calls/c1/hangup', payload: {} });
    expect(hung.statusCode).toBe(200);
    expect(hung.json()).toEqual({ callId: 'c1', state: 'ended', endReason: 'api_hangup', via: 'media' });
    expect(hung.headers['x-voice-gateway-node']).toBe('node-b');
    const dtmf = await a.inject({ method: 'POST', url: '/api/v1/calls/c1/dtmf', payload: { digits: '12#' } });
    expect(dtmf.statusCode).toBe(200);
    const moved = await a.inject({ method: 'POST', url: '/api/v1/calls/c9/provider', payload: { provider: 'openai' } });
    expect(moved.statusCode).toBe(200);
    expect(moved.json()).toMatchObject({ callId: 'c9', switch: { result: 'ok', to: 'openai' } });
    expect(b.asked).toEqual([['hangup', 'c1', 'api_hangup'], ['dtmf', 'c1', '12#'], ['provider', 'c9', 'manual', 'openai']]);
    // The owner's refusal is relayed as is (its validation ran, not ours).
    const bad = await a.inject({ method: 'POST', url: '/api/v1/calls/c1/dtmf', payload: { digits: 5 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('GW_ERR_CALL_BAD_DIGITS');
    expect(await count(metrics, 'apiForwardedTotal', { action: 'hangup', outcome: 'ok' })).toBe(1);
    expect(await count(metrics, 'apiForwardedTotal', { action: 'dtmf', outcome: 'error' })).toBe(1);
  });

  it('owner refuses a wrong or missing secret (401, counted) and a node with no secret refuses all', async () => {
    const b = await owner(SECRET);
    for (const [headers, reason] of [[{ 'x-cluster-secret': 'wrong-secret-wrong-secret' }, 'bad_secret'], [{}, 'missing_secret']] as const) {
      const res = await fetch(`${b.url}/internal/v1/calls/c1/hangup`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('GW_ERR_CLUSTER_UNAUTHORIZED');
      expect(await count(b.metrics, 'webhookRejectedTotal', { route: 'internal', reason })).toBe(1);
    }
    expect(b.asked).toEqual([]);
    // Forwarded with a different secret: the 401 comes back through the front node.
    const a = await front(b.url, createMetrics(), 'another-secret-of-enough-length');
    expect((await a.inject({ method: 'POST', url: '/api/v1/calls/c1/hangup' })).statusCode).toBe(401);
    const unset = await owner(undefined);
    const res = await fetch(`${unset.url}/internal/v1/calls/c1/hangup`, { method: 'POST', headers: { 'x-cluster-secret': SECRET } });
    expect(res.status).toBe(401);
    expect(unset.asked).toEqual([]);
  });

  it('answers 502 naming the node when the owner cannot be reached', async () => {
    const b = await owner(SECRET);
    await opened.pop()!.close(); // the owner is gone; its registry entry is not (yet)
    const metrics = createMetrics();
    const a = await front(b.url, metrics);
    const res = await a.inject({ method: 'POST', url: '/api/v1/calls/c1/hangup' });
    expect(res.statusCode).toBe(502);
    expect(res.json().error.code).toBe('GW_ERR_CLUSTER_NODE_UNREACHABLE');
    expect(res.json().error.message).toContain("node 'node-b'");
    expect(await count(metrics, 'apiForwardedTotal', { action: 'hangup', outcome: 'unreachable' })).toBe(1);
  });
});
