/**
 * Attacks on connection slots: upgraded media sockets that never send `start`, many sockets from one
 * address, request bodies trickled a byte at a time, connections that say nothing. Each is cut by a
 * deadline or a cap, counted, and gives its file descriptor back; a real call is untouched.
 */
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { simulateCall } from '../../src/simulator/caller.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

const fds = () => readdirSync('/proc/self/fd').length;
const until = async (cond: () => boolean | Promise<boolean>, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!(await cond()) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
};

/** Open a media socket; resolves with the socket, or the HTTP status that refused it. */
function openMedia(base: string, headers: Record<string, string> = {}): Promise<WebSocket | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/twilio/media`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', () => resolve(-1));
  });
}

const closedCode = (ws: WebSocket) => new Promise<number>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve(-1) : ws.once('close', (code) => resolve(code))));

describe('attack: upgraded media sockets that never send start', () => {
  it('closes each at MEDIA_START_TIMEOUT_MS with 1008, counts it and gives the descriptors back', async () => {
    // The deadline is long enough that all 40 are open before the first is cut, even on a loaded CI box
    // (at 300 ms, 18 of 40 had already been closed when the gauge was read).
    gw = await startTestGateway({ VAD_ENGINE: 'energy', MEDIA_START_TIMEOUT_MS: '2000' });
    const before = fds();
    const sockets = (await Promise.all(Array.from({ length: 40 }, () => openMedia(gw!.baseUrl)))) as WebSocket[];
    expect(sockets.every((s) => typeof s === 'object')).toBe(true);
    // Some say `connected` and nothing else: still no call.
    for (const ws of sockets.slice(0, 10)) ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
    expect(await metricValue(gw.gateway, 'voice_gateway_media_sockets_active')).toBe(40);
    const codes = await Promise.all(sockets.map(closedCode));
    expect(codes.every((c) => c === 1008)).toBe(true);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_sockets_refused_total', { reason: 'start_timeout' })).toBe(40);
    await until(async () => (await metricValue(gw!.gateway, 'voice_gateway_media_sockets_active')) === 0);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_sockets_active')).toBe(0);
    await until(() => fds() <= before + 2);
    expect(fds()).toBeLessThanOrEqual(before + 2);
  });

  it('leaves a call that started alone', async () => {
    gw = await startTestGateway({ VAD_ENGINE: 'energy', MEDIA_START_TIMEOUT_MS: '200' });
    const audio = new Uint8Array(8000).fill(0xff); // 1 s: five times the deadline
    const result = await simulateCall({ transport: 'twilio', baseUrl: gw.baseUrl, audio, codec: 'mulaw', tailMs: 300 });
    const ended = gw.logs.find((l) => l.event === 'call_ended' && l.carrierCallId === result.carrierCallId);
    expect(ended).toMatchObject({ reason: expect.not.stringMatching(/start/) });
    expect(ended!.framesIn).toBe(result.framesSent);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_sockets_refused_total', { reason: 'start_timeout' })).toBe(0);
  });
});

describe('attack: many media sockets from one address', () => {
  it('refuses past the per-address and total caps with 429, counted, and closes the refused connection', async () => {
    // Behind a loopback proxy (TRUST_PROXY=true), X-Forwarded-For gives each client its own address.
    gw = await startTestGateway({ VAD_ENGINE: 'energy', TRUST_PROXY: 'true', MEDIA_MAX_SOCKETS_PER_ADDRESS: '5', MEDIA_MAX_SOCKETS: '8' });
    const from = (ip: string) => openMedia(gw!.baseUrl, { 'x-forwarded-for': ip });
    const a = await Promise.all(Array.from({ length: 7 }, () => from('198.51.100.1')));
    expect(a.filter((s) => typeof s === 'object')).toHaveLength(5);
    expect(a.filter((s) => s === 429)).toHaveLength(2);
    const b = await Promise.all(Array.from({ length: 4 }, () => from('198.51.100.2')));
    expect(b.filter((s) => typeof s === 'object')).toHaveLength(3);
    expect(b.filter((s) => s === 429)).toHaveLength(1);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_sockets_refused_total', { reason: 'per_address_cap' })).toBe(2);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_sockets_refused_total', { reason: 'total_cap' })).toBe(1);
    // Closing frees the slots.
    for (const ws of [...a, ...b]) if (typeof ws === 'object') ws.close();
    await until(async () => (await metricValue(gw!.gateway, 'voice_gateway_media_sockets_active')) === 0);
    expect(typeof (await from('198.51.100.1'))).toBe('object');
  });

  it('a refused upgrade does not keep its TCP connection', async () => {
    gw = await startTestGateway({ VAD_ENGINE: 'energy', MEDIA_MAX_SOCKETS: '1' });
    const first = await openMedia(gw.baseUrl);
    expect(typeof first).toBe('object');
    const socket = connect(Number(new URL(gw.baseUrl).port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('GET /twilio/media HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    let response = '';
    socket.on('data', (d: Buffer) => (response += d.toString()));
    await new Promise((r) => socket.once('close', r));
    expect(response).toMatch(/^HTTP\/1.1 429/);
    (first as WebSocket).close();
  });
});

describe('attack: slow requests and silent connections', () => {
  const raw = async (g: TestGateway): Promise<Socket> => {
    const s = connect(Number(new URL(g.baseUrl).port), '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    return s;
  };

  it('cuts a body trickled a byte at a time at HTTP_REQUEST_TIMEOUT_MS with 408, counted', async () => {
    gw = await startTestGateway({ VAD_ENGINE: 'energy', HTTP_REQUEST_TIMEOUT_MS: '400' });
    const s = await raw(gw);
    let response = '';
    s.on('data', (d: Buffer) => (response += d.toString()));
    const closed = new Promise((r) => s.once('close', r));
    s.write('POST /twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n');
    const trickle = setInterval(() => s.writable && s.write('a'), 100);
    await closed;
    clearInterval(trickle);
    expect(response).toMatch(/^HTTP\/1.1 408/);
    expect(await metricValue(gw.gateway, 'voice_gateway_http_timeouts_total', { kind: 'request' })).toBe(1);
  });

  it('closes a connection that sends nothing at HTTP_CONNECTION_TIMEOUT_MS, counted', async () => {
    gw = await startTestGateway({ VAD_ENGINE: 'energy', HTTP_CONNECTION_TIMEOUT_MS: '300' });
    const s = await raw(gw);
    await new Promise((r) => s.once('close', r));
    expect(await metricValue(gw.gateway, 'voice_gateway_http_timeouts_total', { kind: 'idle' })).toBeGreaterThanOrEqual(1);
  });

  it('refuses a body over HTTP_BODY_LIMIT_BYTES with 413, counted', async () => {
    gw = await startTestGateway({ VAD_ENGINE: 'energy', HTTP_BODY_LIMIT_BYTES: '2048' });
    const res = await fetch(`${gw.baseUrl}/twilio/voice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a='.padEnd(4096, 'b') });
    expect(res.status).toBe(413);
    expect(await metricValue(gw.gateway, 'voice_gateway_http_rejected_total', { code: 'FST_ERR_CTP_BODY_TOO_LARGE' })).toBe(1);
  });
});
