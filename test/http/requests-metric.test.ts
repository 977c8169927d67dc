/** voice_gateway_http_requests_total counts by route pattern, never the raw URL (bounded labels). */
import { afterAll, describe, expect, it } from 'vitest';
import { injectGateway, type InjectGateway } from '../support/app.js';
import { metricValue } from '../support/gateway.js';

let gw: InjectGateway | undefined;
afterAll(async () => gw?.gateway.close(0));

describe('HTTP requests metric', () => {
  it('labels by route pattern, method and status; unknown paths are "unmatched"', async () => {
    gw = await injectGateway({});
    const { app } = gw.gateway;
    await app.inject({ method: 'GET', url: '/health' });
    await app.inject({ method: 'GET', url: '/webrtc/sessions/abc' });
    await app.inject({ method: 'GET', url: '/webrtc/sessions/def' });
    await app.inject({ method: 'GET', url: '/no/such/path?x=1' });
    const g = gw.gateway;
    expect(await metricValue(g, 'voice_gateway_http_requests_total', { route: '/health', method: 'GET', status: '200' })).toBe(1);
    expect(await metricValue(g, 'voice_gateway_http_requests_total', { route: '/webrtc/sessions/:sessionId', status: '404' })).toBe(2);
    expect(await metricValue(g, 'voice_gateway_http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    const text = await g.metrics.registry.metrics();
    expect(text).not.toContain('/no/such/path');
  });
});
