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
  /** The rows of [context | window] floats, step after step (transferred, not copied). */
  readonly input: Float32Array;
  /** [2, batchSize, 128] recurrent state (transferred). */
  readonly state: Float32Array;
}

/** Every window's probability (input order) followed by the final [2, batchSize, 128] state, transferred back. */
export type VadTaskResult = Float32Array;

let session: Promise<SileroSession> | undefined;

export default async function vadTask(payload: VadTaskPayload): Promise<VadTaskResult> {
  session ??= SileroSession.create().catch((err: unknown) => {
    // Let the next task try again rather than caching the failure for the worker's lifetime.
    session = undefined;
    throw err;
  });
  const silero = await session;
  const result = payload.rowSteps
    ? await silero.runSteps(payload.sampleRate, payload.rowSteps, payload.input, payload.state)
    : await silero.run(payload.sampleRate, payload.batchSize, payload.input, payload.state);
  return move(result) as VadTaskResult;
}
