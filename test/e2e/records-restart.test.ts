/**
 * Call records survive the process: `voice-gateway serve` as a child on a record file in a temp dir.
 * Calls run (inbound with DTMF, outbound through the Twilio REST fake, one left in progress), the
 * gateway is stopped with SIGTERM, started again, and every call is there with the record it had
 * (the one in progress ended by the shutdown). Then a call finishes and the gateway is SIGKILLed the
 * moment the API reports it ended, with another call in progress: after a restart the finished call
 * is whole and the interrupted one is there, partial, marked ended by the orphan sweep.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pcmCodec } from '../../src/pipeline/codecs/wire-codec.js';
import { simulateCall, type SimulatedCallResult } from '../../src/simulator/caller.js';
import { answerOutboundCall } from '../../src/simulator/outbound.js';
import type { CallRecord } from '../../src/store/call-record.js';
import { calleeSpeech } from '../carriers/outbound-rig.js';
import { startTwilioRestFake, type TwilioRestFake } from '../fakes/twilio-rest-fake.js';
import { freePort } from '../support/gateway.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const AUTH = 'records-test-twilio-token';

interface Serve {
  child: ChildProcess;
  base: string;
  exited: Promise<number | null>;
  stderr(): string;
}

const children: ChildProcess[] = [];
let dir: string;
let recordPath: string;
let twilio: TwilioRestFake;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vg-records-'));
  recordPath = join(dir, 'nested', 'calls.sqlite');
  twilio = await startTwilioRestFake({ authToken: AUTH });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await twilio?.close();
  await rm(dir, { recursive: true, force: true });
});

async function startServe(): Promise<Serve> {
  const port = await freePort();
  const base = `http://127.0.0.1:${String(port)}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'serve'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      PUBLIC_URL: base,
      VAD_ENGINE: 'energy',
      LOG_LEVEL: 'warn',
      SHUTDOWN_DEADLINE_MS: '300',
      CALL_RECORD_PATH: recordPath,
      TWILIO_AUTH_TOKEN: AUTH,
      TWILIO_ACCOUNT_SID: twilio.accountSid,
      TWILIO_API_BASE_URL: twilio.baseUrl,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const start = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited ${String(child.exitCode)}: ${stderr}`);
    try {
      if ((await fetch(`${base}/ready`)).status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() - start > 30_000) throw new Error(`serve did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, base, exited, stderr: () => stderr };
}

async function getJson(url: string): Promise<ReturnType<typeof JSON.parse>> {
  const res = await fetch(url);
  return res.json();
}

async function allCalls(base: string): Promise<CallRecord[]> {
  return ((await getJson(`${base}/api/v1/calls?state=all&limit=500`)) as { calls: CallRecord[] }).calls;
}

async function waitRecord(base: string, pick: (r: CallRecord) => boolean, done: (r: CallRecord) => boolean, what: string): Promise<CallRecord> {
  const start = Date.now();
  while (Date.now() - start < 30_000) {
    const found = (await allCalls(base)).find(pick);
    if (found && done(found)) return found;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no record: ${what}`);
}

const speech = (seconds: number) => pcmCodec('mulaw').encode(calleeSpeech(seconds));
const byCarrier = (id: string) => (r: CallRecord) => r.carrierCallId === id;
/** A stored record, as it must come back: all but the bookkeeping time. */
const whole = (r: CallRecord) => ({ ...r, updatedAt: expect.any(String) });

describe('call records across restarts', () => {
  it('keep every finished call through SIGTERM and SIGKILL; only the call in progress at a SIGKILL is partial', { timeout: 180_000 }, async () => {
    // ---- first run: two finished calls, one in progress at SIGTERM
    const first = await startServe();
    const a: SimulatedCallResult = await simulateCall({
      transport: 'twilio',
      baseUrl: first.base,
      audio: speech(4),
      codec: 'mulaw',
      twilioAuthToken: AUTH,
      dtmf: [{ atMs: 500, digit: '3' }, { atMs: 900, digit: '#' }],
      tailMs: 1000,
    });
    const aRecord = await waitRecord(first.base, byCarrier(a.carrierCallId), (r) => r.state === 'ended', 'call A ended');
    expect(aRecord.endReason).toBe('caller_hangup');
    expect(aRecord.dtmf.map((d) => d.digit)).toEqual(['3', '#']);
    expect(aRecord.turns).toBeGreaterThanOrEqual(1);

    const callee = answerOutboundCall({ networkUrl: twilio.baseUrl, pcm: calleeSpeech(4), twilioAuthToken: AUTH, tailMs: 60_000, maxDurationMs: 60_000 });
    const placedRes = await fetch(`${first.base}/api/v1/calls`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ transport: 'twilio', to: '+15551110001', from: '+15552220002', metadata: { ticket: 42 } }),
    });
    expect(placedRes.status).toBe(201);
    const placed = (await placedRes.json()) as { callId: string };
    await waitRecord(first.base, (r) => r.callId === placed.callId, (r) => r.turns >= 1 && r.framesOut > 20, 'call B answered');
    expect((await fetch(`${first.base}/api/v1/calls/${placed.callId}/hangup`, { method: 'POST' })).status).toBe(200);
    await callee;
    const bRecord = await waitRecord(first.base, (r) => r.callId === placed.callId, (r) => r.carrier.status === 'completed', 'call B completed');
    expect(bRecord).toMatchObject({ direction: 'outbound', state: 'ended', endReason: 'api_hangup', metadata: { ticket: 42 } });

    const cRun = simulateCall({ transport: 'twilio', baseUrl: first.base, audio: speech(20), codec: 'mulaw', twilioAuthToken: AUTH, maxDurationMs: 60_000 });
    const cLive = await waitRecord(first.base, (r) => r.direction === 'inbound' && r.state === 'live', (r) => r.framesIn > 50, 'call C live');
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const c = await cRun;
    expect(c.closeReason).toBe('shutdown');

    // ---- second run: everything is back
    const second = await startServe();
    const afterTerm = await allCalls(second.base);
    expect(afterTerm.find(byCarrier(a.carrierCallId))).toEqual(whole(aRecord));
    expect(afterTerm.find((r) => r.callId === placed.callId)).toEqual(whole(bRecord));
    const cRecord = afterTerm.find((r) => r.callId === cLive.callId)!;
    expect(cRecord).toMatchObject({ state: 'ended', endReason: 'shutdown', direction: 'inbound', codec: 'mulaw' });
    expect(cRecord.framesIn).toBeGreaterThanOrEqual(cLive.framesIn);
    expect(afterTerm.filter((r) => r.state === 'live' || r.state === 'dialing')).toEqual([]);

    // ---- a call finishes; SIGKILL the moment the API says so, with another call in progress
    const eRun = simulateCall({ transport: 'twilio', baseUrl: second.base, audio: speech(30), codec: 'mulaw', twilioAuthToken: AUTH, maxDurationMs: 60_000 });
    const d = await simulateCall({ transport: 'twilio', baseUrl: second.base, audio: speech(3), codec: 'mulaw', twilioAuthToken: AUTH, tailMs: 300, dtmf: [{ atMs: 400, digit: '9' }] });
    const dRecord = await waitRecord(second.base, byCarrier(d.carrierCallId), (r) => r.state === 'ended', 'call D ended');
    const eLive = await waitRecord(second.base, (r) => r.state === 'live', (r) => r.framesIn > 100, 'call E live');
    second.child.kill('SIGKILL');
    await second.exited;
    const e = await eRun;
    expect(e.closeCode).not.toBe(1000);
    expect(existsSync(`${recordPath}-wal`)).toBe(true); // WAL mode, and nothing checkpointed it on the way down

    // ---- third run: D whole, E partial and no longer live
    const third = await startServe();
    const afterKill = await allCalls(third.base);
    expect(afterKill.find(byCarrier(d.carrierCallId))).toEqual(whole(dRecord));
    expect(dRecord.dtmf.map((x) => x.digit)).toEqual(['9']);
    const eRecord = afterKill.find((r) => r.callId === eLive.callId)!;
    expect(eRecord.state).toBe('ended');
    expect(eRecord.endReason).toBe('gateway_interrupted');
    // At most about a second of counters is lost: E had at least what the API showed before the kill.
    expect(eRecord.framesIn).toBeGreaterThanOrEqual(eLive.framesIn - 60);
    expect(Date.parse(eRecord.endedAt!)).toBeGreaterThanOrEqual(Date.parse(eLive.updatedAt) - 2000);
    // The earlier calls are all still there.
    for (const id of [aRecord.callId, bRecord.callId, cRecord.callId]) expect(afterKill.some((r) => r.callId === id)).toBe(true);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  });
});
