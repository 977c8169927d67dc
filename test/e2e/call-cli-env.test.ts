/**
 * `voice-gateway call` reads TWILIO_AUTH_TOKEN and TELNYX_SECRET_KEY from the environment the way the
 * gateway reads its own, so the README's quick start works with a token set; flags still override
 * (issue 12 item 9). In process, two seconds of audio against a real gateway.
 */
import nacl from 'tweetnacl';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/commands/call.js';
import { fixturePath } from '../support/fixtures.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const saved = { ...process.env };
let gw: TestGateway | undefined;
afterEach(async () => {
  process.env = { ...saved };
  vi.restoreAllMocks();
  await gw?.close();
  gw = undefined;
});

const args = (transport: string, url: string, extra: string[] = []) => ['--transport', transport, '--url', url, '--in', fixturePath('calls/call-quiet.8k.ulaw'), '--max-duration-s', '1', '--tail-ms', '0', ...extra];

describe('voice-gateway call credentials from the environment', () => {
  it('signs Twilio webhooks with TWILIO_AUTH_TOKEN from the environment; a flag overrides it', { timeout: 20_000 }, async () => {
    gw = await startTestGateway({ VAD_ENGINE: 'energy', TWILIO_AUTH_TOKEN: 'env-token' });
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    process.env.TWILIO_AUTH_TOKEN = 'env-token';
    expect(await run(args('twilio', gw.baseUrl))).toBe(0);
    await expect(run(args('twilio', gw.baseUrl, ['--auth-token', 'wrong']))).rejects.toThrow(/403/);
    delete process.env.TWILIO_AUTH_TOKEN;
    await expect(run(args('twilio', gw.baseUrl))).rejects.toThrow(/403/);
  });

  it('signs Telnyx webhooks with TELNYX_SECRET_KEY (the pair of the gateway\'s TELNYX_PUBLIC_KEY)', { timeout: 20_000 }, async () => {
    const keys = nacl.sign.keyPair();
    gw = await startTestGateway({ VAD_ENGINE: 'energy', TELNYX_PUBLIC_KEY: Buffer.from(keys.publicKey).toString('base64') });
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    process.env.TELNYX_SECRET_KEY = Buffer.from(keys.secretKey.subarray(0, 32)).toString('base64');
    expect(await run(args('telnyx', gw.baseUrl))).toBe(0);
    process.env.TELNYX_SECRET_KEY = 'bm90IGEga2V5';
    await expect(run(args('telnyx', gw.baseUrl))).rejects.toThrow(/TELNYX_SECRET_KEY/);
  });
});
