/**
 * Does corking the TCP socket around one egress tick's messages pay? (issue 16) The gateway's side of
 * the media WebSocket is the `ws` server; this process is that server, writing Twilio-shaped `media`
 * JSON (a 20 ms mu-law frame, base64) and `mark` messages to N loopback callers in a child process that
 * only reads. Each tick writes K messages per socket (1: steady pacing; 2: a frame and its mark, or a
 * late tick's two frames; 4: a short lead burst), plain or corked (src/transports/socket-cork.ts).
 * Reported per message: this process's CPU (user+system, process.cpuUsage) and write syscalls
 * (/proc/self/io syscw: write and writev alike). Modes alternate within each round, so a shared
 * machine's load falls on both alike.
 *
 * Run: `node --import tsx bench/egress-cork.bench.ts [--sockets 100] [--ticks 1500] [--rounds 3]`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { WebSocket } from 'ws';
import { corkableSocketOf } from '../src/transports/socket-cork.js';
import { callersEntry, startCallers } from './loopback-callers.js';

function writeSyscalls(): number {
  const m = /syscw:\s*(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
}

const frame = JSON.stringify({ event: 'media', streamSid: 'MZ0123456789abcdef0123456789abcdef', media: { payload: Buffer.alloc(160, 0xff).toString('base64') } });
const mark = JSON.stringify({ event: 'mark', streamSid: 'MZ0123456789abcdef0123456789abcdef', mark: { name: 'end:resp_0123456789' } });

interface Row {
  perTick: number;
  corked: boolean;
  messages: number;
  cpuUsPerMsg: number;
  syscallsPerMsg: number;
}

async function run(peers: WebSocket[], perTick: number, corked: boolean, ticks: number): Promise<Row> {
  const tcp = peers.map((ws) => corkableSocketOf(ws));
  const cpu0 = process.cpuUsage();
  const sys0 = writeSyscalls();
  for (let t = 0; t < ticks; t++) {
    for (let i = 0; i < peers.length; i++) {
      if (corked) tcp[i]?.cork();
      for (let k = 0; k < perTick; k++) peers[i].send(k === perTick - 1 && perTick > 1 ? mark : frame);
      if (corked) tcp[i]?.uncork();
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  const cpu = process.cpuUsage(cpu0);
  const messages = ticks * peers.length * perTick;
  return { perTick, corked, messages, cpuUsPerMsg: (cpu.user + cpu.system) / messages, syscallsPerMsg: (writeSyscalls() - sys0) / messages };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sockets: { type: 'string', default: '100' },
      ticks: { type: 'string', default: '1500' },
      rounds: { type: 'string', default: '3' },
    },
  });
  const { peers, close } = await startCallers(process.argv[1], Number(values.sockets));
  const rows: Row[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const perTick of [1, 2, 4]) {
      for (const corked of round % 2 === 0 ? [false, true] : [true, false]) rows.push(await run(peers, perTick, corked, Number(values.ticks)));
    }
  }
  await close();
  console.log(`egress cork: ${values.sockets} sockets, ${values.ticks} ticks per mode, ${values.rounds} rounds (medians)`);
  console.log('msgs/tick  mode     cpu_us/msg  write_syscalls/msg');
  for (const perTick of [1, 2, 4]) {
    for (const corked of [false, true]) {
      const mine = rows.filter((r) => r.perTick === perTick && r.corked === corked);
      const median = (f: (r: Row) => number) => mine.map(f).sort((a, b) => a - b)[Math.floor(mine.length / 2)];
      console.log(`${String(perTick).padStart(9)}  ${(corked ? 'corked' : 'plain').padEnd(7)}  ${median((r) => r.cpuUsPerMsg).toFixed(2).padStart(10)}  ${median((r) => r.syscallsPerMsg).toFixed(3).padStart(18)}`);
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && !(await callersEntry())) await main();
