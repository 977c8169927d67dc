/**
 * Soak benchmark: `npm run bench:soak -- --minutes 60 [--calls 8] [--round-s 60] [--json out.json]`.
 *
 * One gateway in this process (Silero VAD on a one-worker pool, providers openai -> echo with the
 * OpenAI Realtime fake from test/fakes), `--calls` simulated Twilio callers starting and ending
 * continuously, and faults injected every round: the provider drops every session (failover to the
 * next provider), a VAD worker crashes (fallback to energy, then recovery), and a few sockets flood
 * garbage and 60 KB DTMF digits. After each round (GC first) it reports heap and RSS, open file
 * descriptors, metric series, media sockets, and frames lost (sent by callers minus received by their
 * calls, per completed call). It fails (exit 1) when a figure keeps growing round over round:
 * heap or RSS up in every one of the last three rounds and by more than 8 MB in all, metric series
 * up in every one of the last three rounds or by more than 10 in all (a label value seen for the
 * first time adds a series once; `seriesChanged` names it), file descriptors more than 5 above the
 * first measured round, or any frame lost.
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { loadConfig } from '../src/config.js';
import { createGateway } from '../src/gateway.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { callWebhook } from '../src/simulator/webhook.js';
import { simulateCall } from '../src/simulator/caller.js';
import { twilioMessages } from '../src/carriers/twilio/network-messages.js';
import { freePort } from '../src/util/net.js';
import { createWorkerPool } from '../src/workers/pool.js';
import { OpenAIRealtimeFake } from '../test/fakes/openai-realtime-fake.js';
import { readBytes } from '../test/support/fixtures.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    calls: { type: 'string', default: '8' },
    'round-s': { type: 'string' },
    json: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const concurrency = Number(values.calls);
const roundS = Number(values['round-s'] ?? Math.max(20, Math.min(60, (minutes * 60) / 6)));
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:soak does)');

interface Round {
  round: number;
  elapsedS: number;
  callsCompleted: number;
  callsActive: number;
  heapMB: number;
  rssMB: number;
  fds: number;
  metricSeries: number;
  /** Metrics whose series count changed since the previous round (a label value seen for the first time, or a leak). */
  seriesChanged: Record<string, number>;
  mediaSocketsActive: number;
  framesSent: number;
  framesLost: number;
  faults: { providerDrops: number; workerCrashes: number; floodMessages: number };
  vadFallbacks: number;
  vadRecoveries: number;
}

const crashFlag = join(tmpdir(), `soak-crash-${String(process.pid)}`);
process.env.SOAK_CRASH_FLAG = crashFlag;

const framesInByCall = new Map<string, number>();
const logger = createLogger({
  level: 'info',
  destination: {
    write(line: string) {
      if (!line.includes('"call_ended"')) return;
      const l = JSON.parse(line) as { carrierCallId?: string; framesIn?: number };
      if (l.carrierCallId) framesInByCall.set(l.carrierCallId, l.framesIn ?? 0);
    },
  },
});
const metrics = createMetrics({ defaultMetrics: true });
const fake = await OpenAIRealtimeFake.start({ replyDelayMs: 50 });
const port = await freePort();
const baseUrl = `http://127.0.0.1:${String(port)}`;
const config = loadConfig({
  PORT: String(port),
  HOST: '127.0.0.1',
  PUBLIC_URL: baseUrl,
  LOG_LEVEL: 'info',
  VAD_ENGINE: 'silero',
  WORKER_POOL_SIZE: '1',
  PROVIDERS: 'openai,echo',
  OPENAI_API_KEY: fake.apiKey,
  OPENAI_BASE_URL: fake.baseUrl,
  OPENAI_CA_FILE: fake.caFile,
  FAILBACK: '1',
  BREAKER_RESET_TIMEOUT_MS: '5000',
  CALL_RECORD_PATH: ':memory:',
  SHUTDOWN_DEADLINE_MS: '0',
  MEDIA_MAX_MESSAGES_PER_SECOND: '200',
});
const taskFile = fileURLToPath(new URL('./soak-vad.task.ts', import.meta.url));
const pool = createWorkerPool({ size: 1, logger, metrics, taskFiles: { vad: taskFile } });
const gateway = await createGateway(config, { logger, metrics, pool });
await gateway.app.listen({ port, host: '127.0.0.1' });

const speech = readBytes('g711/cards-003.ulaw');
const audio = new Uint8Array(4000 + speech.length + 8000).fill(0xff);
audio.set(speech, 4000);

let stopping = false;
let completed = 0;
let framesSentTotal = 0;
let framesLostTotal = 0;
const faults = { providerDrops: 0, workerCrashes: 0, floodMessages: 0 };

async function caller(): Promise<void> {
  while (!stopping) {
    try {
      const r = await simulateCall({ transport: 'twilio', baseUrl, audio, codec: 'mulaw', tailMs: 800, maxDurationMs: 30_000 });
      // The call's own count arrives with its call_ended line, a moment after the socket closed.
      for (let i = 0; i < 100 && !framesInByCall.has(r.carrierCallId); i++) await new Promise((res) => setTimeout(res, 20));
      const got = framesInByCall.get(r.carrierCallId) ?? 0;
      framesInByCall.delete(r.carrierCallId);
      framesSentTotal += r.framesSent;
      framesLostTotal += Math.max(0, r.framesSent - got);
      completed++;
    } catch (err) {
      console.error('caller failed', err);
      framesLostTotal += 1;
    }
  }
}

/** A socket with a valid token that floods garbage and 60 KB digits until the gateway closes it. */
async function flood(): Promise<void> {
  const target = await callWebhook({ transport: 'twilio', baseUrl, carrierCallId: `CAflood${String(Date.now())}`, from: '+1', to: '+2' });
  const ws = new WebSocket(target.url);
  await new Promise<void>((resolve) => {
    ws.once('open', () => resolve());
    ws.once('error', () => resolve());
  });
  if (ws.readyState !== WebSocket.OPEN) return;
  const msgs = twilioMessages('MZflood');
  ws.send(msgs.connected());
  ws.send(msgs.start({ carrierCallId: 'CAflood', streamId: '', codec: 'mulaw', customParameters: target.parameters }));
  const huge = '9'.repeat(60 * 1024);
  for (let i = 0; i < 1200 && ws.readyState === WebSocket.OPEN; i++) {
    ws.send(i % 3 === 0 ? msgs.dtmf(huge) : i % 3 === 1 ? '{"event":"media",' : JSON.stringify({ event: 'teleport' }));
    faults.floodMessages++;
    if (i % 100 === 0) await new Promise((r) => setImmediate(r));
  }
  ws.close();
}

/**
 * The OpenAI fake runs in this process and records every wire message and connection for tests;
 * over a soak that record would be the biggest thing on the heap, so it is emptied each round (its
 * growth is the harness's, not the gateway's).
 */
function trimFakeRecords(): void {
  fake.messages.length = 0;
  fake.sent.length = 0;
  fake.handshakes.length = 0;
  const open = fake.connections.filter((c) => c.ws.readyState === WebSocket.OPEN || c.ws.readyState === WebSocket.CONNECTING);
  fake.connections.length = 0;
  fake.connections.push(...open);
}

function injectFaults(): void {
  fake.closeClients(1011, 'soak: provider drop');
  faults.providerDrops++;
  writeFileSync(crashFlag, 'crash');
  faults.workerCrashes++;
  for (let i = 0; i < 3; i++) void flood().catch(() => undefined);
}

let lastSeries = new Map<string, number>();
/** Total series, and which metrics gained or lost series since the last round (names a growing label). */
async function seriesCount(): Promise<{ total: number; changed: Record<string, number> }> {
  const all = await metrics.registry.getMetricsAsJSON();
  const now = new Map(all.map((m) => [m.name, m.values?.length ?? 0]));
  const changed: Record<string, number> = {};
  for (const [name, n] of now) if (lastSeries.size > 0 && n !== (lastSeries.get(name) ?? 0)) changed[name] = n - (lastSeries.get(name) ?? 0);
  lastSeries = now;
  return { total: [...now.values()].reduce((a, b) => a + b, 0), changed };
}

async function metric(name: string): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  if (!m) return 0;
  return (await m.get()).values.reduce((n, v) => n + v.value, 0);
}

const started = Date.now();
const endAt = started + minutes * 60_000;
const callers = Array.from({ length: concurrency }, () => caller());
const rounds: Round[] = [];
console.log(`soak: ${String(minutes)} min, ${String(concurrency)} concurrent calls, rounds of ${String(roundS)} s`);
for (let round = 1; Date.now() < endAt; round++) {
  // Faults early in the round, so the round's end measures the recovered state.
  setTimeout(injectFaults, 2000).unref();
  await new Promise((r) => setTimeout(r, Math.min(roundS * 1000, Math.max(0, endAt - Date.now()))));
  trimFakeRecords();
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  const mem = process.memoryUsage();
  const r: Round = {
    round,
    elapsedS: Math.round((Date.now() - started) / 1000),
    callsCompleted: completed,
    callsActive: gateway.calls.size,
    heapMB: Number((mem.heapUsed / 2 ** 20).toFixed(1)),
    rssMB: Number((mem.rss / 2 ** 20).toFixed(1)),
    fds: readdirSync('/proc/self/fd').length,
    ...(await seriesCount().then((c) => ({ metricSeries: c.total, seriesChanged: c.changed }))),
    mediaSocketsActive: await metric('voice_gateway_media_sockets_active'),
    framesSent: framesSentTotal,
    framesLost: framesLostTotal,
    faults: { ...faults },
    vadFallbacks: await metric('voice_gateway_vad_fallbacks_total'),
    vadRecoveries: await metric('voice_gateway_vad_recoveries_total'),
  };
  rounds.push(r);
  console.log(JSON.stringify(r));
}
stopping = true;
await Promise.all(callers);
if (existsSync(crashFlag)) rmSync(crashFlag, { force: true });
await gateway.close(0);
await fake.close();

/** What grew: the checks named in the header. The first round is warm-up (JIT, pools, caches). */
function verdicts(rs: Round[]): string[] {
  const out: string[] = [];
  const measured = rs.slice(1);
  if (measured.length < 2) return ['too few rounds to judge growth: run longer or use shorter --round-s'];
  const first = measured[0];
  const last = measured.at(-1)!;
  const tail = measured.slice(-4);
  for (const key of ['heapMB', 'rssMB'] as const) {
    const rising = tail.length >= 4 && tail.every((x, i) => i === 0 || x[key] > tail[i - 1][key]);
    if (rising && tail.at(-1)![key] - tail[0][key] > 8) out.push(`${key} grew in each of the last 3 rounds (${tail.map((x) => x[key]).join(' -> ')})`);
  }
  if (last.fds > first.fds + 5) out.push(`file descriptors grew: ${String(first.fds)} -> ${String(last.fds)}`);
  // A label value seen for the first time (a rare switch reason, say) adds a series once; a leak adds
  // them round after round. So: series up in each of the last three rounds, or by more than 10 in all.
  const seriesRising = tail.length >= 4 && tail.every((x, i) => i === 0 || x.metricSeries > tail[i - 1].metricSeries);
  if (seriesRising || last.metricSeries > first.metricSeries + 10) out.push(`metric series grew: ${rs.map((x) => x.metricSeries).join(' -> ')}`);
  if (last.framesLost > 0) out.push(`${String(last.framesLost)} frames lost of ${String(last.framesSent)}`);
  if (last.vadRecoveries === 0 && last.faults.workerCrashes > 0) out.push('no call ever returned to Silero after a worker crash');
  return out;
}

const problems = verdicts(rounds);
const summary = { minutes, concurrency, roundS, rounds, problems, ok: problems.length === 0 };
if (values.json) writeFileSync(values.json, `${JSON.stringify(summary, null, 2)}\n`);
console.log(problems.length === 0 ? 'soak: OK, nothing grew round over round' : `soak: FAILED\n- ${problems.join('\n- ')}`);
process.exit(problems.length === 0 ? 0 : 1);
