import { createServer, type IncomingMessage, type Server } from 'node:http';
import nacl from 'tweetnacl';
import twilio from 'twilio';
import { afterEach, describe, expect, it } from 'vitest';
import { telnyxSign } from '../../src/carriers/telnyx/signature.js';
import { metricValue } from '../support/gateway.js';
import { injectGateway, type InjectGateway } from '../support/app.js';

const { getExpectedTwilioSignature, getExpectedBodyHash } = twilio as unknown as {
  getExpectedTwilioSignature(token: string, url: string, params: Record<string, string>): string;
  getExpectedBodyHash(body: string): string;
};

const PUBLIC = 'https://gw.example.com';
const form = (p: Record<string, string>) => new URLSearchParams(p).toString();
const CALL = { CallSid: 'CA0001', From: '+15550100', To: '+15550199', AccountSid: 'AC1' };

let current: InjectGateway | undefined;
afterEach(async () => {
  await current?.gateway.close(0);
  current = undefined;
});

async function gw(env: Record<string, string>, now?: () => number) {
  current = await injectGateway({ PUBLIC_URL: PUBLIC, ...env }, now);
  return current;
}

describe('Twilio voice webhook', () => {
  it('answers TwiML connecting the media stream with a one-time token parameter', async () => {
    const { gateway } = await gw({ TWILIO_AUTH_TOKEN: 'tok' });
    const res = await gateway.app.inject({
      method: 'POST',
      url: '/twilio/voice',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': getExpectedTwilioSignature('tok', `${PUBLIC}/twilio/voice`, CALL) },
      payload: form(CALL),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/xml');
    expect(res.body).toMatch(/<Connect><Stream url="wss:\/\/gw\.example\.com\/twilio\/media"><Parameter name="token" value="[A-Za-z0-9_-]{20,}"\/><\/Stream><\/Connect>/);
    expect(res.body).not.toContain('?'.concat('token')); // no query string in a Twilio stream URL
  });

  it.each([
    ['a wrong signature', (h: Record<string, string>) => ({ ...h, 'x-twilio-signature': getExpectedTwilioSignature('nope', `${PUBLIC}/twilio/voice`, CALL) }), 'mismatch'],
    ['no signature', (h: Record<string, string>) => ({ 'content-type': h['content-type'] }), 'missing'],
  ])('rejects %s with 403, a logged reason and a metric', async (_name, headers, reason) => {
    const { gateway, logs, rawLogs } = await gw({ TWILIO_AUTH_TOKEN: 'super-secret-token' });
    const base = { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': '' };
    const res = await gateway.app.inject({ method: 'POST', url: '/twilio/voice', headers: headers(base), payload: form(CALL) });
    expect(res.statusCode).toBe(403);
    expect(JSON.parse(res.body).error.code).toBe('GW_ERR_HTTP_BAD_SIGNATURE');
    expect(await metricValue(gateway, 'voice_gateway_webhook_rejected_total', { route: 'twilio_voice', reason })).toBe(1);
    expect(logs.some((l) => l.event === 'edge_rejected' && l.reason === reason)).toBe(true);
    expect(rawLogs.join('\n')).not.toContain('super-secret-token');
  });

  it('accepts the previous token during rotation, and not a third', async () => {
    const { gateway } = await gw({ TWILIO_AUTH_TOKEN: 'new', TWILIO_AUTH_TOKEN_PREVIOUS: 'old' });
    const send = (token: string) =>
      gateway.app.inject({
        method: 'POST',
        url: '/twilio/voice',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': getExpectedTwilioSignature(token, `${PUBLIC}/twilio/voice`, CALL) },
        payload: form(CALL),
      });
    expect((await send('new')).statusCode).toBe(200);
    expect((await send('old')).statusCode).toBe(200);
    expect((await send('older')).statusCode).toBe(403);
  });

  it('verifies webhooks a Webhook Rule signs with a SharedKey (HMAC-SHA256 named in X-Twilio-Webhooks-Signature-Settings)', async () => {
    // https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys; signed as twilio-node 6 signs them.
    const sha256 = (secret: string) => (twilio as unknown as { getExpectedTwilioSignature(s: string, u: string, p: Record<string, string>, a: string): string }).getExpectedTwilioSignature(secret, `${PUBLIC}/twilio/voice`, CALL, 'HMAC_SHA256');
    const send = (g: InjectGateway, signature: string, settings = 'key=KSxxxx,algorithm=HMAC_SHA256') =>
      g.gateway.app.inject({
        method: 'POST',
        url: '/twilio/voice',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature, 'x-twilio-webhooks-signature-settings': settings },
        payload: form(CALL),
      });
    const withKeys = await gw({ TWILIO_AUTH_TOKEN: 'tok', TWILIO_SHARED_KEY_SECRET: 'shared-new', TWILIO_SHARED_KEY_SECRET_PREVIOUS: 'shared-old' });
    expect((await send(withKeys, sha256('shared-new'))).statusCode).toBe(200);
    expect((await send(withKeys, sha256('shared-old'))).statusCode).toBe(200);
    // The auth token does not sign what a SharedKey signs, nor SHA-1 what the header says is SHA-256.
    expect((await send(withKeys, sha256('tok'))).statusCode).toBe(403);
    expect((await send(withKeys, getExpectedTwilioSignature('shared-new', `${PUBLIC}/twilio/voice`, CALL))).statusCode).toBe(403);
    expect((await send(withKeys, sha256('shared-new'), 'key=KSxxxx,algorithm=HMAC_MD5')).statusCode).toBe(403);
    expect(await metricValue(withKeys.gateway, 'voice_gateway_webhook_rejected_total', { route: 'twilio_voice', reason: 'algorithm' })).toBe(1);
    await withKeys.gateway.close(0);
    // Without a SharedKey secret configured such a request cannot be verified: refused, and said why.
    const tokenOnly = await gw({ TWILIO_AUTH_TOKEN: 'tok' });
    expect((await send(tokenOnly, sha256('shared-new'))).statusCode).toBe(403);
    expect(await metricValue(tokenOnly.gateway, 'voice_gateway_webhook_rejected_total', { route: 'twilio_voice', reason: 'no_secret' })).toBe(1);
  });

  it('verifies JSON bodies by bodySHA256', async () => {
    const { gateway } = await gw({ TWILIO_AUTH_TOKEN: 'tok' });
    const body = JSON.stringify(CALL);
    const url = `/twilio/voice?bodySHA256=${getExpectedBodyHash(body)}`;
    const sig = getExpectedTwilioSignature('tok', PUBLIC + url, {});
    const ok = await gateway.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', 'x-twilio-signature': sig }, payload: body });
    expect(ok.statusCode).toBe(200);
    const tampered = await gateway.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', 'x-twilio-signature': sig }, payload: body.replace('CA0001', 'CA0002') });
    expect(tampered.statusCode).toBe(403);
  });

  it('answers malformed bodies with a clear 400', async () => {
    const { gateway } = await gw({});
    const noSid = await gateway.app.inject({ method: 'POST', url: '/twilio/voice', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'From=x' });
    expect(noSid.statusCode).toBe(400);
    expect(JSON.parse(noSid.body).error.message).toContain('CallSid');
    const badJson = await gateway.app.inject({ method: 'POST', url: '/twilio/voice', headers: { 'content-type': 'application/json' }, payload: '{"CallSid":' });
    expect(badJson.statusCode).toBe(400);
    expect(JSON.parse(badJson.body).error.code).toBe('GW_ERR_HTTP_BAD_REQUEST');
  });
});

describe('allowlists and proxies', () => {
  const post = (g: InjectGateway, headers: Record<string, string>, remoteAddress: string) =>
    g.gateway.app.inject({
      method: 'POST',
      url: '/twilio/voice',
      remoteAddress,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      payload: form(CALL),
    });

  it('admits addresses in the list (v4, v6, v4-mapped) and refuses others with 403 and a metric', async () => {
    const g = await gw({ TWILIO_ALLOWED_CIDRS: '203.0.113.0/24,2001:db8::/32' });
    expect((await post(g, {}, '203.0.113.7')).statusCode).toBe(200);
    expect((await post(g, {}, '::ffff:203.0.113.7')).statusCode).toBe(200);
    expect((await post(g, {}, '2001:db8::9')).statusCode).toBe(200);
    const refused = await post(g, {}, '198.51.100.1');
    expect(refused.statusCode).toBe(403);
    expect(JSON.parse(refused.body).error.code).toBe('GW_ERR_HTTP_IP_NOT_ALLOWED');
    expect(await metricValue(g.gateway, 'voice_gateway_webhook_rejected_total', { route: 'twilio', reason: 'ip_not_allowed' })).toBe(1);
  });

  it('counts X-Forwarded-For only when TRUST_PROXY says so', async () => {
    const untrusted = await gw({ TWILIO_ALLOWED_CIDRS: '203.0.113.0/24' });
    expect((await post(untrusted, { 'x-forwarded-for': '203.0.113.7' }, '10.0.0.2')).statusCode).toBe(403);
    await untrusted.gateway.close(0);
    const trusted = await gw({ TWILIO_ALLOWED_CIDRS: '203.0.113.0/24', TRUST_PROXY: '10.0.0.0/8' });
    expect((await post(trusted, { 'x-forwarded-for': '203.0.113.7' }, '10.0.0.2')).statusCode).toBe(200);
    expect((await post(trusted, { 'x-forwarded-for': '198.51.100.1' }, '10.0.0.2')).statusCode).toBe(403);
  });
});

describe('Telnyx webhooks', () => {
  const keys = nacl.sign.keyPair();
  const publicKey = Buffer.from(keys.publicKey).toString('base64');
  const NOW = 1_800_000_000_000;

  const texml = (g: InjectGateway, ts: string, sig?: string, body = form(CALL)) =>
    g.gateway.app.inject({
      method: 'POST',
      url: '/telnyx/texml',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'telnyx-timestamp': ts,
        'telnyx-signature-ed25519': sig ?? telnyxSign(keys.secretKey, ts, body),
      },
      payload: body,
    });

  it('answers signed TeXML with a bidirectional RTP stream carrying the token in the URL', async () => {
    const g = await gw({ TELNYX_PUBLIC_KEY: publicKey, TELNYX_CODEC: 'PCMA' }, () => NOW);
    const res = await texml(g, String(NOW / 1000));
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/<Stream url="wss:\/\/gw\.example\.com\/telnyx\/media\/[A-Za-z0-9_-]{20,}" codec="PCMA" bidirectionalMode="rtp" bidirectionalCodec="PCMA"\/>/);
  });

  it('rejects wrong, expired and replayed signatures', async () => {
    const g = await gw({ TELNYX_PUBLIC_KEY: publicKey }, () => NOW);
    const ts = String(NOW / 1000);
    const other = nacl.sign.keyPair();
    expect((await texml(g, ts, telnyxSign(other.secretKey, ts, form(CALL)))).statusCode).toBe(403);
    const stale = String(NOW / 1000 - 301);
    const staleRes = await texml(g, stale);
    expect(staleRes.statusCode).toBe(403);
    expect(JSON.parse(staleRes.body).error.code).toBe('GW_ERR_HTTP_STALE_TIMESTAMP');
    const sig = telnyxSign(keys.secretKey, ts, form(CALL));
    expect((await texml(g, ts, sig)).statusCode).toBe(200);
    expect((await texml(g, ts, sig)).statusCode).toBe(403);
    expect(await metricValue(g.gateway, 'voice_gateway_webhook_rejected_total', { route: 'telnyx', reason: 'replay' })).toBe(1);
    expect(await metricValue(g.gateway, 'voice_gateway_webhook_rejected_total', { route: 'telnyx', reason: 'stale' })).toBe(1);
    expect(await metricValue(g.gateway, 'voice_gateway_webhook_rejected_total', { route: 'telnyx', reason: 'bad_signature' })).toBe(1);
  });

  describe('Call Control', () => {
    let api: Server | undefined;
    afterEach(() => new Promise<void>((r) => (api ? api.close(() => r()) : r())));

    async function fakeTelnyxApi(status = 200) {
      const requests: { method: string; url: string; auth: string | undefined; body: Record<string, unknown> }[] = [];
      api = createServer((req: IncomingMessage, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          requests.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body: JSON.parse(body || '{}') as Record<string, unknown> });
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(status === 200 ? { data: { result: 'ok' } } : { errors: [{ code: '90018', title: 'Call has already ended' }] }));
        });
      });
      await new Promise<void>((r) => api!.listen(0, '127.0.0.1', () => r()));
      const addr = api.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      return { requests, baseUrl: `http://127.0.0.1:${String(port)}/v2` };
    }

    const initiated = (id: string) => JSON.stringify({ data: { event_type: 'call.initiated', payload: { call_control_id: id, direction: 'incoming', from: '+1', to: '+2' } } });

    it('answers call.initiated through the telnyx SDK with our stream URL and codec', async () => {
      const fake = await fakeTelnyxApi();
      const g = await gw({ TELNYX_API_KEY: 'KEY_test', TELNYX_API_BASE_URL: fake.baseUrl, TELNYX_CODEC: 'PCMU' });
      const res = await g.gateway.app.inject({ method: 'POST', url: '/telnyx/webhook', headers: { 'content-type': 'application/json' }, payload: initiated('v3:abc') });
      expect(res.statusCode).toBe(200);
      expect(fake.requests).toHaveLength(1);
      const [req] = fake.requests;
      expect(req.method).toBe('POST');
      expect(req.url).toBe('/v2/calls/v3:abc/actions/answer');
      expect(req.auth).toBe('Bearer KEY_test');
      expect(req.body).toMatchObject({ stream_track: 'inbound_track', stream_bidirectional_mode: 'rtp', stream_bidirectional_codec: 'PCMU', stream_codec: 'PCMU' });
      expect(String(req.body.stream_url)).toMatch(/^wss:\/\/gw\.example\.com\/telnyx\/media\/[A-Za-z0-9_-]{20,}$/);
      expect(req.body.command_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(g.rawLogs.join('\n')).not.toContain('KEY_test');
    });

    it('answers a carrier API error with a 502 that names it', async () => {
      const fake = await fakeTelnyxApi(422);
      const g = await gw({ TELNYX_API_KEY: 'KEY_test', TELNYX_API_BASE_URL: fake.baseUrl });
      const res = await g.gateway.app.inject({ method: 'POST', url: '/telnyx/webhook', headers: { 'content-type': 'application/json' }, payload: initiated('v3:gone') });
      expect(res.statusCode).toBe(502);
      expect(JSON.parse(res.body).error.code).toBe('GW_ERR_CARRIER_API');
    });

    it('acknowledges other events and rejects bodies without an event type', async () => {
      const g = await gw({});
      const other = await g.gateway.app.inject({ method: 'POST', url: '/telnyx/webhook', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ data: { event_type: 'call.hangup', payload: {} } }) });
      expect(other.statusCode).toBe(200);
      const bad = await g.gateway.app.inject({ method: 'POST', url: '/telnyx/webhook', headers: { 'content-type': 'application/json' }, payload: '{}' });
      expect(bad.statusCode).toBe(400);
    });
  });
});

describe('correlation IDs, health, readiness, metrics', () => {
  it('echoes a sane X-Correlation-ID and replaces an insane one', async () => {
    const { gateway } = await gw({});
    const kept = await gateway.app.inject({ method: 'GET', url: '/health', headers: { 'x-correlation-id': 'req-123.abc' } });
    expect(kept.headers['x-correlation-id']).toBe('req-123.abc');
    const replaced = await gateway.app.inject({ method: 'GET', url: '/health', headers: { 'x-correlation-id': 'bad id <script>' } });
    expect(replaced.headers['x-correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
    const fresh = await gateway.app.inject({ method: 'GET', url: '/nope' });
    expect(fresh.statusCode).toBe(404);
    expect(fresh.headers['x-correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('serves /health, /ready and /metrics', async () => {
    const { gateway } = await gw({});
    expect((await gateway.app.inject('/health')).json()).toEqual({ status: 'ok' });
    const ready = await gateway.app.inject('/ready');
    expect(ready.statusCode).toBe(200);
    const metrics = await gateway.app.inject('/metrics');
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('voice_gateway_calls_active');
  });
});
