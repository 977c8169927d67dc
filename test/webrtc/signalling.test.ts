/**
 * WebRTC signalling over HTTP (inject, in process; werift does real ICE gathering): session tokens,
 * offers good and bad, per-client limits, hang-up, shutdown, and that 200 sessions opened and closed
 * leave no sockets, timers or memory behind.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { findStaticDir } from '../../src/http/routes/webrtc.js';
import { metricValue } from '../support/gateway.js';
import { injectGateway, type InjectGateway } from '../support/app.js';
import { createPeer } from './peer.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Answer {
  sdp: string;
  type: string;
  sessionId: string;
  callId: string;
  provider: string;
}
interface ErrorBody {
  error: { code: string; message: string };
}

let offerSdp = '';

beforeAll(async () => {
  // One real offer, reused: the answering side does not care that nobody will connect to it.
  const peer = await createPeer();
  offerSdp = peer.offer();
  await peer.close();
});

async function token(app: FastifyInstance, headers: Record<string, string> = {}): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/sessions', headers, payload: {} });
  expect(res.statusCode, res.body).toBe(201);
  return (res.json() as { token: string }).token;
}

async function offer(app: FastifyInstance, body: Record<string, unknown>, remoteAddress = '127.0.0.1') {
  return app.inject({ method: 'POST', url: '/webrtc/offer', payload: body, remoteAddress });
}

describe('browser session tokens', () => {
  let gw: InjectGateway;
  let clock = 1_000_000;
  beforeAll(async () => {
    gw = await injectGateway({}, () => clock);
  });
  afterAll(async () => {
    await gw.gateway.close();
  });

  it('demo mode: issues a one-time token to loopback callers, valid for 60 s', async () => {
    const res = await gw.gateway.app.inject({ method: 'POST', url: '/api/v1/sessions', payload: {} });
    expect(res.statusCode).toBe(201);
    const body = res.json() as { token: string; expiresAt: string };
    expect(body.token).toMatch(/^[\w-]{32}$/);
    expect(Date.parse(body.expiresAt)).toBe(clock + 60_000);
  });

  it('demo mode: refuses callers from the network', async () => {
    const res = await gw.gateway.app.inject({ method: 'POST', url: '/api/v1/sessions', payload: {}, remoteAddress: '203.0.113.9' });
    expect(res.statusCode).toBe(401);
  });

  it('refuses an offer with no token, a made-up one, a reused one and an expired one', async () => {
    const { app } = gw.gateway;
    const missing = await offer(app, { sdp: offerSdp, type: 'offer' });
    expect(missing.statusCode).toBe(403);
    expect((missing.json() as ErrorBody).error.code).toBe('GW_ERR_TRANSPORT_BAD_SESSION_TOKEN');
    expect((missing.json() as ErrorBody).error.message).toContain('POST /api/v1/sessions');
    expect((await offer(app, { sdp: offerSdp, type: 'offer', token: 'x'.repeat(32) })).statusCode).toBe(403);

    const once = await token(app);
    const first = await offer(app, { sdp: offerSdp, type: 'offer', token: once });
    expect(first.statusCode, first.body).toBe(200);
    expect((await offer(app, { sdp: offerSdp, type: 'offer', token: once })).statusCode).toBe(403);
    await app.inject({ method: 'DELETE', url: `/webrtc/sessions/${(first.json() as Answer).sessionId}` });

    const stale = await token(app);
    clock += 60_001;
    expect((await offer(app, { sdp: offerSdp, type: 'offer', token: stale })).statusCode).toBe(403);
    expect(await metricValue(gw.gateway, 'voice_gateway_webhook_rejected_total', { route: 'webrtc_offer' })).toBe(4);
  });

  it('checks the offer before spending its token: a malformed offer leaves the token for a good one', async () => {
    const { app } = gw.gateway;
    const once = await token(app);
    const bad = await offer(app, { sdp: 'v=0\r\nnot sdp', type: 'offer', token: once });
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as ErrorBody).error.code).toBe('GW_ERR_TRANSPORT_BAD_SDP');
    const good = await offer(app, { sdp: offerSdp, type: 'offer', token: once });
    expect(good.statusCode, good.body).toBe(200);
    await app.inject({ method: 'DELETE', url: `/webrtc/sessions/${(good.json() as Answer).sessionId}` });
  });

  it('with API_TOKENS set, wants the bearer token from anyone', async () => {
    const locked = await injectGateway({ API_TOKENS: 'sekret-1' });
    try {
      const { app } = locked.gateway;
      expect((await app.inject({ method: 'POST', url: '/api/v1/sessions', payload: {} })).statusCode).toBe(401);
      expect(await token(app, { authorization: 'Bearer sekret-1' })).toBeTruthy();
    } finally {
      await locked.gateway.close();
    }
  });
});

describe('POST /webrtc/offer', () => {
  let gw: InjectGateway;
  let app: FastifyInstance;
  beforeAll(async () => {
    gw = await injectGateway({});
    app = gw.gateway.app;
  });
  afterEach(async () => {
    for (const s of ((await app.inject({ method: 'GET', url: '/api/v1/webrtc/sessions' })).json() as { sessions: { sessionId: string }[] }).sessions) {
      await app.inject({ method: 'DELETE', url: `/webrtc/sessions/${s.sessionId}` });
    }
  });
  afterAll(async () => {
    await gw.gateway.close();
  });

  it('answers with gathered candidates, Opus, the session, the call and the provider', async () => {
    const res = await offer(app, { sdp: offerSdp, type: 'offer', token: await token(app) });
    expect(res.statusCode, res.body).toBe(200);
    const answer = res.json() as Answer;
    expect(answer).toMatchObject({ type: 'answer', provider: 'echo' });
    expect(answer.sdp).toMatch(/^a=candidate:.* typ host/m);
    expect(answer.sdp).toContain('a=end-of-candidates');
    expect(answer.sdp).toMatch(/^a=rtpmap:\d+ opus\/48000\/2/im);
    expect(answer.sdp).toMatch(/^a=sendrecv/m);
    expect(answer.sdp).toMatch(/^a=fmtp:\d+ minptime=10;maxplaybackrate=16000;sprop-maxcapturerate=16000$/m);
    expect(gw.gateway.calls.get(answer.callId)?.snapshot()).toMatchObject({ transport: 'webrtc', codec: 'pcm16', sampleRate: 48000 });
    const status = await app.inject({ method: 'GET', url: `/webrtc/sessions/${answer.sessionId}` });
    expect(status.json()).toMatchObject({ sessionId: answer.sessionId, state: 'answered', provider: 'echo' });

    const hangup = await app.inject({ method: 'DELETE', url: `/webrtc/sessions/${answer.sessionId}` });
    expect(hangup.statusCode).toBe(200);
    expect(gw.gateway.calls.get(answer.callId)).toBeUndefined();
    expect((await app.inject({ method: 'GET', url: `/webrtc/sessions/${answer.sessionId}` })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: `/webrtc/sessions/${answer.sessionId}` })).statusCode).toBe(404);
  });

  it.each([
    ['garbage', 'hello, I am not SDP', 'first line must be v=0'],
    ['not a string', 42, 'non-empty string'],
    ['huge', `v=0\r\n${'a=x\r\n'.repeat(10_000)}`, 'larger than'],
    ['junk lines', 'v=0\r\nthis is not sdp\r\n', "is not <letter>=<value>"],
    ['no media at all', 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n', 'no media section'],
    ['audio without Opus', () => offerSdp.replace(/opus\/48000\/2/gi, 'PCMU/8000'), 'does not offer Opus'],
    ['recvonly audio (no microphone)', () => offerSdp.replace('a=sendrecv', 'a=recvonly'), 'must send microphone audio'],
    ['no candidates (trickle)', () => offerSdp.replace(/^a=candidate:.*\r\n/gm, ''), 'wait for ICE gathering'],
    ['no DTLS fingerprint', () => offerSdp.replace(/^a=fingerprint:.*\r\n/gm, ''), 'no DTLS fingerprint'],
    ['no mid (werift refuses it)', () => offerSdp.replace(/^a=mid:0\r\n/m, ''), 'could not be applied'],
  ])('refuses %s with 400 GW_ERR_TRANSPORT_BAD_SDP and a reason', async (_name, sdp, reason) => {
    const before = gw.gateway.calls.size;
    const res = await offer(app, { sdp: typeof sdp === 'function' ? sdp() : sdp, type: 'offer', token: await token(app) });
    expect(res.statusCode).toBe(400);
    const body = res.json() as ErrorBody;
    expect(body.error.code).toBe('GW_ERR_TRANSPORT_BAD_SDP');
    expect(body.error.message).toContain(reason);
    expect(gw.gateway.calls.size).toBe(before);
    expect((await app.inject({ method: 'GET', url: '/api/v1/webrtc/sessions' })).json()).toEqual({ sessions: [] });
  });

  it('refuses an offer with video only, and one with audio and video', async () => {
    const video = await createPeer({ kind: 'video' });
    try {
      const res = await offer(app, { sdp: video.offer(), type: 'offer', token: await token(app) });
      expect(res.statusCode).toBe(400);
      expect((res.json() as ErrorBody).error.message).toContain('no audio section');
      const both = `${offerSdp}${video.offer().slice(video.offer().indexOf('m=video'))}`;
      const res2 = await offer(app, { sdp: both, type: 'offer', token: await token(app) });
      expect(res2.statusCode).toBe(400);
      expect((res2.json() as ErrorBody).error.message).toContain('exactly one audio track');
    } finally {
      await video.close();
    }
  });

  it('refuses a body that is not an offer', async () => {
    const res = await offer(app, { sdp: offerSdp, type: 'answer', token: await token(app) });
    expect(res.statusCode).toBe(400);
    expect((res.json() as ErrorBody).error.message).toContain('"offer"');
    const notJson = await app.inject({ method: 'POST', url: '/webrtc/offer', payload: '{"sdp":', headers: { 'content-type': 'application/json' } });
    expect(notJson.statusCode).toBe(400);
    expect((notJson.json() as ErrorBody).error.code).toBe('GW_ERR_HTTP_BAD_REQUEST');
  });

  it('limits sessions per client (4) with 429 and a clear message; other clients are not affected', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await offer(app, { sdp: offerSdp, type: 'offer', token: await token(app) });
      expect(res.statusCode, res.body).toBe(200);
      ids.push((res.json() as Answer).sessionId);
    }
    const fifth = await offer(app, { sdp: offerSdp, type: 'offer', token: await token(app) });
    expect(fifth.statusCode).toBe(429);
    expect((fifth.json() as ErrorBody).error).toMatchObject({ code: 'GW_ERR_TRANSPORT_TOO_MANY_SESSIONS' });
    expect((fifth.json() as ErrorBody).error.message).toContain('limit 4');
    expect(gw.gateway.calls.size).toBe(4);

    const elsewhere = await offer(app, { sdp: offerSdp, type: 'offer', token: await token(app) }, '198.51.100.7');
    expect(elsewhere.statusCode, elsewhere.body).toBe(200);

    await app.inject({ method: 'DELETE', url: `/webrtc/sessions/${ids[0]}` });
    const again = await offer(app, { sdp: offerSdp, type: 'offer', token: await token(app) });
    expect(again.statusCode).toBe(200);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_rejected_total', { transport: 'webrtc', reason: 'GW_ERR_TRANSPORT_TOO_MANY_SESSIONS' })).toBe(1);
  });

  it('serves the browser client with a strict content security policy', async () => {
    const page = await app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).toContain('role="status"');
    expect((await app.inject({ method: 'GET', url: '/app.js' })).headers['content-type']).toContain('javascript');
    expect((await app.inject({ method: 'GET', url: '/styles.css' })).headers['content-type']).toContain('text/css');
  });
});

describe('static client location', () => {
  it('finds the files next to the module, else the source copy seen from dist', () => {
    const root = mkdtempSync(join(tmpdir(), 'vg-static-'));
    try {
      const moduleUrl = pathToFileURL(join(root, 'dist', 'http', 'routes', 'webrtc.js')).href;
      expect(findStaticDir(moduleUrl)).toBeUndefined();
      mkdirSync(join(root, 'src', 'http', 'static'), { recursive: true });
      writeFileSync(join(root, 'src', 'http', 'static', 'index.html'), '<!doctype html>');
      expect(findStaticDir(moduleUrl)).toBe(join(root, 'src', 'http', 'static'));
      mkdirSync(join(root, 'dist', 'http', 'static'), { recursive: true });
      writeFileSync(join(root, 'dist', 'http', 'static', 'index.html'), '<!doctype html>');
      expect(findStaticDir(moduleUrl)).toBe(join(root, 'dist', 'http', 'static'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('WebRTC resources', () => {
  const udpSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  async function settle(probe: () => boolean): Promise<void> {
    for (let i = 0; i < 100 && !probe(); i++) await new Promise((r) => setTimeout(r, 50));
  }

  it('opening and closing 200 sessions leaves sockets, timers, sessions and memory at baseline', { timeout: 120_000 }, async () => {
    const gw = await injectGateway({});
    const { app } = gw.gateway;
    try {
      const cycle = async () => {
        const res = await offer(app, { sdp: offerSdp, type: 'offer', token: await token(app) });
        expect(res.statusCode, res.body).toBe(200);
        const del = await app.inject({ method: 'DELETE', url: `/webrtc/sessions/${(res.json() as Answer).sessionId}` });
        expect(del.statusCode).toBe(200);
      };
      // Warm up (werift's certificate, module state, JIT), then measure.
      for (let i = 0; i < 8; i++) await cycle();
      await settle(() => udpSockets() === 0);
      gc();
      const baseline = { udp: udpSockets(), timers: timers(), heap: process.memoryUsage().heapUsed };
      expect(baseline.udp).toBe(0);

      let peakUdp = 0;
      for (let batch = 0; batch < 50; batch++) {
        // Four at a time: the per-client limit.
        const opened = await Promise.all(
          Array.from({ length: 4 }, async () => {
            const res = await offer(app, { sdp: offerSdp, type: 'offer', token: await token(app) });
            expect(res.statusCode, res.body).toBe(200);
            return (res.json() as Answer).sessionId;
          }),
        );
        peakUdp = Math.max(peakUdp, udpSockets());
        await Promise.all(opened.map((id) => app.inject({ method: 'DELETE', url: `/webrtc/sessions/${id}` })));
      }
      expect(peakUdp, 'sessions really held sockets while open').toBeGreaterThanOrEqual(4);
      await settle(() => udpSockets() === baseline.udp && timers() <= baseline.timers);
      gc();
      const after = { udp: udpSockets(), timers: timers(), heap: process.memoryUsage().heapUsed };
      expect(after.udp).toBe(baseline.udp);
      expect(after.timers).toBeLessThanOrEqual(baseline.timers);
      expect(gw.gateway.calls.size).toBe(0);
      expect(await metricValue(gw.gateway, 'voice_gateway_webrtc_sessions_active')).toBe(0);
      expect((await app.inject({ method: 'GET', url: '/api/v1/webrtc/sessions' })).json()).toEqual({ sessions: [] });
      // Generous: 200 sessions with nothing retained would grow the heap by well under this.
      expect(after.heap - baseline.heap, `heap ${String(baseline.heap)} -> ${String(after.heap)}`).toBeLessThan(16 * 1024 * 1024);
    } finally {
      await gw.gateway.close();
    }
  });

  it('shutdown closes every session and its call', async () => {
    const gw = await injectGateway({});
    const { app } = gw.gateway;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await offer(app, { sdp: offerSdp, type: 'offer', token: await token(app) });
      ids.push((res.json() as Answer).callId);
    }
    expect(gw.gateway.calls.size).toBe(3);
    await gw.gateway.close();
    expect(gw.gateway.calls.size).toBe(0);
    await settle(() => udpSockets() === 0);
    expect(udpSockets()).toBe(0);
    expect(gw.logs.filter((l) => l.event === 'webrtc_closed')).toHaveLength(3);
  });
});
