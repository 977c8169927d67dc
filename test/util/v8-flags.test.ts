/**
 * The V8 flags `voice-gateway serve` applies (src/util/v8-flags.ts): which ones, from which setting,
 * and that this Node's V8 knows them (setFlagsFromString ignores a flag it does not know, so a rename
 * in a later V8 would otherwise go unnoticed).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { applyV8Flags, gatewayV8Flags } from '../../src/util/v8-flags.js';

describe('gateway V8 flags', () => {
  it('turns allocation-site pretenuring off unless V8_PRETENURING=true', () => {
    expect(loadConfig({}).v8Pretenuring).toBe(false);
    expect(gatewayV8Flags(loadConfig({}))).toEqual(['--no-allocation-site-pretenuring']);
    expect(gatewayV8Flags(loadConfig({ V8_PRETENURING: 'true' }))).toEqual([]);
    expect(gatewayV8Flags(loadConfig({ V8_PRETENURING: '0' }))).toEqual(['--no-allocation-site-pretenuring']);
    expect(() => loadConfig({ V8_PRETENURING: 'maybe' })).toThrow(/V8_PRETENURING/);
  });

  it('hands each flag to V8, in order, and says what it applied', () => {
    const set: string[] = [];
    expect(applyV8Flags(['--a', '--b'], (f) => set.push(f))).toEqual(['--a', '--b']);
    expect(set).toEqual(['--a', '--b']);
  });

  it("uses only flags this Node's V8 accepts", () => {
    for (const flag of gatewayV8Flags({ v8Pretenuring: false })) {
      // On the command line an unknown V8 flag stops node with "bad option".
      const run = spawnSync(process.execPath, [flag, '-e', '0'], { encoding: 'utf8' });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
    }
  });
});
