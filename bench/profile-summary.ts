/**
 * Where a `--cpu-prof` run spent its time: self time per function (or per source file), and with
 * `--inclusive` the time under each function (a sample counts once for every distinct function on its
 * stack). Samples are weighed by their time deltas, not counted.
 *
 *   node --import tsx bench/profile-summary.ts DIR_OR_FILE [--top N] [--by file] [--inclusive] [--match TEXT]
 *
 * With `bench --cpu-prof DIR` each gateway process writes one profile per thread (main thread `.0.`).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const target = args[0];
const top = Number(flag('--top') ?? 40);
const byFile = flag('--by') === 'file';
const inclusive = args.includes('--inclusive');
const match = flag('--match') ?? '';
if (!target) {
  console.error('usage: node --import tsx bench/profile-summary.ts DIR_OR_FILE [--top N] [--by file] [--inclusive] [--match TEXT]');
  process.exit(2);
}

const short = (url: string): string => url.replace(/^file:\/\//, '').split('/').slice(-2).join('/');
const keyOf = (cf: CallFrame): string =>
  byFile ? short(cf.url) || cf.functionName : `${cf.functionName || '(anon)'} ${short(cf.url)}:${String(cf.lineNumber + 1)}`;

function summarise(file: string): void {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const time = new Map<string, number>();
  let total = 0;
  let idle = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i + 1] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    total += dt;
    if (node.callFrame.functionName === '(idle)') {
      idle += dt;
      return;
    }
    if (!inclusive) {
      const k = keyOf(node.callFrame);
      time.set(k, (time.get(k) ?? 0) + dt);
      return;
    }
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n) seen.add(keyOf(n.callFrame));
    }
    for (const k of seen) time.set(k, (time.get(k) ?? 0) + dt);
  });
  const busy = total - idle;
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled, busy ${(busy / 1e6).toFixed(1)} s (${((100 * busy) / (total || 1)).toFixed(1)} %)`);
  console.log(`  % of busy      ms  ${inclusive ? 'inclusive' : 'self'}`);
  [...time]
    .filter(([k]) => k.includes(match))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([k, t]) => console.log(`${((100 * t) / (busy || 1)).toFixed(1).padStart(11)} ${(t / 1e3).toFixed(0).padStart(7)}  ${k}`));
}

const files = statSync(target).isDirectory()
  ? readdirSync(target).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => join(target, f))
  : [target];
for (const f of files) summarise(f);
