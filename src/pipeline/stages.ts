/**
 * The processors of a call's ingress graph. Each is pure and synchronous (`frame-processor.ts`); the
 * graph runs them in order (`ingress-graph.ts`). An IngressItem carries the carrier's encoded frame and, once decoded, its PCM,
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
    const encoded = this.#format.codec === 'l16' || this.#format.codec === 'pcm16' ? undefined : this.encoded(frame);
    return { encoded, pcm, receivedAtMs: frame.receivedAtMs, replay: frame.replay === true };
  }

  /** The frame as the carrier encoded it (G.711: a byte a sample), with no decoding. */
  encoded(frame: WireFrame): EncodedFrame {
    const codec = this.#format.codec;
    if (codec !== 'mulaw' && codec !== 'alaw') throw new Error(`${codec} is not carried encoded`);
    return {
      codec,
      payload: frame.payload,
      base64: frame.base64,
      sampleRate: this.#format.sampleRate,
      seq: frame.seq,
      timestampMs: frame.timestampMs,
      sampleCount: frame.payload.length,
    };
  }
}

/** What the VAD stage feeds: a call's VAD (pipeline/vad/call-vad.ts), PCM16 at its own rate. */
export interface VadInput {
  readonly sampleRate: number;
  /** False when this call has no VAD (VAD off): nothing to show it, so a passthrough graph need not decode. Absent: true. */
  readonly wantsAudio?: boolean;
  push(samples: Int16Array, timestampMs: number): void;
}

/**
 * Shows each live frame's PCM to the call's VAD at the VAD's rate and passes the item on unchanged.
 * Replayed frames (a failover) were seen once already. When the PCM comes at another rate the stage
 * resamples it; the graph puts it after the provider's resample stage instead when that one already
 * makes the VAD's rate, so a 48 kHz call to a 16 kHz provider is resampled once, not twice.
 * Timestamps stay in caller media time: the resampling filter's delay is taken off.
 */
export class VadStage {
  readonly #vad: VadInput;
  readonly #resampler: Resampler | undefined;
  readonly #delayMs: number;

  /** `upstreamDelayMs`: filter delay of a resample stage before this one (shared resampling). */
  constructor(vad: VadInput, fromRate: number, upstreamDelayMs = 0) {
    this.#vad = vad;
    this.#resampler = fromRate === vad.sampleRate ? undefined : new Resampler({ from: fromRate, to: vad.sampleRate });
    this.#delayMs = upstreamDelayMs + (this.#resampler?.delayMs ?? 0);
  }

  process(item: IngressItem | GraphMarker): IngressItem | GraphMarker {
    if (isMarker(item) || item.replay) return item;
    const samples = this.#resampler ? this.#resampler.process(item.pcm.samples) : item.pcm.samples;
    if (samples.length > 0) this.#vad.push(samples, this.#delayMs === 0 ? item.pcm.timestampMs : Math.max(0, item.pcm.timestampMs - this.#delayMs));
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
