/**
 * What every simulated caller says: 8 kHz mu-law cut into 20 ms frames, each frame's base64 computed
 * once and shared by all calls (a call only re-encodes the 60-character tag head, see frame-tag.ts),
 * and which frames end an utterance, so the caller can time the reply it hears from the end of what it
 * said. Utterance ends come from the fixture's labels file when there is one, else from frame energy.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeMulaw, encodeMulaw } from '../pipeline/codecs/g711.js';
import { TAG_BASE64_CHARS } from './frame-tag.js';

export const FRAME_MS = 20;
export const FRAME_BYTES = 160;

export interface CallerAudio {
  /** Where it came from (a path, or 'synthetic'). */
  readonly source: string;
  readonly frames: readonly Uint8Array[];
  /** Base64 of each frame from character 60 on (the part a tag does not touch). */
  readonly base64Tails: readonly string[];
  /** frame index -> this frame is the last of an utterance. */
  readonly speechEnds: Uint8Array;
  /** How utterance ends were found. */
  readonly speechEndsFrom: 'labels' | 'energy';
  readonly silence: Uint8Array;
  readonly silenceTail: string;
}

const SPEECH_RMS = 300; // about -40 dBFS: above a quiet line's noise floor, below speech
const END_SILENCE_FRAMES = 15; // 300 ms of quiet after speech ends an utterance

/**
 * The default caller, shipped with the package (src/bench/audio/, copied to dist/bench/audio/ by the
 * build): the quiet call of the test fixtures (three utterances of real speech over 13.7 s, with its
 * labels; test/bench/shipped-audio.test.ts keeps the two copies the same). Undefined only when the
 * copy is missing (a build that skipped it): then the harness falls back to synthetic tones.
 */
export function defaultAudioPath(): string | undefined {
  const path = fileURLToPath(new URL('./audio/call-quiet.8k.ulaw', import.meta.url));
  return existsSync(path) ? path : undefined;
}

export function loadCallerAudio(path: string | undefined): CallerAudio {
  if (!path) return fromBytes(syntheticCall(), 'synthetic', undefined);
  const bytes = new Uint8Array(readFileSync(path));
  // A fixture's labels sit beside it: calls/NAME.8k.ulaw -> calls/NAME.labels.json.
  const labelsPath = path.replace(/\.8k\.(ulaw|alaw)$/, '.labels.json');
  let labels: { utterances: { endMs: number }[] } | undefined;
  if (labelsPath !== path && existsSync(labelsPath)) labels = JSON.parse(readFileSync(labelsPath, 'utf8')) as typeof labels;
  return fromBytes(bytes, path, labels);
}

function fromBytes(bytes: Uint8Array, source: string, labels: { utterances: { endMs: number }[] } | undefined): CallerAudio {
  const count = Math.floor(bytes.length / FRAME_BYTES);
  if (count < 50) throw new Error(`caller audio ${source} is shorter than one second`);
  const frames: Uint8Array[] = [];
  const base64Tails: string[] = [];
  for (let i = 0; i < count; i++) {
    const frame = bytes.slice(i * FRAME_BYTES, (i + 1) * FRAME_BYTES);
    frames.push(frame);
    base64Tails.push(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64').slice(TAG_BASE64_CHARS));
  }
  const speechEnds = new Uint8Array(count);
  let speechEndsFrom: CallerAudio['speechEndsFrom'] = 'energy';
  if (labels && labels.utterances.length > 0) {
    speechEndsFrom = 'labels';
    for (const u of labels.utterances) speechEnds[Math.min(count - 1, Math.floor(u.endMs / FRAME_MS))] = 1;
  } else {
    let lastSpeech = -1;
    for (let i = 0; i < count; i++) {
      const pcm = decodeMulaw(frames[i]);
      let s = 0;
      for (let j = 0; j < pcm.length; j++) s += pcm[j] * pcm[j];
      if (Math.sqrt(s / pcm.length) > SPEECH_RMS) lastSpeech = i;
      else if (lastSpeech >= 0 && i - lastSpeech === END_SILENCE_FRAMES) speechEnds[lastSpeech] = 1;
    }
  }
  const silence = new Uint8Array(FRAME_BYTES).fill(0xff);
  return {
    source,
    frames,
    base64Tails,
    speechEnds,
    speechEndsFrom,
    silence,
    silenceTail: Buffer.from(silence).toString('base64').slice(TAG_BASE64_CHARS),
  };
}

/**
 * With no caller audio file (a build without its assets): 12 s of "utterances" — 1.5 to 3 s of a
 * voiced, amplitude-modulated harmonic tone — separated by 1.2 s of quiet noise. Enough for an
 * energy or Silero VAD to find turns; it is not speech, so say which audio a result came from.
 */
function syntheticCall(): Uint8Array {
  const rate = 8000;
  const pcm = new Int16Array(rate * 12);
  let seed = 7;
  const noise = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff - 0.5) * 60;
  const segments = [
    [0.8, 3.3],
    [4.5, 6.0],
    [7.2, 10.2],
  ];
  for (let i = 0; i < pcm.length; i++) {
    const t = i / rate;
    let v = noise();
    for (const [a, b] of segments) {
      if (t >= a && t < b) {
        const f0 = 120 + 30 * Math.sin(2 * Math.PI * 0.7 * t);
        const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * t);
        for (let h = 1; h <= 6; h++) v += (5000 / h) * env * Math.sin(2 * Math.PI * f0 * h * t);
      }
    }
    pcm[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
  }
  return encodeMulaw(pcm);
}
