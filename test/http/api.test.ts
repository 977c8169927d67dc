/** /api/v1: bearer tokens with rotation, loopback-only demo mode, and the manual switch route. */
import { afterEach, describe, expect, it } from 'vitest';
import { injectGateway, type InjectGateway } from '../support/app.js';
import { metricValue } from '../support/gateway.js';

let current: InjectGateway | undefined;
afterEach(async () => {
  await current?.gateway.close(0);
  current = undefined;
});

describe('API authentication', () => {
  it('accepts any configured token (rotation) and refuses missing or unknown ones with 401', async () => {
    current = await injectGateway({ API_TOKENS: 'old-key,new-key' });
    const app = current.gateway.app;
    for (const key of ['old-key', 'new-key']) {
      expect((await app.inject({ method: 'GET', url: '/api/v1/calls', headers: { authorization: `Bearer ${key}` } })).statusCode).toBe(200);
    }
    const missing = await app.inject({ method: 'GET', url: '/api/v1/calls' });
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error.code).toBe('GW_ERR_HTTP_UNAUTHORIZED');
    expect((await app.inject({ method: 'GET', url: '/api/v1/calls', headers: { authorization: 'Bearer nope' } })).statusCode).toBe(401);
    expect(current.rawLogs.join('\n')).not.toContain('new-key');
  });

  it('is open to loopback clients only when no tokens are configured', async () => {
    current = await injectGateway({});
    const app = current.gateway.app;
    expect((await app.inject({ method: 'GET', url: '/api/v1/calls', remoteAddress: '127.0.0.1' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/v1/calls', remoteAddress: '::1' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/v1/calls', remoteAddress: '203.0.113.9' })).statusCode).toBe(401);
  });
});

describe('manual switch route', () => {
  it('answers 404 for an unknown call, 400 for a bad body or unknown provider', async () => {
    current = await injectGateway({ PROVIDERS: 'echo' });
    const app = current.gateway.app;
    const unknown = await app.inject({ method: 'POST', url: '/api/v1/calls/nope/provider', payload: { provider: 'echo' } });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.message).toContain('nope');
  });
});

describe('X-Forwarded-For spoofing against the loopback-only API (issue 19, item 2)', () => {
  const get = (g: InjectGateway, remoteAddress: string, xff?: string) =>
    g.gateway.app.inject({ method: 'GET', url: '/api/v1/calls', remoteAddress, headers: xff ? { 'x-forwarded-for': xff } : {} });

  it.each(['true', '1', '203.0.113.0/24'])('a remote client claiming 127.0.0.1 cannot open the loopback-only API (TRUST_PROXY=%s)', async (trust) => {
    current = await injectGateway({ TRUST_PROXY: trust });
    expect((await get(current, '203.0.113.9', '127.0.0.1')).statusCode).toBe(401);
    expect((await get(current, '203.0.113.9', '127.0.0.1, 127.0.0.1')).statusCode).toBe(401);
    expect((await get(current, '203.0.113.9', '::1')).statusCode).toBe(401);
  });

  it('a loopback proxy forwarding a remote client does not open the API either', async () => {
    current = await injectGateway({ TRUST_PROXY: 'true' });
    expect((await get(current, '127.0.0.1', '203.0.113.9')).statusCode).toBe(401);
    // The demo on this host still works, direct or through a local proxy for a local client.
    expect((await get(current, '127.0.0.1')).statusCode).toBe(200);
    expect((await get(current, '127.0.0.1', '127.0.0.1')).statusCode).toBe(200);
  });
});

describe('call listing query against prototype keys and unknown names (issue 19, item 9)', () => {
  it.each([
    'state=__proto__',
    'state=constructor',
    'state=toString',
    'state=hasOwnProperty',
    '__proto__=live',
    'constructor[prototype]=x',
    'state=live&state=ended',
    'limit=1e3',
    'sort=desc',
    `cursor=${'A'.repeat(401)}`,
  ])('GET /api/v1/calls?%s answers 400, counted, never 500', async (query) => {
    current = await injectGateway({ API_TOKENS: 'k' });
    const res = await current.gateway.app.inject({ method: 'GET', url: `/api/v1/calls?${query}`, headers: { authorization: 'Bearer k' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('GW_ERR_HTTP_BAD_REQUEST');
    expect(await metricValue(current.gateway, 'voice_gateway_http_rejected_total', { route: '/api/v1/calls', code: 'GW_ERR_HTTP_BAD_REQUEST' })).toBe(1);
    // The prototype is untouched and the listing still works.
    expect(({} as Record<string, unknown>).live).toBeUndefined();
    expect((await current.gateway.app.inject({ method: 'GET', url: '/api/v1/calls?state=live&limit=5', headers: { authorization: 'Bearer k' } })).statusCode).toBe(200);
  });
});
