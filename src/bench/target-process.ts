/**
 * The bridge under test runs in its own process, so its CPU and memory are its own and not the load
 * generator's: the gateway (`voice-gateway serve`) or a BenchExtension's reference bridge (--baseline,
 * started by the command the extension gives). CPU and RSS are read from /proc/<pid> for both (all threads: the gateway's VAD workers count), heap
 * and event-loop delay from the gateway's /metrics or the baseline's IPC stats answer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../util/net.js';
import { pinnedCommand } from './cpu-pinning.js';
import { PACKAGE_ROOT } from './extension.js';
import { parsePromText, promValue, type PromSample } from './prom-text.js';

export type TargetKind = 'gateway' | 'baseline';

export interface ResourceSample {
  at: number;
  cpuSeconds: number;
  /**
   * CPU of the main threads alone (each process's event loop: the one thread a process cannot spread
   * over cores), from /proc/<pid>/task/<pid>; undefined when /proc is not read (--url without --pid).
   */
  mainThreadCpuSeconds?: number;
  rssBytes: number;
  heapUsedBytes: number | undefined;
  eventLoopDelayP99Ms: number | undefined;
}

export interface TargetProcess {
  readonly kind: TargetKind;
  readonly pid: number;
  readonly baseUrl: string;
  resources(): Promise<ResourceSample>;
  /** The gateway's /metrics, parsed (undefined for the baseline). */
  metrics(): Promise<PromSample[] | undefined>;
  /** JSON log lines at warn or above, and the last lines of output, for the report. */
  readonly warnings: string[];
  readonly outputTail: string[];
  stop(): Promise<void>;
}

const RUNNING_FROM_DIST = fileURLToPath(import.meta.url).includes('/dist/');
const CLK_TCK = 100; // USER_HZ on Linux: /proc times are in 1/100 s
/**
 * perf_hooks.monitorEventLoopDelay records each whole sampling interval, not the lateness: an idle
 * process reads about `resolution`. The gateway samples every 10 ms (observability/metrics.ts), and so
 * does the baseline's probe; the figures here are the lateness, with the interval taken off.
 */
export const LOOP_MONITOR_RESOLUTION_MS = 10;
const lateness = (intervalMs: number) => Math.max(0, intervalMs - LOOP_MONITOR_RESOLUTION_MS);

/** How to start the gateway: this package's own CLI, from dist when this runs from dist, else from source via tsx. */
export function gatewayCommand(): string[] {
  if (RUNNING_FROM_DIST) return [PACKAGE_ROOT + 'dist/cli/bin.js', 'serve'];
  return ['--import', 'tsx', PACKAGE_ROOT + 'src/cli/bin.ts', 'serve'];
}

/** utime + stime of a /proc stat file, in seconds. */
function statCpuSeconds(path: string): number {
  const stat = readFileSync(path, 'utf8');
  // Fields after the command name (which may hold spaces) start at ") ": utime is field 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

interface ProcSample {
  cpuSeconds: number;
  mainThreadCpuSeconds: number;
  rssBytes: number;
}

function procSampleOne(pid: number): ProcSample | undefined {
  try {
    // The main thread's task id is the process id. Read before the process's own line, so the part
    // is never read later than the whole it belongs to.
    const mainThreadCpuSeconds = statCpuSeconds(`/proc/${String(pid)}/task/${String(pid)}/stat`);
    const cpuSeconds = statCpuSeconds(`/proc/${String(pid)}/stat`);
    const status = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuSeconds, mainThreadCpuSeconds, rssBytes: rssKb * 1024 };
  } catch {
    return undefined;
  }
}

/** Every descendant of `pid` (serve --processes N forks its gateway processes), from /proc's parent links. */
function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      /* gone meanwhile */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/**
 * CPU and RSS of a target and its child processes (a cluster's gateway processes). CPU of a child
 * that exited during the window is lost from the sum; the bench starts and stops its targets whole.
 */
function procSample(pid: number): ProcSample | undefined {
  const own = procSampleOne(pid);
  if (!own) return undefined;
  for (const child of descendantsOf(pid)) {
    const s = procSampleOne(child);
    if (s) {
      own.cpuSeconds += s.cpuSeconds;
      own.mainThreadCpuSeconds += s.mainThreadCpuSeconds;
      own.rssBytes += s.rssBytes;
    }
  }
  return own;
}

interface BaselineStats {
  cpuSeconds: number;
  rssBytes: number;
  heapUsedBytes: number;
  eventLoopDelayP99Ms: number;
}

function targetArgs(kind: TargetKind, command: string[] | undefined): string[] {
  if (command) return command;
  if (kind === 'gateway') return gatewayCommand();
  throw new Error('a baseline bridge is started by the command its bench extension gives');
}

export async function startTarget(opts: {
  kind: TargetKind;
  env: Record<string, string | undefined>;
  /** Node arguments; the gateway's default is gatewayCommand(), a baseline has none of its own. */
  command?: string[];
  readyTimeoutMs?: number;
  cpuProfileDir?: string;
  /** Run on these CPUs only (taskset; the caller checked it is available). */
  cpus?: readonly number[];
}): Promise<TargetProcess> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${String(port)}`;
  const args = [...(opts.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfileDir}`] : []), ...targetArgs(opts.kind, opts.command)];
  const env: Record<string, string | undefined> = { ...opts.env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: baseUrl };
  // taskset execs node, so the pid, the IPC channel and /proc/<pid> are node's own.
  const launch = pinnedCommand(opts.cpus, process.execPath, args);
  const child: ChildProcess = spawn(launch.command, launch.args, { cwd: PACKAGE_ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const warnings: string[] = [];
  const outputTail: string[] = [];
  const onLine = (line: string) => {
    if (!line.trim()) return;
    outputTail.push(line.slice(0, 400));
    if (outputTail.length > 30) outputTail.shift();
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string; event?: string; reason?: string };
      if ((j.level ?? 0) >= 40 && warnings.length < 200) warnings.push(`${String(j.event ?? '')}: ${String(j.msg ?? '')}${j.reason ? ` (${j.reason})` : ''}`);
    } catch {
      /* not a JSON log line */
    }
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let buffered = '';
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let i;
      while ((i = buffered.indexOf('\n')) >= 0) {
        onLine(buffered.slice(0, i));
        buffered = buffered.slice(i + 1);
      }
    });
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const pid = child.pid!;

  // Ready: the gateway's /ready (workers up), the baseline's /health.
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  const path = opts.kind === 'gateway' ? '/ready' : '/health';
  // What the last poll saw, for the error when the target never gets ready (its log may say nothing).
  let lastAnswer: string;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${opts.kind} exited with ${String(child.exitCode)} before it was ready:\n${outputTail.join('\n')}`);
    try {
      // Bounded: a target that accepts the connection and never answers must not stall the poll.
      const res = await fetch(baseUrl + path, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
      lastAnswer = `HTTP ${String(res.status)} ${(await res.text()).slice(0, 300)}`;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      lastAnswer = `no answer (${cause ?? (err as Error).name})`;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${opts.kind} not ready within ${String(opts.readyTimeoutMs ?? 60_000)} ms (last ${path}: ${lastAnswer}):\n${outputTail.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const baselineStats = () =>
    new Promise<BaselineStats | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 2000);
      child.once('message', (m: unknown) => {
        clearTimeout(timer);
        resolve(m as BaselineStats);
      });
      child.send('stats');
    });

  const metrics = async (): Promise<PromSample[] | undefined> => {
    if (opts.kind !== 'gateway') return undefined;
    const res = await fetch(`${baseUrl}/metrics`);
    return parsePromText(await res.text());
  };

  return {
    kind: opts.kind,
    pid,
    baseUrl,
    warnings,
    outputTail,
    metrics,
    async resources() {
      const at = performance.now();
      const proc = procSample(pid);
      if (opts.kind === 'baseline') {
        const s = await baselineStats();
        return { at, cpuSeconds: proc?.cpuSeconds ?? s?.cpuSeconds ?? 0, mainThreadCpuSeconds: proc?.mainThreadCpuSeconds, rssBytes: proc?.rssBytes ?? s?.rssBytes ?? 0, heapUsedBytes: s?.heapUsedBytes, eventLoopDelayP99Ms: s === undefined ? undefined : lateness(s.eventLoopDelayP99Ms) };
      }
      const m = (await metrics())!;
      return {
        at,
        cpuSeconds: proc?.cpuSeconds ?? promValue(m, 'voice_gateway_process_cpu_seconds_total'),
        mainThreadCpuSeconds: proc?.mainThreadCpuSeconds,
        rssBytes: proc?.rssBytes ?? promValue(m, 'voice_gateway_process_resident_memory_bytes'),
        heapUsedBytes: promValue(m, 'voice_gateway_nodejs_heap_size_used_bytes'),
        eventLoopDelayP99Ms: lateness(promValue(m, 'voice_gateway_event_loop_delay_seconds', { quantile: '0.99' }) * 1000),
      };
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/**
 * A gateway someone else started (--url): resources from its /metrics (process CPU and RSS of the
 * default metrics), or from /proc when its pid is given. It is not stopped.
 */
export function attachTarget(baseUrl: string, pid?: number): TargetProcess {
  const metrics = async () => parsePromText(await (await fetch(`${baseUrl.replace(/\/+$/, '')}/metrics`)).text());
  return {
    kind: 'gateway',
    pid: pid ?? 0,
    baseUrl: baseUrl.replace(/\/+$/, ''),
    warnings: [],
    outputTail: [],
    metrics,
    async resources() {
      const at = performance.now();
      const m = await metrics();
      const proc = pid ? procSample(pid) : undefined;
      return {
        at,
        cpuSeconds: proc?.cpuSeconds ?? promValue(m, 'voice_gateway_process_cpu_seconds_total'),
        mainThreadCpuSeconds: proc?.mainThreadCpuSeconds,
        rssBytes: proc?.rssBytes ?? promValue(m, 'voice_gateway_process_resident_memory_bytes'),
        heapUsedBytes: promValue(m, 'voice_gateway_nodejs_heap_size_used_bytes'),
        eventLoopDelayP99Ms: lateness(promValue(m, 'voice_gateway_event_loop_delay_seconds', { quantile: '0.99' }) * 1000),
      };
    },
    async stop() {
      /* not ours to stop */
    },
  };
}
