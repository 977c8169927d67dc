/** Runs one ingress stage over plain arrays: what it emits for each input, nulls (nothing emitted) dropped. */
import type { FrameProcessor } from '../../src/pipeline/frame-processor.js';

export function runStage<I, O>(stage: FrameProcessor<I, O>, inputs: readonly I[]): O[] {
  const out: O[] = [];
  for (const input of inputs) {
    const o = stage.process(input);
    if (o !== null) out.push(o);
  }
  return out;
}
