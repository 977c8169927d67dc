/**
 * How much egress lead (EGRESS_LEAD_MS) keeps the caller's audio gapless. Real Egress pacer, real
 * timers; a reply streams in from the provider faster than real time; the carrier is modelled as
 * both carriers behave: it plays what we send in order, 20 ms a frame, from a buffer, and is silent
 * when the next frame has not arrived (a gap). Two faults, several of each per run:
 *
 * - an event-loop stall: the gateway's thread busy for `--stall-ms` (100) ms, so no timer fires;
 * - a TCP retransmit: one frame lost, so it and everything sent after it (head-of-line blocking)
 *   reaches the carrier only after `--rto-ms` (200: Linux's minimum retransmission timeout) ms.
 *
 * A larger lead costs nothing at barge-in (both carriers drop their buffer on `clear`), so the
 * default is the smallest lead with no gap under either fault.
 *
 * Run: `node --import tsx bench/egress-lead.bench.ts [--leads 60,100,150,200,250,300] [--seconds 6]`.
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { Egress } from '../src/calls/egress.js';

const FRAME_MS = 20;

export interface LeadResult {
  leadMs: number;
  fault: 'stall' | 'retransmit';
  faults: number;
  gaps: number;
  gapMsTotal: number;
  gapMsMax: number;
}

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    /* the event loop is stalled */
  }
}

/** Carrier playout: in order, 20 ms each, starting when the first frame arrives; a gap when the next is late. */
function playoutGaps(arrivals: number[]): { gaps: number; total: number; max: number } {
  let clock = arrivals[0];
  let gaps = 0;
  let total = 0;
  let max = 0;
  for (const at of arrivals) {
    if (at > clock + 0.5) {
      const gap = at - clock;
      gaps++;
      total += gap;
      max = Math.max(max, gap);
      clock = at;
    }
    clock += FRAME_MS;
  }
  return { gaps, total, max };
}

export async function runLead(opts: { leadMs: number; fault: 'stall' | 'retransmit'; seconds: number; stallMs: number; rtoMs: number; netMs?: number }): Promise<LeadResult> {
  const sends: number[] = [];
  const egress = new Egress({
    format: { codec: 'mulaw', sampleRate: 8000 },
    sink: { sendMedia: () => sends.push(performance.now()), sendMark: () => undefined },
    leadMs: opts.leadMs,
    maxQueueMs: 60_000,
    onDrop: () => undefined,
  });
  const totalFrames = (opts.seconds * 1000) / FRAME_MS;
  // The provider's reply: 100 ms of audio every 50 ms (twice real time), as realtime APIs stream it.
  let pushed = 0;
  const feed = setInterval(() => {
    if (pushed >= totalFrames) return;
    egress.pushAudio({ samples: new Int16Array(800).fill(1000), sampleRate: 8000, seq: pushed, timestampMs: pushed * FRAME_MS }, 'r1');
    pushed += 5;
    if (pushed >= totalFrames) egress.endResponse('r1');
  }, 50);
  // Faults at 1.5 s, 3 s and 4.5 s (of a 6 s reply): each well inside the reply.
  const faultAt = [0.25, 0.5, 0.75].map((f) => f * opts.seconds * 1000);
  const lossAt: number[] = [];
  const timers = faultAt.map((at) =>
    setTimeout(() => {
      if (opts.fault === 'stall') busyWait(opts.stallMs);
      else lossAt.push(performance.now());
    }, at),
  );
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (sends.length >= totalFrames) {
        clearInterval(check);
        resolve();
      }
    }, 20);
  });
  clearInterval(feed);
  for (const t of timers) clearTimeout(t);
  egress.close();
  // Network: a fixed one-way delay, plus head-of-line blocking after each lost frame.
  const net = opts.netMs ?? 20;
  const arrivals = sends.map((s) => {
    let at = s + net;
    for (const l of lossAt) if (s >= l && s < l + opts.rtoMs) at = Math.max(at, l + opts.rtoMs + net);
    return at;
  });
  const g = playoutGaps(arrivals);
  return { leadMs: opts.leadMs, fault: opts.fault, faults: faultAt.length, gaps: g.gaps, gapMsTotal: Math.round(g.total), gapMsMax: Math.round(g.max) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      leads: { type: 'string', default: '60,100,150,200,250,300' },
      seconds: { type: 'string', default: '6' },
      'stall-ms': { type: 'string', default: '100' },
      'rto-ms': { type: 'string', default: '200' },
    },
  });
  const leads = values.leads.split(',').map(Number);
  const rows: LeadResult[] = [];
  for (const leadMs of leads) {
    for (const fault of ['stall', 'retransmit'] as const) {
      rows.push(await runLead({ leadMs, fault, seconds: Number(values.seconds), stallMs: Number(values['stall-ms']), rtoMs: Number(values['rto-ms']) }));
    }
  }
  console.log(`egress lead vs gaps (${values.seconds} s reply; stall ${values['stall-ms']} ms; retransmit after ${values['rto-ms']} ms; 3 faults each)`);
  console.log('lead_ms  fault       gaps  gap_ms_total  gap_ms_max');
  for (const r of rows) {
    console.log(`${String(r.leadMs).padStart(7)}  ${r.fault.padEnd(10)}  ${String(r.gaps).padStart(4)}  ${String(r.gapMsTotal).padStart(12)}  ${String(r.gapMsMax).padStart(10)}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
