/**
 * DTMF both ways. Toward the callee: Twilio gets in-band tone pairs through the call's egress (the
 * simulated callee hears them and decodes them with a Goertzel detector), Telnyx gets send_dtmf
 * through the SDK (the fake's network hands the digits to the callee). From the caller: `dtmf` events
 * on the media stream reach the provider as text (or not, when configured off) and the call record.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { CallManager } from '../../src/calls/call-manager.js';
import { buildApp } from '../../src/http/app.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createVadService } from '../../src/pipeline/vad/vad-service.js';
import { simulateCall } from '../../src/simulator/caller.js';
import { answerOutboundCall } from '../../src/simulator/outbound.js';
import type { CallRecord } from '../../src/store/call-record.js';
import { startOutboundRig, TWILIO_AUTH_TOKEN, type OutboundRig } from '../carriers/outbound-rig.js';
import { ScriptedProvider } from '../fakes/scripted-provider.js';
import { freePort } from '../support/gateway.js';

const SILENCE = new Int16Array(8000 * 2);
const silenceMulaw = () => new Uint8Array(8000 * 2).fill(0xff);

let rig: OutboundRig;
beforeAll(async () => {
  rig = await startOutboundRig();
});
afterAll(async () => {
  await rig?.close();
});

async function liveOutboundCall(transport: 'twilio' | 'telnyx') {
  const callee = answerOutboundCall({
    networkUrl: transport === 'twilio' ? rig.twilio.baseUrl : rig.telnyx.baseUrl,
    pcm: SILENCE,
    twilioAuthToken: TWILIO_AUTH_TOKEN,
    tailMs: 60_000,
    maxDurationMs: 60_000,
  });
  const placed = await rig.api('POST', '/api/v1/calls', { transport, to: '+15551239876', from: '+15557650002' });
  expect(placed.status, JSON.stringify(placed.body)).toBe(201);
  const callId: string = placed.body.callId;
  await rig.waitFor(callId, (r) => r.state === 'live' && r.framesIn > 5);
  return { callId, carrierCallId: placed.body.carrierCallId as string, callee };
}

const outDigits = (r: CallRecord) => r.dtmf.filter((d) => d.direction === 'out').map((d) => d.digit).join('');

describe('DTMF toward the callee', () => {
  it('Twilio: plays the digits in band, and the callee decodes exactly them, once each', { timeout: 60_000 }, async () => {
    const { callId, callee } = await liveOutboundCall('twilio');
    const sent = await rig.api('POST', `/api/v1/calls/${callId}/dtmf`, { digits: '159#*0D' });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body).toEqual({ callId, digits: '159#*0D', via: 'inband', durationMs: 100 });
    // 7 digits x (100 ms tone + 80 ms gap), paced in real time; then some slack for the lead.
    await new Promise((r) => setTimeout(r, 1800));
    expect((await rig.api('POST', `/api/v1/calls/${callId}/hangup`)).status).toBe(200);
    const heard = await callee;
    expect(heard.dtmfHeard.map((d) => d.digit).join('')).toBe('159#*0D');
    // Every gap is long enough that no digit is heard twice, and no Twilio DTMF REST call was made.
    expect(rig.twilio.requests.filter((r) => r.callSid === heard.dial.carrierCallId).map((r) => r.form.Status)).toEqual(['completed']);
    expect(outDigits(await rig.record(callId))).toBe('159#*0D');
  });

  it('Telnyx: sends send_dtmf through the SDK, and the network delivers the digits', { timeout: 60_000 }, async () => {
    const { callId, carrierCallId, callee } = await liveOutboundCall('telnyx');
    const sent = await rig.api('POST', `/api/v1/calls/${callId}/dtmf`, { digits: '73*w1', durationMs: 250 });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body.via).toBe('carrier');
    const req = rig.telnyx.requests.find((r) => r.op === 'send_dtmf' && r.callControlId === carrierCallId)!;
    expect(req.body).toMatchObject({ digits: '73*w1', duration_millis: 250 });
    expect(req.body.command_id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await rig.api('POST', `/api/v1/calls/${callId}/hangup`)).status).toBe(200);
    const heard = await callee;
    expect(heard.carrierEvents.filter((e) => e.type === 'dtmf')).toEqual([expect.objectContaining({ type: 'dtmf', digits: '73*w1' })]);
    // Nothing in band on a Telnyx call: the carrier plays the digits.
    expect(heard.dtmfHeard).toEqual([]);
    expect(outDigits(await rig.record(callId))).toBe('73*1');
  });

  it('refuses bad digits and durations with a 400 that names them, and a call that is over with 409', { timeout: 60_000 }, async () => {
    const { callId, callee } = await liveOutboundCall('twilio');
    const bad = await rig.api('POST', `/api/v1/calls/${callId}/dtmf`, { digits: '12x' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('GW_ERR_CALL_BAD_DIGITS');
    expect(bad.body.error.message).toContain('12x');
    const missing = await rig.api('POST', `/api/v1/calls/${callId}/dtmf`, {});
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toContain('digits');
    const slow = await rig.api('POST', `/api/v1/calls/${callId}/dtmf`, { digits: '1', durationMs: 5000 });
    expect(slow.status).toBe(400);
    expect(slow.body.error.message).toContain('durationMs');
    await rig.api('POST', `/api/v1/calls/${callId}/hangup`);
    await callee;
    const late = await rig.api('POST', `/api/v1/calls/${callId}/dtmf`, { digits: '1' });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('GW_ERR_CALL_NOT_LIVE');
    expect(late.body.error.message).toContain(callId);
  });
});

describe('DTMF from the caller', () => {
  /** A Telnyx call of silence with these key presses; what it sent, and the keys its record has. */
  async function callPressing(dtmf: { atMs: number; digit: string }[]) {
    const result = await simulateCall({
      transport: 'telnyx',
      baseUrl: rig.gw.baseUrl,
      audio: silenceMulaw(),
      codec: 'mulaw',
      telnyxSecretKey: rig.telnyxKeys.secretKey,
      dtmf,
      tailMs: 300,
    });
    const list = await rig.api('GET', '/api/v1/calls?state=ended&limit=20');
    const rec = (list.body.calls as CallRecord[]).find((c) => c.carrierCallId === result.carrierCallId)!;
    return { result, rec, inbound: rec.dtmf.filter((d) => d.direction === 'in') };
  }

  it('lands in the call record with its media time', { timeout: 30_000 }, async () => {
    const { result, rec, inbound } = await callPressing([{ atMs: 300, digit: '4' }, { atMs: 700, digit: '#' }]);
    expect(result.dtmfSent.map((d) => d.digit)).toEqual(['4', '#']);
    expect(rec.direction).toBe('inbound');
    expect(inbound.map((d) => d.digit)).toEqual(['4', '#']);
    expect(inbound[0].atMs).toBeGreaterThanOrEqual(200);
    expect(inbound[1].atMs).toBeGreaterThan(inbound[0].atMs);
  });

  it('keeps a key press at its place in the stream when the caller falls behind the clock', { timeout: 30_000 }, async () => {
    // The event loop stalls 250 ms just after the call starts: the caller's clock runs ahead of the
    // frames it has sent, and the digit due at 300 ms of media must still follow the 15th frame.
    const stall = setTimeout(() => {
      const until = performance.now() + 250;
      while (performance.now() < until) {
        /* busy: a loaded machine */
      }
    }, 60);
    const { result, inbound } = await callPressing([{ atMs: 300, digit: '7' }]);
    clearTimeout(stall);
    expect(result.dtmfSent).toEqual([{ digit: '7', atMs: 300 }]);
    expect(inbound.map((d) => d.digit)).toEqual(['7']);
    // The gateway's media time: the 15 frames before it (a frame of slack for how it counts).
    expect(inbound[0].atMs).toBeGreaterThanOrEqual(280);
    expect(inbound[0].atMs).toBeLessThanOrEqual(320);
  });

  describe('reaching the provider as text', () => {
    let close: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await close?.();
      close = undefined;
    });

    async function gatewayWith(provider: ScriptedProvider, dtmfToProvider: boolean) {
      const port = await freePort();
      const baseUrl = `http://127.0.0.1:${String(port)}`;
      const config = loadConfig({ PORT: String(port), PUBLIC_URL: baseUrl, VAD_ENGINE: 'energy', CALL_RECORD_PATH: ':memory:' });
      const logger = createLogger({ level: 'silent' });
      const metrics = createMetrics();
      const vad = createVadService({ engine: 'energy', metrics, logger });
      const calls = new CallManager({ providers: [provider], vad, metrics, logger, media: config.media, dtmfToProvider });
      const app = await buildApp({ config, logger, metrics, calls });
      await app.listen({ port, host: '127.0.0.1' });
      close = async () => {
        await calls.drain(0);
        await app.close();
        await vad.close();
      };
      return baseUrl;
    }

    it.each([
      [true, ['The caller pressed 7 on the keypad.', 'The caller pressed * on the keypad.']],
      [false, []],
    ])('dtmfToProvider=%s', { timeout: 30_000 }, async (on, texts) => {
      const provider = new ScriptedProvider('scripted');
      const baseUrl = await gatewayWith(provider, on);
      await simulateCall({ transport: 'twilio', baseUrl, audio: silenceMulaw(), codec: 'mulaw', dtmf: [{ atMs: 300, digit: '7' }, { atMs: 600, digit: '*' }], tailMs: 300 });
      expect(provider.sessions).toHaveLength(1);
      expect(provider.sessions[0].texts).toEqual(texts);
    });
  });
});
