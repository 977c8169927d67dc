/**
 * The processors of a call's ingress graph. Each is pure and synchronous; `stream-adapter.ts` makes
 * them Node streams. An IngressItem carries the carrier's encoded frame and, once decoded, its PCM,
 * so a sink that takes the carrier codec gets the original bytes (no decode/encode on its path) while
 * VAD still sees PCM.
 */
import { pcmCodec, type PcmCodec } from './codecs/wire-codec.js';
import type { AudioFrame, EncodedFrame, WireFormat } from './frame.js';
import { Resampler } from './resample/resampler.js';

export interface IngressItem {
  readonly encoded: EncodedFrame | undefined;
  readonly pcm: AudioFrame;
  /** performance.now() when the transport received the frame, for pipeline latency. */
  readonly receivedAtMs: number;
  /** Replayed to a new provider after a failover: VAD and latency already saw it once. */
  readonly replay: boolean;
}

/**
 * A marker that travels through the graph in the same queue as audio (a caller turn ended here), so
 * it reaches the sink after every frame written before it, however the stages buffer.
 */
export interface GraphMarker<M = unknown> {
  readonly marker: M;
}

export function isMarker(x: unknown): x is GraphMarker {
  return typeof x === 'object' && x !== null && 'marker' in x;
}

export interface WireFrame {
  readonly payload: Uint8Array;
  /** The payload as the carrier sent it, when it came as base64 text (see EncodedFrame.base64). */
  readonly base64?: string;
  readonly seq: number;
  readonly timestampMs: number;
  readonly receivedAtMs: number;
  readonly replay?: boolean;
}

export class DecodeStage {
  readonly #codec: PcmCodec;
  readonly #format: WireFormat;

  constructor(format: WireFormat) {
    this.#format = format;
    this.#codec = pcmCodec(format.codec);
  }

  process(frame: WireFrame | GraphMarker): IngressItem | GraphMarker {
    if (isMarker(frame)) return frame;
    const samples = this.#codec.decode(frame.payload);
    const pcm: AudioFrame = { samples, sampleRate: this.#format.sampleRate, seq: frame.seq, timestampMs: frame.timestampMs };
    const encoded: EncodedFrame | undefined =
      this.#format.codec === 'l16' || this.#format.codec === 'pcm16'
        ? undefined
        : {
            codec: this.#format.codec,
            payload: frame.payload,
            base64: frame.base64,
            sampleRate: this.#format.sampleRate,
            seq: frame.seq,
            timestampMs: frame.timestampMs,
            sampleCount: samples.length,
          };
    return { encoded, pcm, receivedAtMs: frame.receivedAtMs, replay: frame.replay === true };
  }
}

/** Calls `tap` with each frame's PCM (for VAD) and passes the item on unchanged. */
export class TapStage {
  readonly #tap: (pcm: AudioFrame) => void;

  constructor(tap: (pcm: AudioFrame) => void) {
    this.#tap = tap;
  }

  process(item: IngressItem | GraphMarker): IngressItem | GraphMarker {
    if (!isMarker(item) && !item.replay) this.#tap(item.pcm);
    return item;
  }
}

/** Resamples PCM to the sink's rate. Output frames keep the input's seq and media time. */
export class ResampleStage {
  readonly #resampler: Resampler;
  readonly #to: number;

  constructor(from: number, to: number) {
    this.#resampler = new Resampler({ from, to });
    this.#to = to;
  }

  get delayMs(): number {
    return this.#resampler.delayMs;
  }

  process(item: IngressItem | GraphMarker): IngressItem | GraphMarker | null {
    if (isMarker(item)) return item;
    const samples = this.#resampler.process(item.pcm.samples);
    if (samples.length === 0) return null;
    return {
      encoded: item.encoded,
      pcm: { samples, sampleRate: this.#to, seq: item.pcm.seq, timestampMs: item.pcm.timestampMs },
      receivedAtMs: item.receivedAtMs,
      replay: item.replay,
    };
  }
}
