/**
 * The egress pacer alone, A/B in one process (issue 16): N calls' Egresses on the process's one shared
 * EgressClock vs each on a clock of its own (a timer per call, as before the shared clock). Same
 * sockets, same sink (Twilio media/mark JSON over a ws server to loopback callers in a child process,
 * corked when a tick has several messages), same replies: every `--reply-every-s` each call gets a
 * `--reply-s` reply all at once (as a fast provider streams it), staggered across calls. Modes alternate
 * within each round, so a shared machine's load falls on both alike.
 *
 * Reported per mode (medians over rounds): this process's CPU ms per call-second, pacing jitter
 * p50/p99 (|written - due| of each paced frame, EgressOptions.onPacingJitter), event-loop delay p99
 * (monitorEventLoopDelay), frames written per call-second.
 *
 * Run: `node --import tsx bench/egress-pacing.bench.ts [--calls 100] [--seconds 10] [--rounds 2]`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { WebSocket } from 'ws';
import { Egress } from '../src/calls/egress.js';
import { EgressClock } from '../src/calls/egress-clock.js';
import { TwilioProtocol } from '../src/carriers/twilio/protocol.js';
import { corkableSocketOf } from '../src/transports/socket-cork.js';
import { callersEntry, startCallers } from './loopback-callers.js';

type Mode = 'shared clock' | 'clock per call';
const MODES: readonly Mode[] = ['clock per call', 'shared clock'];

interface Row {
  mode: Mode;
  cpuMsPerCallSecond: number;
  jitterP50: number;
  jitterP99: number;
  loopDelayP99: number;
  framesPerCallSecond: number;
}

const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = xs.sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

async function run(peers: WebSocket[], mode: Mode, o: { seconds: number; replyS: number; replyEveryS: number; leadMs: number }): Promise<Row> {
  const protocol = new TwilioProtocol();
  const clock = mode === 'shared clock' ? new EgressClock() : undefined;
  const jitter: number[] = [];
  let measuring = false;
  let frames = 0;
  const egresses = peers.map((ws) => {
    const tcp = corkableSocketOf(ws);
    return new Egress({
      format: { codec: 'mulaw', sampleRate: 8000 },
      sink: {
        sendMedia: (payload) => {
          ws.send(protocol.media(payload));
          if (measuring) frames++;
        },
        sendMark: (name) => ws.send(protocol.mark(name)),
        cork: () => tcp?.cork(),
        uncork: () => tcp?.uncork(),
      },
      leadMs: o.leadMs,
      maxQueueMs: 60_000,
      onDrop: () => undefined,
      onPacingJitter: (ms) => {
        if (measuring) jitter.push(ms);
      },
      clock,
    });
  });
  const reply = new Uint8Array(o.replyS * 8000).fill(0x7f);
  let n = 0;
  const feeders = egresses.map((egress, i) => {
    const feed = () => {
      const id = `r${String(n++)}`;
      egress.clear();
      egress.pushAudio({ codec: 'mulaw', payload: reply, sampleRate: 8000, seq: 0, timestampMs: 0, sampleCount: reply.length }, id);
      egress.endResponse(id);
    };
    const start = setTimeout(feed, (i * o.replyEveryS * 1000) / egresses.length);
    const every = setInterval(feed, o.replyEveryS * 1000);
    return () => {
      clearTimeout(start);
      clearInterval(every);
    };
  });
  await new Promise((r) => setTimeout(r, o.replyEveryS * 1000)); // every call under way
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  measuring = true;
  const cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  measuring = false;
  loop.disable();
  for (const stop of feeders) stop();
  for (const e of egresses) e.close();
  clock?.close();
  const callSeconds = peers.length * o.seconds;
  return {
    mode,
    cpuMsPerCallSecond: (cpu.user + cpu.system) / 1000 / callSeconds,
    jitterP50: quantile(jitter, 0.5),
    jitterP99: quantile(jitter, 0.99),
    loopDelayP99: loop.percentile(99) / 1e6,
    framesPerCallSecond: frames / callSeconds,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      calls: { type: 'string', default: '100' },
      seconds: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '2' },
      'reply-s': { type: 'string', default: '3' },
      'reply-every-s': { type: 'string', default: '4' },
      'lead-ms': { type: 'string', default: '60' },
    },
  });
  const o = { seconds: Number(values.seconds), replyS: Number(values['reply-s']), replyEveryS: Number(values['reply-every-s']), leadMs: Number(values['lead-ms']) };
  const { peers, close } = await startCallers(process.argv[1], Number(values.calls));
  const rows: Row[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    const order = round % 2 === 0 ? MODES : [...MODES].reverse();
    for (const mode of order) rows.push(await run(peers, mode, o));
  }
  await close();
  console.log(`egress pacing: ${values.calls} calls, ${values.seconds} s per mode, ${values.rounds} rounds, ${values['reply-s']} s replies every ${values['reply-every-s']} s, lead ${values['lead-ms']} ms (and medians)`);
  const line = (label: string, f: (g: (r: Row) => number) => number) =>
    `${label.padEnd(22)}  ${f((r) => r.cpuMsPerCallSecond).toFixed(3).padStart(13)}  ${f((r) => r.jitterP50).toFixed(2).padStart(13)}  ${f((r) => r.jitterP99).toFixed(2).padStart(13)}  ${f((r) => r.loopDelayP99).toFixed(2).padStart(17)}  ${f((r) => r.framesPerCallSecond).toFixed(1).padStart(13)}`;
  console.log('run                     cpu_ms/call-s  jitter_p50_ms  jitter_p99_ms  loop_delay_p99_ms  frames/call-s');
  rows.forEach((r, i) => console.log(line(`${String(Math.floor(i / MODES.length) + 1)}. ${r.mode}`, (g) => g(r))));
  for (const mode of MODES) {
    const mine = rows.filter((r) => r.mode === mode);
    console.log(line(`median ${mode}`, (g) => quantile(mine.map(g), 0.5)));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && !(await callersEntry())) await main();
