/**
 * The one adapter from a pure synchronous processor (werift style: `process(input) -> output | null`)
 * to a Node object-mode Transform. Every stage of the ingress graph goes through it, so ordering,
 * backpressure and error propagation are Node's, and the processors stay testable on plain arrays.
 */
import { Transform, type TransformCallback } from 'node:stream';

export interface FrameProcessor<I, O> {
  process(input: I): O | null;
}

export function processorTransform<I, O>(processor: FrameProcessor<I, O>, highWaterMark = 16): Transform {
  return new Transform({
    objectMode: true,
    highWaterMark,
    transform(chunk: I, _enc: BufferEncoding, callback: TransformCallback) {
      let out: O | null;
      try {
        out = processor.process(chunk);
      } catch (err) {
        callback(err as Error);
        return;
      }
      if (out !== null) this.push(out);
      callback();
    },
  });
}
