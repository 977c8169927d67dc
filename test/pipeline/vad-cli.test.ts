import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/commands/vad.js';
import { scoreTurns } from '../../src/pipeline/vad/score.js';
import { fixturePath, readLabels } from '../support/fixtures.js';

let stdout = '';
let stderr = '';

beforeEach(() => {
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

interface Output {
  engine: string;
  sampleRate: number;
  segments: { startMs: number; endMs: number }[];
}

describe('voice-gateway vad', () => {
  it.each([
    ['a 16 kHz WAV with Silero', ['calls/call-quiet.16k.wav'], 'silero', 16000],
    ['raw mu-law with the energy VAD', ['calls/call-quiet.8k.ulaw', '--engine', 'energy'], 'energy', 8000],
    ['raw A-law given --format', ['calls/call-quiet.8k.alaw', '--format', 'alaw', '-e', 'silero'], 'silero', 8000],
    ['a 16 kHz WAV resampled with --rate 8000', ['calls/call-quiet.16k.wav', '--rate', '8000'], 'silero', 8000],
  ])('prints the segments of %s as JSON', async (_name, [file, ...options], engine, rate) => {
    expect(await run([fixturePath(file), ...options])).toBe(0);
    const out = JSON.parse(stdout) as Output;
    expect(out).toMatchObject({ engine, sampleRate: rate });
    expect(scoreTurns(out.segments, readLabels('call-quiet').utterances)).toMatchObject({ precision: 1, recall: 1 });
    for (const s of out.segments) expect(Number.isInteger(s.startMs) && Number.isInteger(s.endMs)).toBe(true);
    expect(stderr).toBe('');
  });

  it.each([
    ['no file', []],
    ['two files', ['a.wav', 'b.wav']],
    ['an unknown engine', ['a.wav', '--engine', 'webrtc']],
    ['an unsupported rate', ['a.wav', '--rate', '44100']],
    ['an unknown option', ['a.wav', '--loud']],
    ['an unknown extension', ['a.bin']],
    ['an unknown format', ['a.raw', '--format', 'opus']],
  ])('exits 2 with usage on stderr for %s', async (_name, argv) => {
    expect(await run(argv)).toBe(2);
    expect(stderr).toContain('GW_ERR_CLI_USAGE');
    expect(stderr).toContain('Usage: voice-gateway vad FILE');
    expect(stdout).toBe('');
  });

  it('exits 1 for a file it cannot read', async () => {
    expect(await run([fixturePath('calls/no-such-call.wav')])).toBe(1);
    expect(stderr).toContain('ENOENT');
  });

  it('exits 1 for a WAV that is not one', async () => {
    expect(await run([fixturePath('calls/call-quiet.8k.ulaw'), '--format', 'wav'])).toBe(1);
    expect(stderr).toContain('GW_ERR_AUDIO_BAD_WAV');
  });

  it('prints help', async () => {
    expect(await run(['--help'])).toBe(0);
    expect(stdout).toContain('--engine silero|energy');
  });
});
