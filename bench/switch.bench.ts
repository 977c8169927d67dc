/**
 * Failover switch time: trigger -> the new provider has taken every held and replayed frame, cold
 * (connect on the switch path) and with a warm standby, over many switches, with a set handshake delay.
 * Two provider kinds: an in-process scripted provider (whose connect waits the handshake delay, and
 * which checks by sequence number that no frame is lost), and the loopback Deepgram fake over real
 * WebSockets (two upgrades per connect, each delayed).
 *
 * Run: `node --import tsx bench/switch.bench.ts [--switches 200] [--handshake-ms 50]`.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Call } from '../src/calls/call.js';
import { createMetrics } from '../src/observability/metrics.js';
import { silentLogger } from '../src/observability/logger.js';
import { createVadService } from '../src/pipeline/vad/vad-service.js';
import { GuardedProvider } from '../src/providers/guard.js';
import { DeepgramCascadeProvider } from '../src/providers/deepgram/cascade-provider.js';
import { EchoResponder } from '../src/providers/deepgram/responder.js';
import type { Provider } from '../src/providers/types.js';
import { ScriptedProvider } from '../test/fakes/scripted-provider.js';
import { DeepgramFake } from '../test/fakes/deepgram-fake.js';
import { silentTwilioTransport } from '../test/support/silent-transport.js';

export interface SwitchBenchResult {
  kind: string;
  mode: 'cold' | 'warm';
  handshakeMs: number;
  switches: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  framesLost: number;
  warmTaken: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runOne(kind: 'scripted' | 'deepgram-loopback', mode: 'cold' | 'warm', switches: number, handshakeMs: number): Promise<SwitchBenchResult> {
  const metrics = createMetrics();
  const logger = silentLogger();
  let fake: DeepgramFake | undefined;
  let a: Provider;
  let b: Provider;
  if (kind === 'scripted') {
    a = new ScriptedProvider('a', { connectDelayMs: handshakeMs });
    b = new ScriptedProvider('b', { connectDelayMs: handshakeMs });
  } else {
    fake = await DeepgramFake.start({ apiKey: 'bench-key', handshakeDelayMs: handshakeMs });
    const cfg = { apiKey: 'bench-key', baseUrl: fake.url, sttModel: 'nova-3', ttsModel: 'aura-2-thalia-en' };
    a = Object.assign(new DeepgramCascadeProvider(cfg, { responder: new EchoResponder() }), {});
    b = new DeepgramCascadeProvider(cfg, { responder: new EchoResponder() });
    Object.defineProperty(a, 'name', { value: 'dg-a' });
    Object.defineProperty(b, 'name', { value: 'dg-b' });
  }
  const breaker = { errorThresholdPercentage: 50, volumeThreshold: 1000, resetTimeoutMs: 60_000, connectTimeoutMs: 10_000, rollingWindowMs: 60_000 };
  const guarded = [a, b].map((p) => new GuardedProvider(p, { metrics, logger, breaker }));
  const vad = createVadService({ engine: 'off', metrics, logger });
  const transport = silentTwilioTransport();
  const call = new Call({
    id: 'bench',
    carrierCallId: 'bench',
    correlationId: 'bench',
    transport,
    provider: guarded[0],
    providers: guarded,
    failover: { switchDeadlineMs: 10_000, responseTimeoutMs: 60_000, failback: false, allDown: 'hangup', standby: mode === 'warm' },
    vad,
    metrics,
    logger,
    media: { egressLeadMs: 60, egressMaxQueueMs: 60_000 },
  });
  await call.start();
  const frame = new Uint8Array(160).fill(0xff);
  // Caller audio keeps flowing (a frame every 20 ms) so every switch has frames to hold and replay.
  const feeder = setInterval(() => call.handleMedia(frame), 20);
  const durations: number[] = [];
  let warmTaken = 0;
  let framesLost = 0;
  try {
    for (let i = 0; i < switches; i++) {
      // Let the standby (re)connect, and some frames arrive, before the next switch.
      await sleep(mode === 'warm' ? handshakeMs * (kind === 'scripted' ? 1 : 2) + 40 : 40);
      const target = call.provider === guarded[0].name ? guarded[1].name : guarded[0].name;
      const record = await call.switchProvider('manual', target);
      if (record.result !== 'ok') throw new Error(`switch ${String(i)} failed: ${JSON.stringify(record)}`);
      durations.push(record.durationMs);
      if (record.attempts.at(-1)?.warm) warmTaken++;
      if (kind === 'scripted') {
        const p = (target === 'a' ? a : b) as ScriptedProvider;
        const seqs = p.current!.seqs;
        for (let k = 1; k < seqs.length; k++) if (seqs[k] !== seqs[k - 1] + 1) framesLost++;
      }
    }
  } finally {
    clearInterval(feeder);
    await call.end('bench_over');
    await vad.close();
    metrics.close();
    await fake?.close();
  }
  durations.sort((x, y) => x - y);
  return {
    kind,
    mode,
    handshakeMs,
    switches,
    p50Ms: pct(durations, 50),
    p99Ms: pct(durations, 99),
    maxMs: durations.at(-1) ?? 0,
    framesLost,
    warmTaken,
  };
}

export async function run(opts: { switches?: number; handshakeMs?: number } = {}): Promise<SwitchBenchResult[]> {
  const switches = opts.switches ?? 200;
  const handshakeMs = opts.handshakeMs ?? 50;
  const out: SwitchBenchResult[] = [];
  for (const kind of ['scripted', 'deepgram-loopback'] as const) {
    for (const mode of ['cold', 'warm'] as const) out.push(await runOne(kind, mode, switches, handshakeMs));
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { switches: { type: 'string' }, 'handshake-ms': { type: 'string' } } });
  const rows = await run({ switches: values.switches ? Number(values.switches) : undefined, handshakeMs: values['handshake-ms'] ? Number(values['handshake-ms']) : undefined });
  console.table(rows);
}
