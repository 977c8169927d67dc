/**
 * bench --gateway-cpus / --harness-cpus: the CPU list syntax, and that a pinned process really runs
 * on those CPUs only (read back from /proc, Linux with taskset; elsewhere the pinning tests skip
 * with a notice, and the CLI refuses the flags).
 */
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { allowedCpus, assertPinningAvailable, parseCpuList, pinProcess, pinnedCommand } from '../../src/bench/cpu-pinning.js';
import { startTarget } from '../../src/bench/target-process.js';
import { parseBenchArgs } from '../../src/cli/commands/bench.js';
import { findMaxLines, type FindMaxResult } from '../../src/bench/report.js';

let pinning = true;
try {
  assertPinningAvailable();
} catch (err) {
  pinning = false;
  console.warn(`\n*** SKIPPING the CPU pinning checks: ${(err as Error).message} ***\n`);
}

describe('CPU lists', () => {
  it('reads taskset list syntax, sorted and without duplicates', () => {
    expect(parseCpuList('1')).toEqual([1]);
    expect(parseCpuList('0,2')).toEqual([0, 2]);
    expect(parseCpuList('2-4')).toEqual([2, 3, 4]);
    expect(parseCpuList('3, 0-1,1')).toEqual([0, 1, 3]);
  });

  it.each(['', 'a', '1-', '3-1', '1;2', '-1'])('refuses %j', (text) => {
    expect(() => parseCpuList(text)).toThrow(/CPU/);
  });

  it('runs a command unchanged without CPUs, under taskset with them', () => {
    expect(pinnedCommand(undefined, '/usr/bin/node', ['a.js'])).toEqual({ command: '/usr/bin/node', args: ['a.js'] });
    expect(pinnedCommand([0, 1], '/usr/bin/node', ['a.js'])).toEqual({ command: 'taskset', args: ['-c', '0,1', '/usr/bin/node', 'a.js'] });
  });
});

describe.skipIf(!pinning)('pinned processes (Linux, taskset)', () => {
  // A stand-in bridge: answers /health as the baseline does, and nothing else.
  const tinyBridge = [
    '-e',
    "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1'); process.on('message', () => process.send({}));",
  ];

  it('starts the bridge under test on the given CPU only', { timeout: 30_000 }, async () => {
    const target = await startTarget({ kind: 'baseline', env: { PATH: process.env.PATH }, command: tinyBridge, cpus: [0] });
    try {
      expect(allowedCpus(target.pid)).toEqual([0]);
      // taskset exec'd node: the pid whose /proc the bench reads is node's own.
      expect(realpathSync(`/proc/${String(target.pid)}/exe`)).toBe(realpathSync(process.execPath));
    } finally {
      await target.stop();
    }
  });

  it('moves a running process, and the threads it starts later, onto the given CPU', { timeout: 30_000 }, async () => {
    const child = spawn(process.execPath, ['-e', "process.stdin.once('data', () => { const { Worker } = require('node:worker_threads'); new Worker('setTimeout(() => {}, 1e5)', { eval: true }).on('online', () => console.log('up')); }); setTimeout(() => {}, 1e5);"], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await once(child, 'spawn');
      pinProcess(child.pid!, [0]);
      expect(allowedCpus(child.pid!)).toEqual([0]);
      child.stdin.write('go\n');
      await once(child.stdout, 'data');
      const { readdirSync } = await import('node:fs');
      const threads = readdirSync(`/proc/${String(child.pid)}/task`);
      expect(threads.length).toBeGreaterThan(1);
      for (const tid of threads) expect(allowedCpus(Number(tid))).toEqual([0]);
    } finally {
      child.kill();
    }
  });
});

describe.skipIf(!pinning)('bench --gateway-cpus / --harness-cpus', () => {
  const allowed = pinning ? allowedCpus('self') : [];
  const others = (taken: number) => allowed.filter((c) => c !== taken);

  it.skipIf(allowed.length < 2)('gives the other side the rest of the CPUs when only one list is given', () => {
    const g = parseBenchArgs(['--gateway-cpus', String(allowed[0])], {});
    expect(g.gatewayCpus).toEqual([allowed[0]]);
    expect(g.harnessCpus).toEqual(others(allowed[0]!));
    expect(parseBenchArgs(['--gateway-cpus', String(allowed[0]), '--processes', 'auto'], {}).processes).toEqual([1]);
    // The bench pinned alone would hand its CPUs down to the gateway it starts: the gateway is pinned apart.
    const h = parseBenchArgs(['--harness-cpus', String(allowed[0])], {});
    expect(h.harnessCpus).toEqual([allowed[0]]);
    expect(h.gatewayCpus).toEqual(others(allowed[0]!));
  });

  it('refuses overlapping lists, CPUs this process may not use, a list that leaves the other side none, and --url', () => {
    expect(() => parseBenchArgs(['--gateway-cpus', String(allowed[0]), '--harness-cpus', String(allowed[0])], {})).toThrow(/share CPU/);
    expect(() => parseBenchArgs(['--gateway-cpus', String(Math.max(...allowed) + 1)], {})).toThrow(/--gateway-cpus: this process may run on CPU/);
    expect(() => parseBenchArgs(['--gateway-cpus', 'x'], {})).toThrow(/--gateway-cpus/);
    expect(() => parseBenchArgs(['--gateway-cpus', allowed.join(',')], {})).toThrow(/leaves no CPU for the other side/);
    expect(() => parseBenchArgs(['--gateway-cpus', String(allowed[0]), '--url', 'http://127.0.0.1:1'], {})).toThrow(/no --url/);
    expect(() => parseBenchArgs(['--harness-cpus', String(allowed[0]), '--url', 'http://127.0.0.1:1'], {})).toThrow(/no --url/);
  });
});

describe('bench CPU flags where pinning is not possible', () => {
  it('refuses them with the reason', () => {
    // Without taskset on the PATH (and off Linux whatever the PATH), pinning cannot work.
    const path = process.env.PATH;
    process.env.PATH = '';
    try {
      expect(() => parseBenchArgs(['--gateway-cpus', '0'], {})).toThrow(/--gateway-cpus: CPU pinning needs (Linux|taskset)/);
      expect(() => parseBenchArgs(['--harness-cpus', '0'], {})).toThrow(/--harness-cpus: CPU pinning needs (Linux|taskset)/);
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('find-max line', () => {
  const base: FindMaxResult = { vad: 'silero', provider: 'fake-openai', criteria: { addedP99Ms: 5, jitterP99Ms: 2, cpuShare: 0.8 }, maxCalls: 120, cores: 1, callsPerCore: 120, callsPerGatewayCore: 130, bound: 'x', steps: [] };

  it('names the pinned CPU and whether the load generator stayed off it', () => {
    expect(findMaxLines({ ...base, pinnedCpus: [1], coresExclusive: true })[0]).toBe(
      'find-max (vad silero, fake-openai): 120 calls held the bar on 1 core (CPU 1, not shared with the load generator) = 120 calls per core (130 per core the gateway itself used)',
    );
    expect(findMaxLines({ ...base, pinnedCpus: [1], coresExclusive: false })[0]).toContain('on 1 core (CPU 1) =');
    expect(findMaxLines({ ...base, cores: 2, callsPerCore: 60 })[0]).toContain('on 2 cores = 60 calls per core');
  });
});
