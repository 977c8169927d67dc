/**
 * One onnxruntime session of the Silero v5 model and a batched step over it. Used inside workers
 * (src/pipeline/vad/vad.task.ts) and by the benchmark; the main thread of the gateway never loads it.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { GatewayError } from '../../errors.js';
import { SILERO_STATE_SIZE, SILERO_STATE_UNITS, sileroGeometry, sileroModelPath } from './silero-model.js';

export class SileroSession {
  readonly #session: InferenceSession;
  readonly #rates = new Map<number, Tensor>();
  /** A multi-step batch's per-step output and carried state, reused from batch to batch. */
  #stepOut = new Float32Array(0);
  #stepState = new Float32Array(0);

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
   * next state (2 * B * 128), so a worker can hand it back with a single transfer; written into `out`
   * when given (at least that long), else into a new array.
   */
  async run(sampleRate: number, batchSize: number, input: Float32Array, state: Float32Array, out?: Float32Array): Promise<Float32Array> {
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
    let outputs: InferenceSession.OnnxValueMapType;
    try {
      outputs = await this.#session.run({
        input: new Tensor('float32', input, [batchSize, rowSamples]),
        state: new Tensor('float32', state, [2, batchSize, SILERO_STATE_UNITS]),
        sr: this.#rateTensor(sampleRate),
      });
    } catch (err) {
      throw new GatewayError('GW_ERR_VAD_INFERENCE', (err as Error).message, { cause: err });
    }
    const probabilities = outputs.output.data as Float32Array;
    const next = outputs.stateN.data as Float32Array;
    const result = out ? out.subarray(0, batchSize + next.length) : new Float32Array(batchSize + next.length);
    result.set(probabilities, 0);
    result.set(next, batchSize);
    return result;
  }

  /**
   * Score several consecutive windows per stream in one call: step s runs the model over the rows
   * whose `rowSteps` exceed s, feeding each row the state its previous step produced. Rows are sorted
   * by `rowSteps`, longest first, so the rows of a step are always a prefix. `input` holds the steps
   * one after another (step s: its rows of [context | window]); `state` is the [2, B, 128] state
   * before step 0. Returns the probabilities of every step, in the same order as the input rows,
   * followed by each row's state after its last step ([2, B, 128]), in `out` when given.
   */
  async runSteps(sampleRate: number, rowSteps: Uint16Array, input: Float32Array, state: Float32Array, out?: Float32Array): Promise<Float32Array> {
    const { rowSamples } = sileroGeometry(sampleRate);
    const batchSize = rowSteps.length;
    let windows = 0;
    for (let r = 0; r < batchSize; r++) {
      if (rowSteps[r] < 1 || (r > 0 && rowSteps[r] > rowSteps[r - 1])) {
        throw new GatewayError('GW_ERR_VAD_BAD_WINDOW', 'row steps must be >= 1 and sorted longest first');
      }
      windows += rowSteps[r];
    }
    if (batchSize === 0 || input.length !== windows * rowSamples) {
      throw new GatewayError('GW_ERR_VAD_BAD_WINDOW', `${String(input.length)} input floats for ${String(windows)} windows of ${String(rowSamples)}`);
    }
    if (rowSteps[0] === 1) return this.run(sampleRate, batchSize, input, state, out);

    const size = windows + batchSize * SILERO_STATE_SIZE;
    const result = out ? out.subarray(0, size) : new Float32Array(size);
    if (this.#stepOut.length < batchSize * (1 + SILERO_STATE_SIZE)) this.#stepOut = new Float32Array(batchSize * (1 + SILERO_STATE_SIZE));
    if (this.#stepState.length < batchSize * SILERO_STATE_SIZE) this.#stepState = new Float32Array(batchSize * SILERO_STATE_SIZE);
    const finalState = result.subarray(windows);
    let rows = batchSize;
    let stepState = state;
    let inAt = 0;
    for (let step = 0; rows > 0; step++) {
      const stepResult = await this.run(sampleRate, rows, input.subarray(inAt, inAt + rows * rowSamples), stepState, this.#stepOut);
      result.set(stepResult.subarray(0, rows), inAt / rowSamples);
      inAt += rows * rowSamples;
      // Rows that end here keep this state; the rest go on with theirs, repacked to the shorter batch.
      let next = rows;
      while (next > 0 && rowSteps[next - 1] === step + 1) next--;
      for (let r = next; r < rows; r++) {
        for (let layer = 0; layer < 2; layer++) {
          const from = rows + (layer * rows + r) * SILERO_STATE_UNITS;
          finalState.set(stepResult.subarray(from, from + SILERO_STATE_UNITS), (layer * batchSize + r) * SILERO_STATE_UNITS);
        }
      }
      if (next > 0) {
        stepState = this.#stepState.subarray(0, next * SILERO_STATE_SIZE);
        for (let layer = 0; layer < 2; layer++) {
          const from = rows + layer * rows * SILERO_STATE_UNITS;
          stepState.set(stepResult.subarray(from, from + next * SILERO_STATE_UNITS), layer * next * SILERO_STATE_UNITS);
        }
      }
      rows = next;
    }
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
