/**
 * One onnxruntime session of the Silero v5 model and a batched step over it. Used inside workers
 * (src/workers/vad.task.ts) and by the benchmark; the main thread of the gateway never loads it.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { GatewayError } from '../../errors.js';
import { SILERO_STATE_SIZE, SILERO_STATE_UNITS, sileroGeometry, sileroModelPath } from './silero-model.js';

export class SileroSession {
  readonly #session: InferenceSession;
  readonly #rates = new Map<number, Tensor>();

  private constructor(session: InferenceSession) {
    this.#session = session;
  }

  /** One thread per session: parallelism comes from the pool's workers, not from inside a run. */
  static async create(modelPath: string = sileroModelPath()): Promise<SileroSession> {
    const session = await InferenceSession.create(modelPath, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new SileroSession(session);
  }

  /**
   * Score one window for each of `batchSize` streams. `input` holds the rows [context | window],
   * `state` the [2, B, 128] recurrent state. Returns one buffer: B probabilities followed by the
   * next state (2 * B * 128), so a worker can hand it back with a single transfer.
   */
  async run(sampleRate: number, batchSize: number, input: Float32Array, state: Float32Array): Promise<Float32Array> {
    const { rowSamples } = sileroGeometry(sampleRate);
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new GatewayError('GW_ERR_VAD_BAD_WINDOW', `batch size ${String(batchSize)}`);
    }
    if (input.length !== batchSize * rowSamples || state.length !== batchSize * SILERO_STATE_SIZE) {
      throw new GatewayError(
        'GW_ERR_VAD_BAD_WINDOW',
        `${String(input.length)} input and ${String(state.length)} state floats for ${String(batchSize)} rows of ${String(rowSamples)}`,
      );
    }
    let out: InferenceSession.OnnxValueMapType;
    try {
      out = await this.#session.run({
        input: new Tensor('float32', input, [batchSize, rowSamples]),
        state: new Tensor('float32', state, [2, batchSize, SILERO_STATE_UNITS]),
        sr: this.#rateTensor(sampleRate),
      });
    } catch (err) {
      throw new GatewayError('GW_ERR_VAD_INFERENCE', (err as Error).message, { cause: err });
    }
    const probabilities = out.output.data as Float32Array;
    const next = out.stateN.data as Float32Array;
    const result = new Float32Array(batchSize + next.length);
    result.set(probabilities, 0);
    result.set(next, batchSize);
    return result;
  }

  async release(): Promise<void> {
    await this.#session.release();
  }

  #rateTensor(sampleRate: number): Tensor {
    let t = this.#rates.get(sampleRate);
    if (!t) {
      t = new Tensor('int64', BigInt64Array.of(BigInt(sampleRate)), []);
      this.#rates.set(sampleRate, t);
    }
    return t;
  }
}
