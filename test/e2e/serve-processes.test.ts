/**
 * `voice-gateway serve --processes 2`, no Redis: two gateway processes share the port, and the kernel
 * spreads connections between them. Each request here opens its own connection, so they land on both.
 * - A stream token issued by a webhook in one process opens a stream in whichever process gets the
 *   socket, once: replayed, it is refused in every process (the primary holds the grants).
 * - The API of either process lists every process's calls and hangs up any of them (forwarded to the
 *   process holding it over its internal route).
 * - /metrics from either process counts every process's calls (aggregated by the primary).
 * - SIGTERM to the primary drains both processes and exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStreamTarget } from '../../src/simulator/webhook.js';
import { twilioMessages } from '../../src/carriers/twilio/network-messages.js';
import { freePort } from '../../src/util/net.js';
import { openSocket } from '../support/media-socket.js';
import { until } from '../support/until.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SILENCE = Buffer.alloc(160, 0xff).toString('base64');

interface Answer { status: number; node: string | undefined; body: string }

/** One request on a connection of its own (no keep-alive), so the kernel picks the process anew. */
function send(method: string, url: string, body?: string, contentType = 'application/json'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, headers: body === undefined ? {} : { 'content-type': contentType } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, node: res.headers['x-voice-gateway-node'] as string | undefined, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const closeCode = (ws: WebSocket) => new Promise<number>((r) => (ws.readyState === WebSocket.CLOSED ? r(1006) : ws.once('close', (code) => r(code))));

interface Listed { callId: string; carrierCallId: string | null; node?: string }

describe('serve --processes 2 (no Redis)', () => {
  let child: ChildProcess;
  let base: string;
  let out = '';
  let exited: Promise<number | null>;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${String(port)}`;
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'serve', '--processes', '2'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: base, CALL_RECORD_PATH: ':memory:', VAD_ENGINE: 'energy', LOG_LEVEL: 'info', NODE_ID: 'box' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    exited = new Promise((r) => child.once('exit', (code) => r(code)));
    await until(() => {
      if (child.exitCode !== null) throw new Error(`serve exited: ${out}`);
      return out.split('"event":"listening"').length - 1 === 2;
    }, 'both processes to listen', 60_000);
  }, 90_000);

  afterAll(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });

  it('runs each gateway process with the V8 flags serve sets (util/v8-flags.ts)', () => {
    const listening = out.split('\n').filter((l) => l.includes('"event":"listening"')).map((l) => JSON.parse(l) as { v8Flags?: string[] });
    expect(listening).toHaveLength(2);
    for (const l of listening) expect(l.v8Flags).toEqual(['--no-allocation-site-pretenuring']);
  });

  it('a grant from either process opens a stream in either, once; the API and /metrics of either see every call', { timeout: 60_000 }, async () => {
    const calls: { carrierCallId: string; ws: WebSocket; token: string; path: string; webhookNode: string | undefined }[] = [];
    for (let i = 0; i < 6; i++) {
      const carrierCallId = `CAproc${String(i)}`;
      const form = new URLSearchParams({ CallSid: carrierCallId, AccountSid: 'AC00000000000000000000000000000000', From: '+15550001111', To: '+15550002222', CallStatus: 'ringing', Direction: 'inbound' });
      const hook = await send('POST', `${base}/twilio/voice`, form.toString(), 'application/x-www-form-urlencoded');
      expect(hook.status).toBe(200);
      const target = parseStreamTarget(hook.body);
      const path = new URL(target.url).pathname;
      // Round robin would put every socket after a webhook in the same process: shift it now and then.
      if (i % 2 === 1) await send('GET', `${base}/health`);
      const ws = await openSocket(base.replace('http', 'ws') + path);
      const msgs = twilioMessages(`MZproc${String(i)}`);
      ws.send(msgs.connected());
      ws.send(msgs.start({ carrierCallId, streamId: '', codec: 'mulaw', customParameters: target.parameters }));
      for (let f = 0; f < 5; f++) ws.send(msgs.media(SILENCE, f * 20, f + 1));
      calls.push({ carrierCallId, ws, token: target.parameters.token!, path, webhookNode: hook.node });
    }

    // Every call listed, from either process, each with the process holding it.
    const listings = await until(async () => {
      const got = await Promise.all([0, 1, 2, 3].map(() => send('GET', `${base}/api/v1/calls?state=live`)));
      const all = got.map((g) => ({ node: g.node, calls: (JSON.parse(g.body) as { calls: Listed[] }).calls }));
      return all.every((l) => l.calls.length === 6) ? all : undefined;
    }, 'both processes to list all six calls');
    const answeringNodes = new Set(listings.map((l) => l.node));
    const holders = new Map(listings[0]!.calls.map((c) => [c.carrierCallId, c.node]));
    expect(new Set(holders.values())).toEqual(new Set(['box.p0', 'box.p1']));
    // The webhooks were answered by both processes too, and some stream landed in the other one.
    const webhookNodes = new Set(calls.map((c) => c.webhookNode));
    expect(webhookNodes).toEqual(new Set(['box.p0', 'box.p1']));
    expect(calls.some((c) => c.webhookNode !== holders.get(c.carrierCallId))).toBe(true);
    expect(answeringNodes).toEqual(new Set(['box.p0', 'box.p1']));

    // A replayed token is refused whichever process gets it.
    for (let i = 0; i < 4; i++) {
      const c = calls[i]!;
      const again = await openSocket(base.replace('http', 'ws') + c.path);
      const gone = closeCode(again);
      again.send(twilioMessages('MZreplay').start({ carrierCallId: c.carrierCallId, streamId: '', codec: 'mulaw', customParameters: { token: c.token } }));
      expect(await gone).toBe(1008);
    }

    // /metrics from either process: six calls active, whoever holds them.
    for (let i = 0; i < 4; i++) {
      const m = await send('GET', `${base}/metrics`);
      expect(m.status).toBe(200);
      const active = /^voice_gateway_calls_active(?:\{[^}]*\})? (\d+)/m.exec(m.body);
      expect(Number(active?.[1])).toBe(6);
      // A design figure both processes report is shown once, not summed (aggregator 'max').
      const fixed = /^voice_gateway_pipeline_fixed_delay_seconds\{stage="vad_window_8000"\} ([0-9.e-]+)/m.exec(m.body);
      expect(Number(fixed?.[1])).toBeCloseTo(0.032, 6);
    }

    // Hang up every call through whichever process answers: forwarded to its holder when needed.
    for (const c of listings[0]!.calls) {
      const caller = calls.find((k) => k.carrierCallId === c.carrierCallId)!;
      const gone = closeCode(caller.ws);
      const res = await send('POST', `${base}/api/v1/calls/${c.callId}/hangup`, '{}');
      expect(res.status, res.body).toBe(200);
      expect(res.node).toBe(c.node);
      await gone;
    }
    await until(async () => ((JSON.parse((await send('GET', `${base}/api/v1/calls?state=live`)).body) as { calls: Listed[] }).calls.length === 0), 'no live calls');
  });

  it('SIGTERM to the primary drains both processes and exits 0', { timeout: 30_000 }, async () => {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out.split('"event":"cluster_process_stopped"').length - 1).toBe(2);
    expect(out).toContain('"event":"cluster_shutdown_complete"');
  });
});

describe('serve --processes 2 whose processes cannot start', () => {
  it('stops after three quick deaths in a row and exits 1, rather than restarting for ever', { timeout: 60_000 }, async () => {
    // The port is taken: every process fails to listen.
    const blocker = createNetServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    let out = '';
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'serve', '--processes', '2'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CALL_RECORD_PATH: ':memory:', VAD_ENGINE: 'energy', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    blocker.close();
    expect(code).toBe(1);
    expect(out).toContain('"event":"cluster_crash_loop"');
  });
});

describe('serve --processes 2 whose primary is killed outright', () => {
  // node:cluster ends a process whose IPC channel to the primary closes unexpectedly; this pins it, as a
  // process left behind would keep calls nobody can reach through the API and a port nobody serves.
  it('its gateway processes exit instead of lingering as orphans', { timeout: 60_000 }, async () => {
    const port = await freePort();
    let out = '';
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'serve', '--processes', '2'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CALL_RECORD_PATH: ':memory:', VAD_ENGINE: 'energy', LOG_LEVEL: 'info', SHUTDOWN_DEADLINE_MS: '2000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const pids = await until(() => {
      const found = [...out.matchAll(/"event":"listening"[^\n]*?"pid":(\d+)/g)].map((m) => Number(m[1]));
      return found.length === 2 ? found : undefined;
    }, 'both processes to listen', 60_000);
    child.kill('SIGKILL');
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await until(() => pids.every((p) => !alive(p)), 'the orphaned processes to exit', 20_000);
  });
});

