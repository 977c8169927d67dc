/**
 * `voice-gateway bench` as the product has it, and the repository's extension plugged in (issue 15):
 * without an extension only the product's providers parse, and --baseline is refused naming what it
 * needs; with bench/extension.ts the flags engineers use (--provider fake-openai, --baseline) parse
 * as before; the CLI finds the extension in a source checkout and nowhere else; `npm run bench`
 * tells its own suite options from the bench command's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { benchExtension } from '../../bench/extension.js';
import { isSuiteArgs } from '../../bench/run.js';
import { PACKAGE_ROOT, loadCheckoutExtension } from '../../src/bench/extension.js';
import { defaultAudioPath, loadCallerAudio } from '../../src/bench/caller-audio.js';
import { parseBenchArgs } from '../../src/cli/commands/bench.js';

describe('voice-gateway bench without an extension (an installed package)', () => {
  it('runs the echo provider, and a gateway elsewhere with --url', () => {
    expect(parseBenchArgs([], {}).provider).toBe('echo');
    const atUrl = parseBenchArgs(['--url', 'http://127.0.0.1:9', '--calls', '5'], {});
    expect(atUrl.url).toBe('http://127.0.0.1:9');
    expect(atUrl.calls).toBe(5);
  });

  it('refuses fake-openai and --baseline, naming the flag and where they come from', () => {
    expect(() => parseBenchArgs(['--provider', 'fake-openai'], {})).toThrow(/--provider must be one of echo, got 'fake-openai'.*source checkout's bench extension/);
    expect(() => parseBenchArgs(['--baseline'], {})).toThrow(/--baseline needs a bench extension/);
  });

  it('has real speech to send: the call shipped in the package, with its labelled utterance ends', () => {
    const path = defaultAudioPath();
    expect(path?.startsWith(join(PACKAGE_ROOT, 'src/bench/audio'))).toBe(true);
    const audio = loadCallerAudio(path);
    expect(audio.speechEndsFrom).toBe('labels');
    expect(audio.frames.length).toBe(Math.floor(109922 / 160));
    expect(audio.speechEnds.reduce((a, b) => a + b, 0)).toBe(3);
  });
});

describe("the repository's bench extension (bench/extension.ts)", () => {
  it('keeps the flags engineers run with', () => {
    const o = parseBenchArgs(['--provider', 'fake-openai', '--baseline', '--calls', '100', '--duration', '15', '--vad', 'silero,off', '--processes', '1,2', '--find-max', '--json', 'a.json', '--md', 'a.md'], {}, benchExtension);
    expect(o).toMatchObject({ provider: 'fake-openai', baseline: true, calls: 100, durationS: 15, vads: ['silero', 'off'], processes: [1, 2], findMax: true, json: 'a.json', md: 'a.md' });
  });

  it('refuses --baseline where its bridge cannot go (telnyx, a gateway at --url)', () => {
    expect(() => parseBenchArgs(['--provider', 'fake-openai', '--baseline', '--transport', 'telnyx'], {}, benchExtension)).toThrow(/speaks twilio, not telnyx/);
    expect(() => parseBenchArgs(['--provider', 'fake-openai', '--baseline', '--url', 'http://127.0.0.1:9'], {}, benchExtension)).toThrow(/no --url/);
  });

  it('starts the baseline bridge from bench/baseline under tsx', () => {
    const cmd = benchExtension.baseline!.command();
    expect(cmd.slice(0, 2)).toEqual(['--import', 'tsx']);
    expect(cmd[2]).toBe(join(PACKAGE_ROOT, 'bench/baseline/bridge.ts'));
  });

  it('is found by the CLI in a source checkout, and not in a package without bench/', async () => {
    const found = await loadCheckoutExtension();
    expect(Object.keys(found?.providers ?? {})).toEqual(['fake-openai']);
    const empty = mkdtempSync(join(tmpdir(), 'vg-pkg-'));
    try {
      expect(await loadCheckoutExtension(`${empty}/`)).toBeUndefined();
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('npm run bench: the suite or the bench command', () => {
  it.each([[[]], [['--calls', '50', '--duration=10']], [['--skip-micro', '--out', '/tmp/x', '--skip-load']]])('runs the standard suite for %j', (argv) => {
    expect(isSuiteArgs(argv)).toBe(true);
  });

  it.each([[['--provider', 'fake-openai']], [['--calls', '50', '--baseline']], [['--find-max']], [['--help']]])('runs the bench command for %j', (argv) => {
    expect(isSuiteArgs(argv)).toBe(false);
  });
});
