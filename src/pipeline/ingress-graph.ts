/**
 * A call's ingress graph: source -> decode -> VAD -> resample -> sink (or decode -> resample -> VAD
 * -> sink when the provider's rate is the VAD's). The shape is chosen once
 * per call from the carrier format and what the provider takes: when the provider takes the carrier
 * codec at the carrier rate the resample stage is left out and the sink gets the original encoded
 * bytes.
 *
 * The stages run synchronously, in order, inside write(): every stage is a pure synchronous processor
 * and telephony cannot be paused, so there is no backpressure to carry and nothing ever waits between
 * stages. (It was a Node stream pipeline; the stream hops cost a Transform write, a push and several
 * callbacks per stage per frame and bought nothing here. See issue 16.) Order is the call order of
 * write()/writeMarker(); a stage that throws fails the graph once, and every later write is ignored.
 */
import type { AudioFormat, AudioFrame, EncodedFrame, WireFormat } from './frame.js';
import { DecodeStage, ResampleStage, VadStage, isMarker, type GraphMarker, type IngressItem, type VadInput, type WireFrame } from './stages.js';
import type { FrameProcessor } from './frame-processor.js';

export interface IngressGraphOptions {
  readonly wireFormat: WireFormat;
  /** What the sink takes. */
  readonly sinkFormat: AudioFormat;
  /**
   * The call's VAD, fed by a VadStage at its own rate (replayed frames are not shown again). It sits
   * after the provider's resample stage when that one makes the VAD's rate, else before it.
   */
  readonly vad: VadInput;
  /** Takes each frame with the time its message arrived (performance.now()) and whether it is a replay. */
  readonly sink: (frame: AudioFrame | EncodedFrame, receivedAtMs: number, replay: boolean) => void;
  /** A stage (or the sink) threw: the graph is dead. Called once, on the next tick, never inside write(). */
  readonly onError: (err: Error) => void;
  /** A marker written with writeMarker() reached the sink, after every frame written before it. */
  readonly onMarker?: (marker: unknown) => void;
}

export function isPassthrough(wire: WireFormat, sink: AudioFormat): boolean {
  return (wire.codec === 'mulaw' || wire.codec === 'alaw') && sink.codec === wire.codec && sink.sampleRate === wire.sampleRate;
}

type Item = IngressItem | GraphMarker;
type Stage = FrameProcessor<Item, Item>;

export class IngressGraph {
  readonly #decode: DecodeStage;
  /** Stages after decode (tap, then resample when the rates differ). */
  readonly #stages: Stage[];
  readonly #passthrough: boolean;
  /** Passthrough with no VAD: the carrier's bytes go to the sink as they came, never decoded. */
  readonly #undecoded: boolean;
  readonly #opts: IngressGraphOptions;
  readonly #resampleDelayMs: number;
  #open = true;

  constructor(opts: IngressGraphOptions) {
    this.#opts = opts;
    this.#passthrough = isPassthrough(opts.wireFormat, opts.sinkFormat);
    this.#undecoded = this.#passthrough && opts.vad.wantsAudio === false;
    this.#decode = new DecodeStage(opts.wireFormat);
    this.#stages = [];
    const wireRate = opts.wireFormat.sampleRate;
    const resample = !this.#passthrough && opts.sinkFormat.sampleRate !== wireRate ? new ResampleStage(wireRate, opts.sinkFormat.sampleRate) : undefined;
    const vad = opts.vad;
    const vadAfterResample = resample !== undefined && vad.sampleRate !== wireRate && vad.sampleRate === opts.sinkFormat.sampleRate;
    if (!vadAfterResample) this.#stages.push(new VadStage(vad, wireRate));
    if (resample) this.#stages.push(resample);
    if (vadAfterResample) this.#stages.push(new VadStage(vad, vad.sampleRate, resample.delayMs));
    this.#resampleDelayMs = resample?.delayMs ?? 0;
  }

  /** Fixed delay the graph adds (resampler filter delay), reported apart from processing time. */
  get fixedDelayMs(): number {
    return this.#resampleDelayMs;
  }

  write(frame: WireFrame): void {
    if (this.#open) this.#run(frame);
  }

  /** A marker, delivered after every frame written so far (it is never dropped). */
  writeMarker(marker: unknown): void {
    if (this.#open) this.#run({ marker } satisfies GraphMarker);
  }

  /** Ends the graph; every frame written so far has already reached the sink. */
  end(): Promise<void> {
    this.#open = false;
    return Promise.resolve();
  }

  destroy(): void {
    this.#open = false;
  }

  #run(input: WireFrame | GraphMarker): void {
    try {
      if (this.#undecoded && !isMarker(input)) {
        this.#opts.sink(this.#decode.encoded(input), input.receivedAtMs, input.replay === true);
        return;
      }
      let item: Item | null = this.#decode.process(input);
      for (let i = 0; i < this.#stages.length && item !== null; i++) item = this.#stages[i].process(item);
      if (item === null) return;
      if (isMarker(item)) this.#opts.onMarker?.(item.marker);
      else this.#opts.sink(this.#passthrough && item.encoded ? item.encoded : item.pcm, item.receivedAtMs, item.replay);
    } catch (err) {
      // A stage that throws ends the graph: the owner must hear of it (it ends the call), but not from
      // inside the transport's message handler that wrote the frame.
      this.#open = false;
      process.nextTick(this.#opts.onError, err as Error);
    }
  }
}
