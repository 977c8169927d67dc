/**
 * bench --gateway-cpus / --harness-cpus: the CPU list syntax, and that a pinned process really runs
 * on those CPUs only (read back from /proc, Linux with taskset; elsewhere the pinning tests skip
 * with a notice, and the CLI refuses the flags).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus, platform } from 'node:os';
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
const cpuCount = cpus().length;

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
      expect((await target.resources()).cpuSeconds).toBeGreaterThanOrEqual(0); // /proc/<pid> is node's own, not taskset's
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
  it('gives the bench the other CPUs when only the gateway is pinned', () => {
    const args = parseBenchArgs(['--gateway-cpus', '0'], {});
    expect(args.gatewayCpus).toEqual([0]);
    expect(args.harnessCpus).toEqual(cpuCount > 1 ? Array.from({ length: cpuCount - 1 }, (_, i) => i + 1) : undefined);
    expect(parseBenchArgs(['--gateway-cpus', '0', '--processes', 'auto'], {}).processes).toEqual([1]);
  });

  it('refuses overlapping lists, CPUs the machine lacks, and pinning a gateway it did not start', () => {
    expect(() => parseBenchArgs(['--gateway-cpus', '0', '--harness-cpus', '0'], {})).toThrow(/share CPU 0/);
    expect(() => parseBenchArgs(['--gateway-cpus', String(cpuCount)], {})).toThrow(/--gateway-cpus: this machine has CPUs/);
    expect(() => parseBenchArgs(['--gateway-cpus', 'x'], {})).toThrow(/--gateway-cpus/);
    expect(() => parseBenchArgs(['--gateway-cpus', '0', '--url', 'http://127.0.0.1:1'], {})).toThrow(/no --url/);
  });
});

describe.skipIf(pinning || platform() === 'linux')('bench CPU flags where pinning is not possible', () => {
  it('refuses them with the reason', () => {
    expect(() => parseBenchArgs(['--gateway-cpus', '0'], {})).toThrow(/--gateway-cpus: CPU pinning needs/);
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
