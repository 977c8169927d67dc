/**
 * Whole-recording speech segments through the same path a live call takes (a CallVad fed 20 ms
 * frames), faster than real time. Used by the `vad` CLI command and the fixture tests.
 */
import type { CallVad } from './call-vad.js';
import type { Segment } from './score.js';
import type { VadSampleRate } from './silero-model.js';
import type { VadService } from './vad-service.js';

export interface DetectOptions {
  service: VadService;
  samples: Int16Array;
  sampleRate: VadSampleRate;
  callId?: string;
  /** Frame size pushed to the VAD (default 20 ms, as telephony delivers it). */
  frameMs?: number;
  onProbability?: (probability: number, windowEndMs: number) => void;
}

export interface DetectResult {
  readonly segments: Segment[];
  /** The engine that finished the recording ('energy' after a fallback). */
  readonly engine: CallVad['engine'];
  readonly durationMs: number;
}

/** Audio pushed between waits for the scores, so the backlog stays small (as in a live call). */
const CHUNK_MS = 1000;

export async function detectSegments(options: DetectOptions): Promise<DetectResult> {
  const { samples, sampleRate } = options;
  const segments: Segment[] = [];
  let openStartMs: number | undefined;
  const call = options.service.createCallVad({
    callId: options.callId ?? 'file',
    sampleRate,
    onProbability: options.onProbability,
    onEvent: (event) => {
      if (event.type === 'speechStart') openStartMs = event.timestampMs;
      else {
        segments.push({ startMs: event.startMs, endMs: event.timestampMs });
        openStartMs = undefined;
      }
    },
  });
  const durationMs = (samples.length * 1000) / sampleRate;
  try {
    const frame = Math.max(1, Math.round(((options.frameMs ?? 20) * sampleRate) / 1000));
    const chunk = Math.round((CHUNK_MS * sampleRate) / 1000);
    for (let at = 0; at < samples.length; at += frame) {
      call.push(samples.subarray(at, Math.min(at + frame, samples.length)), (at * 1000) / sampleRate);
      if ((at + frame) % chunk < frame) await call.flush();
    }
    await call.flush();
    if (openStartMs !== undefined) segments.push({ startMs: openStartMs, endMs: durationMs });
    return { segments, engine: call.engine, durationMs };
  } finally {
    call.close();
  }
}
