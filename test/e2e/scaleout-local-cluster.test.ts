/**
 * The topology of deploy/docker-compose.yml without Docker, as deploy/local-cluster.sh runs it: two
 * gateway processes (node-a, node-b) sharing a real redis-server and a real PostgreSQL. What only
 * separate processes can show:
 * - Redis killed mid-load: every live call goes on and loses no frame (the shared call log in
 *   PostgreSQL counts what each node received); new calls are refused with a clear error (503
 *   GW_ERR_GRANTS_UNAVAILABLE) until Redis is back, then accepted again.
 * - `kill -9` of node-a: node-b's calls go on whole (a call whose webhook A answered included); A's
 *   call, which nobody heartbeats any more, is marked ended (`gateway_interrupted`) by B's sweep and
 *   leaves B's live listing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callWebhook } from '../../src/simulator/webhook.js';
import { twilioMessages } from '../../src/carriers/twilio/network-messages.js';
import { POSTGRES_INITDB, REDIS_SERVER, requireTool } from '../support/requirements.js';
import { until } from '../support/until.js';

const redisServer = requireTool(REDIS_SERVER);
const initdb = requireTool(POSTGRES_INITDB);
const ROOT = new URL('../..', import.meta.url).pathname;
const STALE_MS = 3000;

type ClusterEnv = Record<'NODE_A_URL' | 'NODE_A_PID' | 'NODE_B_URL' | 'REDIS_PORT' | 'REDIS_PID' | 'REDIS_SERVER' | 'DATABASE_URL', string>;

/** A Twilio caller streaming silence in real time (20 ms frames) on the node given, after a webhook on the node given. */
class Caller {
  readonly ws: WebSocket;
  readonly #msgs: ReturnType<typeof twilioMessages>;
  sent = 0;
  closedWith: number | undefined;

  private constructor(ws: WebSocket, readonly carrierCallId: string) {
    this.ws = ws;
    this.#msgs = twilioMessages(`MZ${carrierCallId}`);
    ws.on('close', (code) => (this.closedWith = code));
  }

  static async start(webhookUrl: string, mediaUrl: string, carrierCallId: string): Promise<Caller> {
    const target = await callWebhook({ transport: 'twilio', baseUrl: webhookUrl, carrierCallId, from: '+15550001111', to: '+15550002222' });
    const ws = new WebSocket(mediaUrl.replace('http', 'ws') + new URL(target.url).pathname);
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    const c = new Caller(ws, carrierCallId);
    ws.send(c.#msgs.connected());
    ws.send(c.#msgs.start({ carrierCallId, streamId: '', codec: 'mulaw', customParameters: target.parameters }));
    return c;
  }

  frame(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(this.#msgs.media(SILENCE, this.sent * 20, this.sent + 1));
    this.sent++;
  }

  async hangUp(): Promise<void> {
    const closed = new Promise<void>((r) => (this.ws.readyState === WebSocket.CLOSED ? r() : this.ws.once('close', () => r())));
    this.ws.send(JSON.stringify({ event: 'stop', sequenceNumber: String(this.sent + 2), streamSid: `MZ${this.carrierCallId}`, stop: { callSid: this.carrierCallId } }));
    this.ws.close();
    await closed;
  }
}
const SILENCE = Buffer.alloc(160, 0xff).toString('base64');

/** Every caller sends a frame each 20 ms until stopped. */
function pace(callers: () => Caller[]): () => void {
  const t = setInterval(() => {
    for (const c of callers()) c.frame();
  }, 20);
  return () => clearInterval(t);
}

interface Row { id: string; state: string; end_reason: string | null; frames_in: number }

describe.skipIf(!redisServer.path || !initdb.path)('deploy/local-cluster.sh: two gateway processes, Redis and PostgreSQL', () => {
  let dir: string;
  let cluster: ChildProcess;
  let env: ClusterEnv;
  let db: pg.Client;
  let output = '';
  /** Redis as the first test brings it back: the script no longer owns it, so afterAll stops it. */
  let revivedRedis: ChildProcess | undefined;
  const row = async (carrierCallId: string): Promise<Row | undefined> =>
    (await db.query<Row>('SELECT id, state, end_reason, frames_in FROM calls WHERE carrier_call_id = $1', [carrierCallId])).rows[0];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vg-lc-test-'));
    cluster = spawn('bash', [join(ROOT, 'deploy/local-cluster.sh'), '--dir', dir], {
      cwd: ROOT,
      env: { ...process.env, VAD_ENGINE: 'energy', WORKER_POOL_SIZE: '1', LOG_LEVEL: 'warn', CALL_RECORD_STALE_MS: String(STALE_MS), CALL_REGISTRY_TTL_MS: '1500' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cluster.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    cluster.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const file = join(dir, 'cluster.env');
    await until(() => {
      if (cluster.exitCode !== null) throw new Error(`local-cluster.sh exited ${String(cluster.exitCode)}: ${output}`);
      return existsSync(file);
    }, 'the local cluster', 90_000);
    env = Object.fromEntries(readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2))) as ClusterEnv;
    db = new pg.Client({ connectionString: env.DATABASE_URL });
    await db.connect();
  }, 120_000);

  afterAll(async () => {
    await db?.end().catch(() => undefined);
    if (cluster && cluster.exitCode === null) {
      const exited = new Promise<void>((r) => cluster.once('exit', () => r()));
      cluster.kill('SIGTERM');
      await exited;
    }
    revivedRedis?.kill('SIGTERM');
    // The script removes its directory; the test made it, so the test makes sure.
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('Redis killed mid-load: live calls lose no frame; new calls get 503 until Redis is back', { timeout: 60_000 }, async () => {
    const a = env.NODE_A_URL;
    const b = env.NODE_B_URL;
    // Twenty calls, ten on each node, half of them set up by the other node's webhook.
    const callers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => Caller.start(i % 4 < 2 ? a : b, i % 2 === 0 ? a : b, `CAload${String(i)}`)),
    );
    const stop = pace(() => callers);
    await new Promise((r) => setTimeout(r, 600));

    process.kill(Number(env.REDIS_PID), 'SIGKILL');
    // A webhook must not hand out a token nobody can check: a clear, retryable refusal.
    const refused = await until(async () => {
      const res = await fetch(`${a}/twilio/voice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'CallSid=CAduring&From=%2B1&To=%2B2' });
      return res.status === 503 ? ((await res.json()) as { code?: string; error?: { code?: string } }) : undefined;
    }, 'a webhook refused while Redis is down');
    expect(JSON.stringify(refused)).toContain('GW_ERR_GRANTS_UNAVAILABLE');
    await new Promise((r) => setTimeout(r, 1000));

    // Redis back on the same port (empty, as after a crash without persistence): new calls accepted again.
    revivedRedis = spawn(env.REDIS_SERVER, ['--port', env.REDIS_PORT, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    // Each node's Redis client reconnects on its own backoff: the call below is set up on A and
    // streams to B, so both must be back (a node still reconnecting refuses the stream, by design).
    for (const node of [a, b]) {
      await until(async () => {
        const res = await fetch(`${node}/twilio/voice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'CallSid=CAprobe&From=%2B1&To=%2B2' });
        return res.status === 200;
      }, `${node} to store grants again`, 20_000);
    }
    const late = await until(async () => Caller.start(a, b, 'CAafter').catch(() => undefined), 'a new call once Redis is back', 20_000);
    callers.push(late);
    await new Promise((r) => setTimeout(r, 400));
    stop();
    for (const c of callers) expect(c.closedWith, `${c.carrierCallId} closed early`).toBeUndefined();
    await Promise.all(callers.map((c) => c.hangUp()));

    // What each node received, as it wrote it to the shared log: every frame each caller sent.
    for (const c of callers) {
      const r = await until(async () => {
        const got = await row(c.carrierCallId);
        return got?.state === 'ended' ? got : undefined;
      }, `${c.carrierCallId} ended in PostgreSQL`);
      expect({ call: c.carrierCallId, framesIn: Number(r.frames_in) }).toEqual({ call: c.carrierCallId, framesIn: c.sent });
      expect(r.end_reason).not.toBe('gateway_interrupted');
    }
    expect(callers.slice(0, 20).every((c) => c.sent > 60)).toBe(true);
  });

  it("kill -9 of node-a: node-b's calls go on whole; node-a's call is marked ended by the sweep", { timeout: 60_000 }, async () => {
    const a = env.NODE_A_URL;
    const b = env.NODE_B_URL;
    const onA = await Caller.start(a, a, 'CAonA');
    const onB = [await Caller.start(a, b, 'CAviaA'), await Caller.start(b, b, 'CAonB')];
    const stop = pace(() => [onA, ...onB]);
    const idOnA = (await until(() => row('CAonA'), 'A to record its call')).id;
    await new Promise((r) => setTimeout(r, 400));

    process.kill(Number(env.NODE_A_PID), 'SIGKILL');
    await until(() => onA.closedWith !== undefined, "A's caller to see its socket go");

    // B's sweep ends A's row: at once here, as the owner's pid is gone from this host; across machines
    // once the row has been silent for the stale window (CALL_RECORD_STALE_MS). B's listing drops it.
    const swept = await until(async () => {
      const r = await row('CAonA');
      return r?.state === 'ended' ? r : undefined;
    }, "B's sweep to end A's call", STALE_MS * 4);
    expect(swept.end_reason).toBe('gateway_interrupted');
    await until(async () => {
      const res = await fetch(`${b}/api/v1/calls?state=live`);
      const ids = ((await res.json()) as { calls: { callId: string }[] }).calls.map((c) => c.callId);
      return !ids.includes(idOnA) && ids.length >= 2;
    }, "B's live listing without A's call");

    // Meanwhile B's calls went on, and go on: open, and every frame sent reached B.
    const sentAtSweep = onB.map((c) => c.sent);
    await new Promise((r) => setTimeout(r, 500));
    stop();
    for (const c of onB) expect(c.closedWith, `${c.carrierCallId} closed`).toBeUndefined();
    await Promise.all(onB.map((c) => c.hangUp()));
    for (const c of onB) {
      const r = await until(async () => {
        const got = await row(c.carrierCallId);
        return got?.state === 'ended' ? got : undefined;
      }, `${c.carrierCallId} ended`);
      expect({ call: c.carrierCallId, framesIn: Number(r.frames_in), reason: r.end_reason }).toEqual({ call: c.carrierCallId, framesIn: c.sent, reason: expect.not.stringMatching(/interrupted/) as unknown });
    }
    onB.forEach((c, i) => expect(c.sent).toBeGreaterThan(sentAtSweep[i]! + 10));
  });
});
