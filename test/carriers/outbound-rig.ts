/**
 * A gateway on a loopback port wired to loopback fakes of both carriers' REST APIs (Twilio signs
 * status callbacks with its auth token, Telnyx signs webhooks with an Ed25519 key), its call records
 * in a temp dir. For the call-control and records end-to-end tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { decodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { readBytes } from '../support/fixtures.js';
import { startTelnyxRestFake, type TelnyxRestFake } from '../fakes/telnyx-rest-fake.js';
import { startTwilioRestFake, type TwilioRestFake } from '../fakes/twilio-rest-fake.js';
import type { CallRecord } from '../../src/store/call-record.js';

export const TWILIO_AUTH_TOKEN = 'twilio-auth-token-for-tests';
export const TELNYX_API_KEY = 'KEY_telnyx_for_tests';

export interface OutboundRig {
  readonly gw: TestGateway;
  readonly twilio: TwilioRestFake;
  readonly telnyx: TelnyxRestFake;
  readonly telnyxKeys: nacl.SignKeyPair;
  readonly recordPath: string;
  api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: ReturnType<typeof JSON.parse> }>;
  record(callId: string): Promise<CallRecord>;
  /** Poll a call's record until `done` holds (or fail after `timeoutMs`). */
  waitFor(callId: string, done: (r: CallRecord) => boolean, timeoutMs?: number): Promise<CallRecord>;
  close(): Promise<void>;
}

export async function startOutboundRig(env: Record<string, string> = {}): Promise<OutboundRig> {
  const dir = await mkdtemp(join(tmpdir(), 'vg-calls-'));
  const telnyxKeys = nacl.sign.keyPair();
  const twilio = await startTwilioRestFake({ authToken: TWILIO_AUTH_TOKEN });
  const telnyx = await startTelnyxRestFake({ apiKey: TELNYX_API_KEY, secretKey: telnyxKeys.secretKey });
  const recordPath = join(dir, 'calls.sqlite');
  let gw: TestGateway;
  try {
    gw = await startTestGateway({
      VAD_ENGINE: 'energy',
      CALL_RECORD_PATH: recordPath,
      TWILIO_AUTH_TOKEN,
      TWILIO_ACCOUNT_SID: twilio.accountSid,
      TWILIO_API_BASE_URL: twilio.baseUrl,
      TELNYX_API_KEY,
      TELNYX_API_BASE_URL: telnyx.apiBaseUrl,
      TELNYX_CONNECTION_ID: 'conn-123',
      TELNYX_PUBLIC_KEY: Buffer.from(telnyxKeys.publicKey).toString('base64'),
      // Generous: on a loaded CI box a fake's answer can take over a second. The timeout's own test
      // passes a short one.
      CARRIER_API_TIMEOUT_MS: '8000',
      ...env,
    });
  } catch (err) {
    await Promise.all([twilio.close(), telnyx.close()]);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const api = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await fetch(gw.baseUrl + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  };
  const record = async (callId: string) => {
    const res = await api('GET', `/api/v1/calls/${callId}`);
    if (res.status !== 200) throw new Error(`GET call ${callId}: ${String(res.status)} ${JSON.stringify(res.body)}`);
    return res.body as CallRecord;
  };
  return {
    gw,
    twilio,
    telnyx,
    telnyxKeys,
    recordPath,
    api,
    record,
    async waitFor(callId, done, timeoutMs = 20_000) {
      const start = Date.now();
      let last: CallRecord | undefined;
      while (Date.now() - start < timeoutMs) {
        last = await record(callId);
        if (done(last)) return last;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`record of ${callId} never reached the expected state; last: ${JSON.stringify(last)}`);
    },
    async close() {
      await gw.close();
      await Promise.all([twilio.close(), telnyx.close()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The first `seconds` of the quiet call fixture (one utterance at 1.27-3.77 s), as PCM16 at 8 kHz. */
export function calleeSpeech(seconds = 5): Int16Array {
  return decodeMulaw(readBytes('calls/call-quiet.8k.ulaw').subarray(0, seconds * 8000));
}
