/**
 * Media through a WebRTC session, with a werift peer in the browser's place: Opus RTP in real time
 * (with one packet reordered and one lost on the way), the echo provider's reply back as Opus RTP,
 * marks echoed after playout, and a peer that vanishes without hanging up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { WebRtcEndpoint } from '../../src/transports/webrtc/endpoint.js';
import { IceServerIssuer } from '../../src/transports/webrtc/ice-servers.js';
import { OpusDecoder, OpusEncoder } from '../../src/transports/webrtc/opus.js';
import type { SessionStats } from '../../src/transports/webrtc/session.js';
import { Resampler } from '../../src/pipeline/resample/resampler.js';
import { readFixtureWav } from '../support/fixtures.js';
import { injectGateway, type InjectGateway } from '../support/app.js';
import { maxNormalisedCorrelation } from '../support/signal.js';
import { createPeer, type TestPeer } from './peer.js';

const N = 960;

/** Silence, a spoken clip, silence: one caller turn, at 48 kHz in 20 ms frames. */
function utterance(): { pcm: Int16Array; frames: Int16Array[]; speechStart: number } {
  const wav = readFixtureWav('speech/cards-003.wav');
  const rs = new Resampler({ from: wav.sampleRate, to: 48000 });
  const speech = rs.process(wav.samples);
  const lead = 25 * N;
  const total = Math.ceil((lead + speech.length + 75 * N) / N) * N;
  const pcm = new Int16Array(total);
  pcm.set(speech, lead);
  const frames: Int16Array[] = [];
  for (let i = 0; i < total; i += N) frames.push(pcm.subarray(i, i + N));
  return { pcm, frames, speechStart: lead };
}

/** Send frame i at start + 20 ms * i, like a capture device does; `order` lets packets swap or vanish. */
async function sendPaced(peer: TestPeer, packets: Uint8Array[], order: number[]): Promise<void> {
  const seq0 = 4000;
  const ts0 = 123_456;
  const start = performance.now();
  for (let k = 0; k < order.length; k++) {
    const wait = start + k * 20 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const i = order[k];
    peer.send({ sequenceNumber: (seq0 + i) & 0xffff, timestamp: ts0 + i * N, marker: i === 0 }, packets[i]);
  }
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('WebRTC session media', () => {
  let gw: InjectGateway;
  let app: FastifyInstance;
  beforeAll(async () => {
    gw = await injectGateway({});
    app = gw.gateway.app;
  });
  afterAll(async () => {
    await gw.gateway.close();
  });

  it('decodes caller audio in order despite reordering and loss, and plays the echo back once', { timeout: 30_000 }, async () => {
    const peer = await createPeer();
    try {
      const token = ((await app.inject({ method: 'POST', url: '/api/v1/sessions', payload: {} })).json() as { token: string }).token;
      const res = await app.inject({ method: 'POST', url: '/webrtc/offer', payload: { sdp: peer.offer(), type: 'offer', token } });
      expect(res.statusCode, res.body).toBe(200);
      const { sdp, sessionId, callId } = res.json() as { sdp: string; sessionId: string; callId: string };
      await peer.answer(sdp);
      await peer.connected();

      const { pcm, frames, speechStart } = utterance();
      // Browsers let libopus choose SILK/hybrid; so do we here.
      const enc = new OpusEncoder({ mode: 'auto', maxBandwidth: 'fullband', complexity: 5, vbr: 'constrained', bitrate: 32000 });
      const packets = frames.map((f) => enc.encode(f));
      // Packets 40 and 41 swap places on the way; packet 60 never arrives.
      const order = packets.map((_, i) => i).filter((i) => i !== 60);
      order.splice(order.indexOf(40), 2, 41, 40);
      await sendPaced(peer, packets, order);

      const stats = async () => {
        const list = (await app.inject({ method: 'GET', url: '/api/v1/webrtc/sessions' })).json<{ sessions: SessionStats[] }>();
        return list.sessions.find((s) => s.sessionId === sessionId)!;
      };
      // Every 20 ms of the caller's timeline reaches the call, the lost one concealed.
      const session = await until('the last packet', async () => {
        const st = await stats();
        return st.framesToCall >= frames.length && st;
      }, 2000);
      expect(session.jitter).toMatchObject({ reordered: 1, lost: 1, concealedSamples: N, late: 0 });
      expect(session.framesToCall).toBe(frames.length);
      expect(gw.gateway.calls.get(callId)!.snapshot().framesIn).toBe(frames.length);

      // The reply: one talkspurt (one marker bit), the caller's words back. Egress marks the end of the
      // reply, and the mark is heard once its audio has had time to play: by then every packet is here
      // (a fixed wait after the first packets fell short when a loaded machine paced late).
      await until('the reply', () => peer.received.length > 40 && peer.received.at(-1)!.header.timestamp, 8000);
      const after = await until('the end-of-reply mark', async () => {
        const s = await stats();
        return s.marksHeard > 0 && s;
      }, 8000);
      await new Promise((r) => setTimeout(r, 100));
      const reply = [...peer.received].sort((a, b) => a.header.sequenceNumber - b.header.sequenceNumber);
      // One reply: it starts a talkspurt, and a marker anywhere else sits on a real pause (the RTP
      // timestamp moved on by more than a frame: an event loop stalled on a loaded machine), never on
      // a second playing of the same words. Twice the words would be twice the packets.
      expect(reply[0].header.marker).toBe(true);
      reply.forEach((p, i) => {
        if (i > 0 && p.header.marker) expect(((p.header.timestamp - reply[i - 1].header.timestamp) >>> 0), `marker at ${String(i)} without a pause`).toBeGreaterThan(N);
      });
      expect(reply.length).toBeLessThanOrEqual(Math.ceil((pcm.length - 100 * N) / N) + 30);
      const dec = new OpusDecoder();
      const heard = new Int16Array(reply.length * N);
      reply.forEach((p, i) => heard.set(dec.decode(p.payload), i * N));
      const reference = pcm.subarray(Math.max(0, speechStart - 12_000), speechStart + (heard.length * 3) / 2);
      const probe = heard.subarray(0, Math.min(heard.length, 48_000));
      const { ncc } = maxNormalisedCorrelation(probe, reference, Math.max(0, reference.length - probe.length));
      expect(ncc).toBeGreaterThanOrEqual(0.8);

      expect(after.marksHeard).toBe(1);
      expect(after.rtpOut).toBe(reply.length);

      expect((await app.inject({ method: 'DELETE', url: `/webrtc/sessions/${sessionId}` })).statusCode).toBe(200);
      expect(gw.gateway.calls.get(callId)).toBeUndefined();
    } finally {
      await peer.close();
    }
  });

  it('ends the session and its call when the peer vanishes without hanging up', { timeout: 30_000 }, async () => {
    const endpoint = new WebRtcEndpoint({
      calls: gw.gateway.calls,
      logger: gw.gateway.logger,
      metrics: gw.gateway.metrics,
      timeouts: { mediaIdleMs: 1500, disconnectedMs: 1500 },
    });
    const peer = await createPeer();
    try {
      const answer = await endpoint.open({ sdp: peer.offer(), clientIp: '127.0.0.1', correlationId: 'vanish' });
      await peer.answer(answer.sdp);
      await peer.connected();
      const enc = new OpusEncoder();
      await sendPaced(peer, Array.from({ length: 10 }, () => enc.encode(new Int16Array(N))), [...Array(10).keys()]);
      expect(endpoint.get(answer.sessionId)?.state).toBe('connected');
      await peer.close(); // a closed tab: no DELETE, no more RTP
      await until('the session to end', () => endpoint.size === 0, 10_000);
      expect(gw.gateway.calls.get(answer.callId)).toBeUndefined();
      const closed = gw.logs.find((l) => l.event === 'webrtc_closed' && l.sessionId === answer.sessionId);
      expect(['media_timeout', 'peer_disconnected', 'peer_failed', 'peer_closed']).toContain(closed?.reason);
    } finally {
      await peer.close();
      await endpoint.close();
    }
  });

  it('a shutdown during ICE gathering stops the negotiation at once and leaves nothing behind', { timeout: 20_000 }, async () => {
    // An unreachable STUN server keeps werift gathering for ~5 s.
    const endpoint = new WebRtcEndpoint({
      calls: gw.gateway.calls,
      logger: gw.gateway.logger,
      metrics: gw.gateway.metrics,
      ice: new IceServerIssuer({ urls: ['stun:127.0.0.1:9'], credentialTtlS: 600 }),
      timeouts: { gatherMs: 20_000 },
    });
    const peer = await createPeer();
    const sdp = peer.offer();
    await peer.close();
    const callsBefore = gw.gateway.calls.size;
    const udp = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
    await until('earlier tests\' sockets to close', () => udp() === 0, 10_000);
    const udpBefore = udp();
    const opening = endpoint.open({ sdp, clientIp: '127.0.0.1', correlationId: 'shutdown' });
    const failed = expect(opening).rejects.toMatchObject({ code: 'GW_ERR_TRANSPORT_NEGOTIATION_FAILED' });
    await new Promise((r) => setTimeout(r, 200));
    expect(endpoint.size).toBe(1);
    expect(udp()).toBeGreaterThan(udpBefore);
    const t0 = performance.now();
    await endpoint.close();
    await failed;
    // werift's own close waits out the STUN transaction; ours does not wait past its 1 s bound.
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(endpoint.size).toBe(0);
    expect(gw.gateway.calls.size).toBe(callsBefore);
    // werift finishes closing in the background and the sockets go.
    await until('the sockets to close', () => udp() === udpBefore, 10_000);
    await expect(endpoint.open({ sdp, clientIp: '127.0.0.1', correlationId: 'late' })).rejects.toMatchObject({ code: 'GW_ERR_HTTP_NOT_READY' });
  });
});
