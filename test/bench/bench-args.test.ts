/** `voice-gateway bench --processes`: parsed into the counts each --vad runs with; bad values refused. */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from '../../src/cli/commands/bench.js';
import { lateIngressDefault } from '../../src/bench/bench.js';

describe('bench --processes', () => {
  it('defaults to one process, takes a list, and auto is one per core', () => {
    expect(parseBenchArgs([], {}).processes).toEqual([1]);
    expect(parseBenchArgs(['--processes', '1,2'], {}).processes).toEqual([1, 2]);
    expect(parseBenchArgs(['--processes', 'auto'], {}).processes).toEqual([availableParallelism()]);
  });

  it.each(['0', 'two', '1,,2'])('refuses --processes %s naming the flag', (v) => {
    expect(() => parseBenchArgs(['--processes', v], {})).toThrow(/--processes/);
  });
});

describe('bench --late-in-ms', () => {
  it('sets when a caller frame counts as late at the provider (default 60 ms)', () => {
    expect(parseBenchArgs([], {}).lateIngressMs).toBeUndefined(); // lateIngressDefault() per run
    expect(parseBenchArgs(['--late-in-ms', '100'], {}).lateIngressMs).toBe(100);
    expect(() => parseBenchArgs(['--late-in-ms', 'soon'], {})).toThrow(/--late-in-ms/);
  });

  it("adds the provider chunk's hold to the default, for the gateway's runs only", () => {
    expect(lateIngressDefault({}, 'silero', 'gateway')).toBe(60);
    expect(lateIngressDefault({ PROVIDER_AUDIO_CHUNK_MS: '100' }, 'off', 'gateway')).toBe(140);
    expect(lateIngressDefault({ PROVIDER_AUDIO_CHUNK_MS: 'auto' }, 'silero', 'gateway')).toBe(100);
    expect(lateIngressDefault({ PROVIDER_AUDIO_CHUNK_MS: 'AUTO' }, 'off', 'gateway')).toBe(60);
    expect(lateIngressDefault({ PROVIDER_AUDIO_CHUNK_MS: '100' }, 'silero', 'baseline')).toBe(60);
  });
});
