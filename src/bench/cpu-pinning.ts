/**
 * --gateway-cpus / --harness-cpus: the bench's bridge process and its own load generator on cores
 * they do not share, so "calls per core" is measured on cores nothing else runs on (issue 16 asks
 * for find-max "on a machine whose cores are not shared with the load generator"; on one box this
 * is the way to get it). Linux only, through util-linux's taskset (there is no affinity API in Node):
 * the bridge is started as `taskset -c LIST node ...` (taskset execs, so the pid is node's, and
 * every thread and child process it makes inherits the mask), and the bench pins its own threads
 * once with `taskset -a -p`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { platform } from 'node:os';

/** taskset's list syntax: "1", "0,2", "0-3", "0-1,4". Sorted, no duplicates. */
export function parseCpuList(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new Error(`not a CPU list (e.g. 1, 0,2 or 0-3): '${text}'`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new Error(`CPU range ${part.trim()} runs backwards in '${text}'`);
    for (let cpu = from; cpu <= to; cpu++) out.add(cpu);
  }
  return [...out].sort((a, b) => a - b);
}

export const formatCpuList = (cpus: readonly number[]): string => cpus.join(',');

/** Throws unless pinning can work here: Linux with taskset on the PATH. */
export function assertPinningAvailable(): void {
  if (platform() !== 'linux') throw new Error(`CPU pinning needs Linux (taskset); this is ${platform()}`);
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('CPU pinning needs taskset (util-linux) on the PATH');
  }
}

/** The command line that runs `execPath args` on `cpus` only (unchanged without cpus). */
export function pinnedCommand(cpus: readonly number[] | undefined, execPath: string, args: readonly string[]): { command: string; args: string[] } {
  if (!cpus || cpus.length === 0) return { command: execPath, args: [...args] };
  return { command: 'taskset', args: ['-c', formatCpuList(cpus), execPath, ...args] };
}

/** Moves every thread of a running process onto `cpus`; threads it starts later inherit the mask. */
export function pinProcess(pid: number, cpus: readonly number[]): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', formatCpuList(cpus), String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    throw new Error(`taskset could not pin pid ${String(pid)} to CPU ${formatCpuList(cpus)}${stderr ? `: ${stderr}` : ''}`, { cause: err });
  }
}

/** The CPUs a process may run on, from /proc (Linux). */
export function allowedCpus(pid: number | 'self'): number[] {
  const status = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(status);
  if (!m) throw new Error(`no Cpus_allowed_list in /proc/${String(pid)}/status`);
  return parseCpuList(m[1]!);
}
