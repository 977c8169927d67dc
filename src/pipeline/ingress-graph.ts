/**
 * A call's ingress stream graph: source -> decode -> VAD tap -> resample -> sink. The shape is chosen
 * once per call from the carrier format and what the provider takes: when the provider takes the
 * carrier codec at the carrier rate the resample stage is left out and the sink gets the original
 * encoded bytes.
 */
import { Readable, Writable, pipeline } from 'node:stream';
import type { AudioFormat, AudioFrame, EncodedFrame, WireFormat } from './frame.js';
import { DecodeStage, ResampleStage, TapStage, isMarker, type GraphMarker, type IngressItem, type WireFrame } from './stages.js';
import { processorTransform } from './stream-adapter.js';

export interface IngressGraphOptions {
  readonly wireFormat: WireFormat;
  /** What the sink takes. */
  readonly sinkFormat: AudioFormat;
  /** Sees each live frame's PCM at the carrier rate (VAD); replayed frames are not shown again. */
  readonly onPcm: (pcm: AudioFrame) => void;
  /** Takes each frame with the time its message arrived (performance.now()) and whether it is a replay. */
  readonly sink: (frame: AudioFrame | EncodedFrame, receivedAtMs: number, replay: boolean) => void;
  /** Frames allowed to wait inside the graph before the oldest is dropped. */
  readonly maxQueuedFrames: number;
  readonly onDrop: (count: number) => void;
  readonly onError: (err: Error) => void;
  /** A marker written with writeMarker() reached the sink, after every frame written before it. */
  readonly onMarker?: (marker: unknown) => void;
}

export function isPassthrough(wire: WireFormat, sink: AudioFormat): boolean {
  return (wire.codec === 'mulaw' || wire.codec === 'alaw') && sink.codec === wire.codec && sink.sampleRate === wire.sampleRate;
}

export class IngressGraph {
  readonly #source: Readable;
  readonly #maxQueued: number;
  readonly #onDrop: (count: number) => void;
  readonly #resampleDelayMs: number;
  readonly #done: Promise<void>;
  /** destroy() was asked for: the premature-close error that follows is ours, not a failure. */
  #destroying = false;

  constructor(opts: IngressGraphOptions) {
    this.#maxQueued = opts.maxQueuedFrames;
    this.#onDrop = opts.onDrop;
    // Telephony cannot be paused, so the source never applies backpressure upstream; the bound is
    // enforced in write() instead.
    this.#source = new Readable({ objectMode: true, highWaterMark: opts.maxQueuedFrames, read() {} });
    const passthrough = isPassthrough(opts.wireFormat, opts.sinkFormat);
    const stages = [processorTransform(new DecodeStage(opts.wireFormat)), processorTransform(new TapStage(opts.onPcm))];
    let resampleDelayMs = 0;
    if (!passthrough && opts.sinkFormat.sampleRate !== opts.wireFormat.sampleRate) {
      const resample = new ResampleStage(opts.wireFormat.sampleRate, opts.sinkFormat.sampleRate);
      resampleDelayMs = resample.delayMs;
      stages.push(processorTransform(resample));
    }
    this.#resampleDelayMs = resampleDelayMs;
    const sink = new Writable({
      objectMode: true,
      highWaterMark: 16,
      write(item: IngressItem | GraphMarker, _enc, callback) {
        try {
          if (isMarker(item)) {
            opts.onMarker?.(item.marker);
            callback();
            return;
          }
          opts.sink(passthrough && item.encoded ? item.encoded : item.pcm, item.receivedAtMs, item.replay);
          callback();
        } catch (err) {
          callback(err as Error);
        }
      },
    });
    this.#done = new Promise((resolve) => {
      pipeline([this.#source, ...stages, sink], (err) => {
        // A stage that throws ends the pipeline: the owner must hear of it (it ends the call).
        if (err && err.name !== 'AbortError' && !this.#destroying) opts.onError(err);
        resolve();
      });
    });
  }

  /** Fixed delay the graph adds (resampler filter delay), reported apart from processing time. */
  get fixedDelayMs(): number {
    return this.#resampleDelayMs;
  }

  write(frame: WireFrame): void {
    if (this.#source.destroyed || this.#source.readableEnded) return;
    if (this.#source.readableLength >= this.#maxQueued) {
      // Cannot drop from inside a Readable's buffer; drop the newest instead and count it.
      this.#onDrop(1);
      return;
    }
    this.#source.push(frame);
  }

  /** Queue a marker behind the frames written so far (it is never dropped). */
  writeMarker(marker: unknown): void {
    if (this.#source.destroyed || this.#source.readableEnded) return;
    this.#source.push({ marker } satisfies GraphMarker);
  }

  /** Ends the graph after every queued frame has reached the sink. */
  end(): Promise<void> {
    if (!this.#source.readableEnded && !this.#source.destroyed) this.#source.push(null);
    return this.#done;
  }

  destroy(): void {
    this.#destroying = true;
    this.#source.destroy();
  }
}
