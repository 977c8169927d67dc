/**
 * Trickle ICE over HTTP: an offer sent before its candidates (trickle: true) is answered at once; the
 * candidates follow to POST /webrtc/sessions/:id/candidates and the call connects. A non-trickle
 * client's candidate-less offer is still refused with words that say what to do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { metricValue } from '../support/gateway.js';
import { injectGateway, type InjectGateway } from '../support/app.js';
import { createPeer } from './peer.js';

// Host candidates only (werift would wait seconds on a STUN server nobody runs); the ICE-servers
// route gets its own gateway below.
let gw: InjectGateway;
let app: FastifyInstance;
beforeAll(async () => {
  gw = await injectGateway({});
  app = gw.gateway.app;
});
afterAll(async () => gw.gateway.close());

async function token(): Promise<{ token: string; iceServers: unknown[] }> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/sessions', payload: {} });
  expect(res.statusCode).toBe(201);
  return res.json() as { token: string; iceServers: unknown[] };
}

function split(sdp: string): { bare: string; candidates: string[] } {
  const lines = sdp.split('\r\n');
  return {
    bare: lines.filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates').join('\r\n'),
    candidates: lines.filter((l) => l.startsWith('a=candidate:')).map((l) => l.slice(2)),
  };
}

describe('trickle ICE', () => {
  it('gives the page its ICE servers with the session token, and again for a live token', async () => {
    const withStun = await injectGateway({ ICE_SERVERS: 'stun:127.0.0.1:3478' });
    const app = withStun.gateway.app;
    const t = (await app.inject({ method: 'POST', url: '/api/v1/sessions', payload: {} })).json() as { token: string; iceServers: unknown };
    expect(t.iceServers).toEqual([{ urls: ['stun:127.0.0.1:3478'] }]);
    const again = await app.inject({ method: 'POST', url: '/webrtc/ice-servers', payload: { token: t.token } });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ iceServers: [{ urls: ['stun:127.0.0.1:3478'] }] });
    expect((await app.inject({ method: 'POST', url: '/webrtc/ice-servers', payload: { token: 'x'.repeat(32) } })).statusCode).toBe(403);
    await withStun.gateway.close();
  });

  it('answers an offer without candidates, takes them trickled, and connects', { timeout: 20_000 }, async () => {
    const peer = await createPeer();
    try {
      const { bare, candidates } = split(peer.offer());
      expect(candidates.length).toBeGreaterThan(0);
      const refused = await app.inject({ method: 'POST', url: '/webrtc/offer', payload: { sdp: bare, type: 'offer', token: (await token()).token } });
      expect(refused.statusCode).toBe(400);
      expect((refused.json() as { error: { message: string } }).error.message).toContain('"trickle": true');

      const res = await app.inject({ method: 'POST', url: '/webrtc/offer', payload: { sdp: bare, type: 'offer', token: (await token()).token, trickle: true } });
      expect(res.statusCode, res.body).toBe(200);
      const answer = res.json() as { sdp: string; sessionId: string; trickle: boolean };
      expect(answer.trickle).toBe(true);
      await peer.answer(answer.sdp);
      const url = `/webrtc/sessions/${answer.sessionId}/candidates`;
      // An mDNS host candidate, as a browser sends before it may show its addresses: left out (werift
      // would wait 10 s resolving it, holding back the candidates after it), not counted, not refused.
      const mdns = 'candidate:3 1 udp 2122260223 3f8a1c2e-5b6d-4e7f-9a0b-1c2d3e4f5a6b.local 54321 typ host generation 0';
      expect((await app.inject({ method: 'POST', url, payload: { candidates: [{ candidate: mdns, sdpMid: '0', sdpMLineIndex: 0 }] } })).statusCode).toBe(204);
      for (const candidate of candidates) {
        const r = await app.inject({ method: 'POST', url, payload: { candidates: [{ candidate, sdpMid: '0', sdpMLineIndex: 0 }] } });
        expect(r.statusCode, r.body).toBe(204);
      }
      expect((await app.inject({ method: 'POST', url, payload: { candidates: [], done: true } })).statusCode).toBe(204);
      await peer.connected();
      const listed = (await app.inject({ method: 'GET', url: '/api/v1/webrtc/sessions' })).json() as { sessions: { sessionId: string; remoteCandidates: number }[] };
      expect(listed.sessions.find((s) => s.sessionId === answer.sessionId)?.remoteCandidates).toBe(candidates.length);

      // Bad bodies: 400 and a metric; an unknown session: 404.
      const before = await metricValue(gw.gateway, 'voice_gateway_media_rejected_total', { transport: 'webrtc', reason: 'GW_ERR_HTTP_BAD_REQUEST' });
      expect((await app.inject({ method: 'POST', url, payload: { candidates: [{ candidate: 'nonsense' }] } })).statusCode).toBe(400);
      expect(await metricValue(gw.gateway, 'voice_gateway_media_rejected_total', { transport: 'webrtc', reason: 'GW_ERR_HTTP_BAD_REQUEST' })).toBe(before + 1);
      expect((await app.inject({ method: 'POST', url: '/webrtc/sessions/nope/candidates', payload: { candidates: [] } })).statusCode).toBe(404);
      await app.inject({ method: 'DELETE', url: `/webrtc/sessions/${answer.sessionId}` });
    } finally {
      await peer.close();
    }
  });
});
