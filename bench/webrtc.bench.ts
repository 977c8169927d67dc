/**
 * CPU of the WebRTC media path, per 20 ms frame and per call-second: Opus decode of what a browser
 * sends, resample 48k -> 16k (to the echo/Gemini-style provider rate), resample 16k -> 48k (its
 * reply), Opus encode with our defaults. Real speech (a fixture), warm codec state, one call.
 * Run: `node --import tsx bench/webrtc.bench.ts`. Goal: <= 4 ms of CPU per call-second.
 *
 * Two figures: benny's per-operation times x 50 frames/s, and a direct measurement of process CPU time
 * (process.cpuUsage, so GC and native work count) over 60 s of call audio pushed through the path.
 */
import b from 'benny';
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { Resampler } from '../src/pipeline/resample/resampler.js';
import { readWav } from '../src/pipeline/wav.js';
import { OPUS_FRAME_SAMPLES, OpusDecoder, OpusEncoder } from '../src/transports/webrtc/opus.js';
import { microTable, type MicroResult } from './report.js';

const N = OPUS_FRAME_SAMPLES;
const FRAMES_PER_SECOND = 50;

/** A few seconds of speech at 48 kHz in 20 ms frames, and what a browser would send for it. */
function material(): { frames: Int16Array[]; browserPackets: Uint8Array[]; frames16k: Int16Array[] } {
  const wav = readWav(readFileSync(new URL('../test/fixtures/audio/speech/librivox-0870.wav', import.meta.url)));
  const up = new Resampler({ from: wav.sampleRate, to: 48000 }).process(wav.samples);
  const frames: Int16Array[] = [];
  for (let i = 0; i + N <= up.length; i += N) frames.push(up.slice(i, i + N));
  // What Chromium sends us at its default ~32 kbit/s once our answer says maxplaybackrate=16000:
  // SILK wideband 20 ms (seen in the e2e test's session stats as opusIn 'SILK WB 20 ms').
  const browser = new OpusEncoder({ mode: 'auto', maxBandwidth: 'wideband', complexity: 9, vbr: 'constrained', bitrate: 32000 });
  const browserPackets = frames.map((f) => browser.encode(f));
  const down = new Resampler({ from: 48000, to: 16000 });
  const frames16k = frames.map((f) => down.process(f)).filter((f) => f.length > 0);
  return { frames, browserPackets, frames16k };
}

/** One call's media work for frame i: in (decode, 48->16) and out (16->48, encode). */
function pathFor(m: ReturnType<typeof material>) {
  const decoder = new OpusDecoder();
  const toProvider = new Resampler({ from: 48000, to: 16000 });
  const fromProvider = new Resampler({ from: 16000, to: 48000 });
  const encoder = new OpusEncoder();
  let i = 0;
  return () => {
    const k = i++ % m.browserPackets.length;
    const pcm = decoder.decode(m.browserPackets[k]);
    const forProvider = toProvider.process(pcm);
    const reply = fromProvider.process(m.frames16k[k % m.frames16k.length]);
    const packet = encoder.encode(reply.length === N ? reply : m.frames[k]);
    return forProvider.length + packet.length;
  };
}

export async function run(): Promise<MicroResult[]> {
  const m = material();
  let sink = 0;
  const cycle = <T>(items: T[]) => {
    let i = 0;
    return () => items[i++ % items.length];
  };
  const summary = await b.suite(
    'webrtc path (one 20 ms frame)',
    b.configure({ cases: { minSamples: 10, maxTime: 1.5 } }),
    b.add('opus decode (browser packet, SILK WB 32k)', () => {
      const d = new OpusDecoder();
      const next = cycle(m.browserPackets);
      return () => {
        sink ^= d.decode(next())[7];
      };
    }),
    b.add('resample 48k->16k', () => {
      const r = new Resampler({ from: 48000, to: 16000 });
      const next = cycle(m.frames);
      return () => {
        sink ^= r.process(next())[7];
      };
    }),
    b.add('resample 16k->48k', () => {
      const r = new Resampler({ from: 16000, to: 48000 });
      const next = cycle(m.frames16k);
      return () => {
        sink ^= r.process(next())[7];
      };
    }),
    b.add('opus encode (CELT WB 48k, complexity 0)', () => {
      const e = new OpusEncoder();
      const next = cycle(m.frames);
      return () => {
        sink ^= e.encode(next())[1];
      };
    }),
    b.add('whole path: decode + 48k->16k + 16k->48k + encode', () => {
      const step = pathFor(m);
      return () => {
        sink ^= step();
      };
    }),
    b.cycle(),
  );
  if (sink === 0x7fffffff) console.log(sink); // keep the work observable
  return microTable('webrtc', summary);
}

/** Milliseconds of CPU per call-second from a per-frame time in microseconds. */
export function msPerCallSecond(usPerFrame: number): number {
  return Number(((usPerFrame * FRAMES_PER_SECOND) / 1000).toFixed(3));
}

/** Process CPU time (user + system) to push `seconds` of one call's audio through the path. */
export function measureCpu(seconds = 60): { msPerCallSecond: number } {
  const m = material();
  const step = pathFor(m);
  for (let i = 0; i < 200; i++) step(); // warm up
  const frames = seconds * FRAMES_PER_SECOND;
  const before = process.cpuUsage();
  let sink = 0;
  for (let i = 0; i < frames; i++) sink ^= step();
  const used = process.cpuUsage(before);
  if (sink === 0x7fffffff) console.log(sink);
  return { msPerCallSecond: Number(((used.user + used.system) / 1000 / seconds).toFixed(3)) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run();
  console.table(rows);
  const whole = rows.find((r) => r.case.startsWith('whole path'))!;
  console.log(`WebRTC path: ${String(msPerCallSecond(whole.usPerOp))} ms CPU per call-second (benny), ${String(measureCpu().msPerCallSecond)} ms (process CPU over 60 s of audio); goal <= 4 ms`);
}
