/** Paths and loaders for the audio fixtures copied into test/fixtures (see its README). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readWav, type PcmAudio } from '../../src/pipeline/wav.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/audio/', import.meta.url));

export function fixturePath(relative: string): string {
  return FIXTURES + relative;
}

export function readBytes(relative: string): Uint8Array {
  const buf = readFileSync(fixturePath(relative));
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Raw little-endian s16 file as samples (copied so alignment is guaranteed). */
export function readS16(relative: string): Int16Array {
  const bytes = readBytes(relative);
  return new Int16Array(bytes.slice().buffer);
}

export function readFixtureWav(relative: string): PcmAudio {
  return readWav(readBytes(relative));
}

export interface CallLabels {
  sampleRate: number;
  snrDb: number;
  utterances: { clip: string; clipStartMs: number; clipEndMs: number; startMs: number; endMs: number }[];
}

export function readLabels(name: string): CallLabels {
  return JSON.parse(readFileSync(fixturePath(`calls/${name}.labels.json`), 'utf8')) as CallLabels;
}

export const SPEECH_CLIPS = [
  'cards-001', 'cards-002', 'cards-003', 'cards-004', 'cards-005',
  'librivox-0870', 'librivox-0880', 'librivox-0890', 'librivox-0920', 'librivox-0930',
] as const;
