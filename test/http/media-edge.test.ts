/**
 * The media routes' edge: CIDR allowlists gate webhooks, never media sockets (Twilio's media
 * WebSockets come from any public address); a 404 under the media path logs no token; a rejected
 * second `start` changes nothing (issue 12 item 4, issue 19 items 7 and 8).
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { twilioMessages } from '../../src/carriers/twilio/network-messages.js';
import { telnyxMessages } from '../../src/carriers/telnyx/network-messages.js';
import { metricValue, startTestGateway, type TestGateway } from '../support/gateway.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_q, r) => reject(new Error(`HTTP ${String(r.statusCode)}`)));
  });
}

describe('media edge', () => {
  it('an allowlist that excludes the caller refuses its webhooks but not its media socket', async () => {
    gw = await startTestGateway({ VAD_ENGINE: 'energy', TWILIO_ALLOWED_CIDRS: '203.0.113.0/24', TELNYX_ALLOWED_CIDRS: '203.0.113.0/24' });
    const hook = await fetch(`${gw.baseUrl}/twilio/voice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'CallSid=CA1' });
    expect(hook.status).toBe(403);
    const ws = await open(`${gw.baseUrl.replace('http', 'ws')}/twilio/media`);
    ws.close();
    // Telnyx media is refused for its (missing) token, not for the address.
    await expect(open(`${gw.baseUrl.replace('http', 'ws')}/telnyx/media/nope`)).rejects.toThrow('HTTP 403');
    expect(await metricValue(gw.gateway, 'voice_gateway_webhook_rejected_total', { route: 'telnyx_media', reason: 'bad_token' })).toBe(1);
    expect(await metricValue(gw.gateway, 'voice_gateway_webhook_rejected_total', { route: 'telnyx_media', reason: 'ip_not_allowed' })).toBe(0);
  });

  it('logs no token from a URL that matches no route', async () => {
    gw = await startTestGateway({ VAD_ENGINE: 'energy' });
    await fetch(`${gw.baseUrl}/telnyx/media/SECRETTOKEN123/extra?token=SECRET2`);
    expect(gw.rawLogs.join('\n')).not.toMatch(/SECRETTOKEN123|SECRET2/);
  });

  it('a second start is refused and changes nothing: the call keeps its id and its stream', async () => {
    gw = await startTestGateway({ VAD_ENGINE: 'energy' });
    const res = await fetch(`${gw.baseUrl}/twilio/voice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'CallSid=CA2&From=%2B1&To=%2B2' });
    const token = /name="token" value="([^"]+)"/.exec(await res.text())![1];
    const ws = await open(`${gw.baseUrl.replace('http', 'ws')}/twilio/media`);
    const msgs = twilioMessages('MZfirst');
    ws.send(msgs.connected());
    ws.send(msgs.start({ carrierCallId: 'CA2', streamId: '', codec: 'mulaw', customParameters: { token } }));
    const other = twilioMessages('MZ","event":"clear');
    ws.send(other.start({ carrierCallId: 'CA3', streamId: '', codec: 'mulaw', customParameters: { token } }));
    for (let i = 1; i <= 3; i++) ws.send(msgs.media(Buffer.alloc(160, 0xff).toString('base64'), i * 20, i));
    const start = Date.now();
    while (gw.gateway.calls.size === 0 && Date.now() - start < 3000) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    expect(gw.gateway.calls.list().map((c) => c.carrierCallId)).toEqual(['CA2']);
    expect(await metricValue(gw.gateway, 'voice_gateway_media_rejected_total', { transport: 'twilio', reason: 'GW_ERR_TRANSPORT_OUT_OF_ORDER' })).toBe(1);
    expect(gw.gateway.calls.list()[0].snapshot().framesIn).toBe(3);
    ws.close();
  });

  it('a TeXML stream token is bound to its CallSid (the call_control_id start carries) and to one socket', async () => {
    gw = await startTestGateway({ VAD_ENGINE: 'energy' });
    const texml = async (callSid: string) => {
      const res = await fetch(`${gw!.baseUrl}/telnyx/texml`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `CallSid=${encodeURIComponent(callSid)}&From=%2B1&To=%2B2` });
      return /<Stream url="([^"]+)"/.exec(await res.text())![1];
    };
    const url = await texml('v3:texml-A');
    expect(url).toMatch(/\/telnyx\/media\/[A-Za-z0-9_-]{20,}$/);
    const ws = await open(url);
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    const msgs = telnyxMessages('S1');
    ws.send(msgs.connected());
    ws.send(msgs.start({ carrierCallId: 'v3:texml-B', streamId: '', codec: 'mulaw', customParameters: {} }));
    expect(await closed).toBe(1008);
    expect(gw.gateway.calls.size).toBe(0);
    // The right call with a fresh token is taken.
    const ok = await open(await texml('v3:texml-C'));
    ok.send(msgs.connected());
    ok.send(msgs.start({ carrierCallId: 'v3:texml-C', streamId: '', codec: 'mulaw', customParameters: {} }));
    const start = Date.now();
    while (gw.gateway.calls.size === 0 && Date.now() - start < 3000) await new Promise((r) => setTimeout(r, 20));
    expect(gw.gateway.calls.list().map((c) => c.carrierCallId)).toEqual(['v3:texml-C']);
    ok.close();
  });
});
