/**
 * Piscina task: one Silero step for a batch of streams. Stateless across tasks apart from the ONNX
 * session (one per worker, created on first use): every stream's recurrent state and context travel
 * in the payload and come back in the result, so a worker that dies loses nothing but the batch.
 */
import { move } from 'piscina';
import { SileroSession } from './silero-session.js';
import type { VadSampleRate } from './silero-model.js';

export interface VadTaskPayload {
  readonly sampleRate: VadSampleRate;
  readonly batchSize: number;
  /**
   * Consecutive windows per stream, longest first (see SileroSession.runSteps); absent means one
   * window each. A call that fell behind catches up in one task instead of one window per task.
   */
  readonly rowSteps?: Uint16Array;
  /**
   * The rows of [context | window] floats, step after step: transferred, or a view of shared memory
   * the batcher reuses (then copied here, as onnxruntime takes no SharedArrayBuffer).
   */
  readonly input: Float32Array;
  /** [2, batchSize, 128] recurrent state (transferred or shared, as `input`). */
  readonly state: Float32Array;
  /** Shared memory for the result: when given, the result is written there and not sent back. */
  readonly out?: Float32Array;
}

/**
 * Every window's probability (input order) followed by the final [2, batchSize, 128] state,
 * transferred back; with `out`, the number of floats written there.
 */
export type VadTaskResult = Float32Array | number;

let session: Promise<SileroSession> | undefined;
/**
 * A worker-local copy of a view of shared memory, in a buffer reused from task to task (onnxruntime
 * needs memory of its own); a view of the worker's own memory is used as it is.
 */
class LocalCopy {
  #buffer = new Float32Array(0);

  of(view: Float32Array): Float32Array {
    if (!(view.buffer instanceof SharedArrayBuffer)) return view;
    if (this.#buffer.length < view.length) this.#buffer = new Float32Array(view.length);
    const copy = this.#buffer.subarray(0, view.length);
    copy.set(view);
    return copy;
  }
}

const localInput = new LocalCopy();
const localState = new LocalCopy();

export default async function vadTask(payload: VadTaskPayload): Promise<VadTaskResult> {
  session ??= SileroSession.create().catch((err: unknown) => {
    // Let the next task try again rather than caching the failure for the worker's lifetime.
    session = undefined;
    throw err;
  });
  const silero = await session;
  const input = localInput.of(payload.input);
  const state = localState.of(payload.state);
  const result = payload.rowSteps
    ? await silero.runSteps(payload.sampleRate, payload.rowSteps, input, state, payload.out)
    : await silero.run(payload.sampleRate, payload.batchSize, input, state, payload.out);
  if (payload.out) return result.length;
  return move(result) as Float32Array;
}
