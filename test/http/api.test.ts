/** /api/v1: bearer tokens with rotation, loopback-only demo mode, and the manual switch route. */
import { afterEach, describe, expect, it } from 'vitest';
import { injectGateway, type InjectGateway } from '../support/app.js';

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
