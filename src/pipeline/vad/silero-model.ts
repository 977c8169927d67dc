/**
 * Silero VAD v5 facts shared by the main thread (which builds batches) and the worker task (which
 * runs them). No onnxruntime import here: the main thread needs the geometry, never the runtime.
 *
 * Model (checked by loading it): inputs `input` float32 [B, context + window], `state` float32
 * [2, B, 128], `sr` int64 scalar; outputs `output` [B, 1] (speech probability), `stateN` [2, B, 128].
 * As in silero-vad's `OnnxWrapper.__call__`, each window is preceded by the last `context` samples
 * of the same stream's previous window (zeros for the first), and samples are floats in [-1, 1).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { GatewayError } from '../../errors.js';

export type VadSampleRate = 8000 | 16000;

export interface SileroGeometry {
  readonly sampleRate: VadSampleRate;
  /** Samples scored per window: 512 at 16 kHz, 256 at 8 kHz (32 ms either way). */
  readonly windowSamples: number;
  /** Samples of the previous window prepended to each window. */
  readonly contextSamples: number;
  /** windowSamples + contextSamples: one row of the `input` tensor. */
  readonly rowSamples: number;
}

export const SILERO_GEOMETRY: Readonly<Record<VadSampleRate, SileroGeometry>> = {
  8000: { sampleRate: 8000, windowSamples: 256, contextSamples: 32, rowSamples: 288 },
  16000: { sampleRate: 16000, windowSamples: 512, contextSamples: 64, rowSamples: 576 },
};

/** Units of recurrent state per layer and stream; the state tensor is [2, B, 128]. */
export const SILERO_STATE_UNITS = 128;
/** Floats of recurrent state one stream carries between windows (both layers). */
export const SILERO_STATE_SIZE = 2 * SILERO_STATE_UNITS;

export function isVadSampleRate(rate: number): rate is VadSampleRate {
  return rate === 8000 || rate === 16000;
}

export function sileroGeometry(rate: number): SileroGeometry {
  if (!isVadSampleRate(rate)) {
    throw new GatewayError('GW_ERR_AUDIO_UNSUPPORTED_RATE', `VAD runs at 8000 or 16000 Hz, not ${String(rate)}`);
  }
  return SILERO_GEOMETRY[rate];
}

const MODEL_PACKAGE = '@ricky0123/vad-web';
const MODEL_FILE = 'dist/silero_vad_v5.onnx';

/**
 * The model file as shipped inside the installed `@ricky0123/vad-web` package (it is not copied
 * into this repository). Resolved through the package's manifest so hoisting does not matter.
 */
export function sileroModelPath(): string {
  let manifest: string;
  try {
    manifest = createRequire(import.meta.url).resolve(`${MODEL_PACKAGE}/package.json`);
  } catch (err) {
    throw new GatewayError('GW_ERR_VAD_MODEL_NOT_FOUND', `package ${MODEL_PACKAGE} is not installed`, { cause: err });
  }
  const path = join(dirname(manifest), MODEL_FILE);
  if (!existsSync(path)) throw new GatewayError('GW_ERR_VAD_MODEL_NOT_FOUND', path);
  return path;
}
