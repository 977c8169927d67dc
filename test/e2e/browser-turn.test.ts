/**
 * A browser behind NAT, as near as one machine gets: real Chromium with its ICE forced to relay-only
 * candidates (iceTransportPolicy 'relay'), so every packet goes through a real coturn started here on
 * loopback with the TURN REST API (`use-auth-secret`). The page gets its TURN credential from the
 * gateway (minted from TURN_SECRET for the session), trickles its candidates, and the call runs:
 * the caller's speech reaches the gateway and the bot's reply comes back, all through the relay.
 * Needs Chromium and coturn: skipped loudly without them, a failure under VOICE_GATEWAY_REQUIRE_SERVICES=1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resampler } from '../../src/pipeline/resample/resampler.js';
import { writeWav } from '../../src/pipeline/wav.js';
import { readFixtureWav } from '../support/fixtures.js';
import { freePort, startTestGateway, type TestGateway } from '../support/gateway.js';
import { CHROMIUM, requireTool, TURNSERVER } from '../support/requirements.js';

const browser = requireTool(CHROMIUM);
const turnserver = requireTool(TURNSERVER);
const SECRET = 'turn-rest-test-secret';

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Every RTCPeerConnection the page makes is relay-only, and kept for the test to inspect. */
const RELAY_ONLY = `(() => {
  const Native = window.RTCPeerConnection;
  window.__test = { pcs: [], configs: [] };
  window.RTCPeerConnection = class extends Native {
    constructor(config = {}) {
      const relay = { ...config, iceTransportPolicy: 'relay' };
      super(relay);
      window.__test.configs.push(relay);
      window.__test.pcs.push(this);
    }
  };
})();`;

const SELECTED_PAIR = `(async () => {
  const report = await window.__test.pcs[0].getStats();
  let pair;
  report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId); });
  const local = pair && report.get(pair.localCandidateId);
  let inbound;
  report.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') inbound = s; });
  return { localType: local && local.candidateType, localAddress: local && local.address, relayProtocol: local && local.relayProtocol, packetsReceived: inbound ? inbound.packetsReceived : 0 };
})()`;

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!browser.path || !turnserver.path)('a browser call relayed through TURN (coturn, relay-only Chromium)', () => {
  let dir = '';
  let turn: ChildProcess | undefined;
  const turnLog: string[] = [];
  let turnPort = 0;
  let gw: TestGateway | undefined;
  let context: BrowserContext | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vg-turn-'));
    turnPort = await freePort();
    const relayBase = 40_000 + Math.floor(Math.random() * 20_000);
    // Loopback only, no TLS, TURN REST API auth. coturn refuses loopback peers by default
    // (--allow-loopback-peers lifts it): here the gateway's candidates are all on this host.
    turn = spawn(turnserver.path!, [
      '-n', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${String(turnPort)}`,
      `--min-port=${String(relayBase)}`, `--max-port=${String(relayBase + 100)}`,
      '--use-auth-secret', `--static-auth-secret=${SECRET}`, '--realm=voice-gateway.test', '--fingerprint',
      '--no-tls', '--no-dtls', '--no-cli', '--allow-loopback-peers', '--no-multicast-peers', '--no-software-attribute',
      '--log-file=stdout', '--simple-log', `--pidfile=${join(dir, 'turnserver.pid')}`, `--userdb=${join(dir, 'turndb')}`, '-v',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    turn.stdout!.on('data', (b: Buffer) => turnLog.push(b.toString()));
    turn.stderr!.on('data', (b: Buffer) => turnLog.push(b.toString()));
    await until('coturn to listen', () => /listener opened on|Total (General|UDP) servers|IPv4\. UDP listener opened/i.test(turnLog.join('')) || undefined, 10_000);

    const wav = readFixtureWav('calls/call-quiet.16k.wav');
    const rs = new Resampler({ from: wav.sampleRate, to: 48000 });
    const head = rs.process(wav.samples);
    const tail = rs.flush();
    const pcm = new Int16Array(head.length + tail.length);
    pcm.set(head);
    pcm.set(tail, head.length);
    const micFile = join(dir, 'mic.48k.wav');
    writeFileSync(micFile, writeWav({ samples: pcm.subarray(rs.delaySamples), sampleRate: 48000 }));

    gw = await startTestGateway({ ICE_SERVERS: `turn:127.0.0.1:${String(turnPort)}?transport=udp`, TURN_SECRET: SECRET });
    context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: browser.path,
      headless: true,
      args: [...CHROMIUM_ARGS, `--use-file-for-fake-audio-capture=${micFile}`],
    });
  });

  afterAll(async () => {
    await context?.close();
    await gw?.close();
    if (turn && turn.exitCode === null) {
      const exited = new Promise((r) => turn!.once('exit', r));
      turn.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('connects through the relay with a minted credential, and the call works both ways', { timeout: 60_000 }, async () => {
    const g = gw!;
    const page = await context!.newPage();
    await page.addInitScript({ content: RELAY_ONLY });
    await page.goto(`${g.baseUrl}/`);
    await page.focus('#start');
    await page.keyboard.press('Enter');
    const status = page.locator('[role="status"]');
    await until('Connected', async () => (await status.textContent())?.includes('Connected'), 20_000);

    // The page was given our TURN server and a TURN REST credential: "<expiry>:<id>", HMAC-SHA1 of it.
    const configs = (await page.evaluate('window.__test.configs')) as { iceServers: { urls: string[]; username?: string; credential?: string }[] }[];
    const turnServer = configs[0].iceServers.find((s) => s.urls.some((u) => u.startsWith('turn:')))!;
    const [expiry] = turnServer.username!.split(':');
    expect(Number(expiry) - Date.now() / 1000).toBeGreaterThan(3000);
    const { createHmac } = await import('node:crypto');
    expect(turnServer.credential).toBe(createHmac('sha1', SECRET).update(turnServer.username!).digest('base64'));

    // The media path is the relay: the browser's selected local candidate is a TURN relay on coturn.
    const pair = (await until('a selected candidate pair', async () => {
      const p = (await page.evaluate(SELECTED_PAIR)) as { localType?: string; localAddress?: string; packetsReceived: number };
      return p.localType ? p : undefined;
    }, 10_000));
    expect(pair.localType).toBe('relay');
    expect(pair.localAddress).toBe('127.0.0.1');
    await until('the page to say the call goes via the relay', async () => (await page.textContent('#latency'))?.includes('via relay'), 10_000);

    // Speech in, reply out: one caller turn detected, and the bot's audio received by the page.
    const listed = await (await fetch(`${g.baseUrl}/api/v1/webrtc/sessions`)).json() as { sessions: { callId: string; rtpIn: number; remoteCandidates: number }[] };
    const { callId } = listed.sessions[0];
    expect(listed.sessions[0].remoteCandidates, 'the page trickled its candidates').toBeGreaterThan(0);
    await until('a caller turn', () => g.logs.some((l) => l.event === 'turn_end' && l.callId === callId) || undefined, 20_000);
    await until('the reply to reach the page', async () => {
      const p = (await page.evaluate(SELECTED_PAIR)) as { packetsReceived: number };
      return p.packetsReceived > 50 || undefined;
    }, 15_000);
    const after = await (await fetch(`${g.baseUrl}/api/v1/webrtc/sessions`)).json() as { sessions: { rtpIn: number }[] };
    expect(after.sessions[0].rtpIn).toBeGreaterThan(100);
    // coturn saw our allocation, authenticated by the minted username.
    expect(turnLog.join('')).toContain(turnServer.username!);

    await page.click('#end');
    await until('Ended', async () => (await status.textContent())?.includes('Ended'), 5000);
    await until('the gateway to end the call', () => g.gateway.calls.get(callId) === undefined || undefined, 5000);
    await page.close();
  });
});
