/**
 * Energy VAD: the zero-dependency fallback and the baseline Silero is compared with. Pure and
 * synchronous, a few microseconds per 32 ms window, so it runs on the event loop.
 *
 * Per window: band-pass the samples to the telephone speech band (300-3400 Hz; pink noise and hum
 * put much of their power outside it), take the energy in dB, track the noise floor (follows drops
 * at once, rises slowly so a long utterance does not become the floor), and map the margin above
 * the floor to a probability with a logistic curve, so the same turn detector thresholds apply.
 */
import { GatewayError } from '../../errors.js';

export interface EnergyVadOptions {
  /** Margin above the noise floor (dB) that scores 0.5. */
  midSnrDb: number;
  /** Logistic slope: the margin from 0.27 to 0.73 spans 2 * slopeDb. */
  slopeDb: number;
  /** How fast the floor may rise while the level stays above it. */
  floorRiseDbPerS: number;
  /** The floor never goes below this (dBFS): digital silence must not make hiss look like speech. */
  minFloorDb: number;
}

export const DEFAULT_ENERGY_VAD_OPTIONS: Readonly<EnergyVadOptions> = Object.freeze({
  midSnrDb: 5,
  slopeDb: 1.5,
  floorRiseDbPerS: 1,
  minFloorDb: -65,
});

/** Coefficients of a second-order IIR section (RBJ cookbook), normalised by a0. */
interface Biquad {
  readonly b0: number;
  readonly b1: number;
  readonly b2: number;
  readonly a1: number;
  readonly a2: number;
}

function biquad(kind: 'highpass' | 'lowpass', cutoffHz: number, sampleRate: number): Biquad {
  const w0 = (2 * Math.PI * cutoffHz) / sampleRate;
  const cos = Math.cos(w0);
  const alpha = Math.sin(w0) / (2 * Math.SQRT1_2);
  const a0 = 1 + alpha;
  const k = kind === 'highpass' ? (1 + cos) / 2 : (1 - cos) / 2;
  return {
    b0: k / a0,
    b1: (kind === 'highpass' ? -2 * k : 2 * k) / a0,
    b2: k / a0,
    a1: (-2 * cos) / a0,
    a2: (1 - alpha) / a0,
  };
}

export class EnergyVad {
  readonly sampleRate: number;
  readonly options: Readonly<EnergyVadOptions>;
  readonly #highpass: Biquad;
  readonly #lowpass: Biquad;
  /** Filter memory (transposed direct form II): high-pass z1, z2, then low-pass z1, z2. */
  readonly #z = new Float64Array(4);
  #floorDb = Number.NaN;
  #levelDb = Number.NaN;

  constructor(sampleRate: number, options: Partial<EnergyVadOptions> = {}) {
    if (!(sampleRate >= 8000)) {
      throw new GatewayError('GW_ERR_AUDIO_UNSUPPORTED_RATE', `energy VAD needs >= 8000 Hz, got ${String(sampleRate)}`);
    }
    const o = { ...DEFAULT_ENERGY_VAD_OPTIONS, ...options };
    if (!(o.slopeDb > 0) || !(o.floorRiseDbPerS >= 0)) {
      throw new GatewayError('GW_ERR_CONFIG_INVALID', `energy VAD options: ${JSON.stringify(o)}`);
    }
    this.sampleRate = sampleRate;
    this.options = Object.freeze(o);
    this.#highpass = biquad('highpass', 300, sampleRate);
    this.#lowpass = biquad('lowpass', Math.min(3400, sampleRate * 0.45), sampleRate);
  }

  /** The tracked noise floor in dBFS (NaN before the first window). */
  get noiseFloorDb(): number {
    return this.#floorDb;
  }

  /** The band-limited level of the last window in dBFS. */
  get levelDb(): number {
    return this.#levelDb;
  }

  /** Speech probability of one window of PCM16 samples (any length > 0; the gateway uses 32 ms). */
  process(window: Int16Array): number {
    const n = window.length;
    if (n === 0) throw new GatewayError('GW_ERR_VAD_BAD_WINDOW', 'empty window');
    // Both filters in one pass with coefficients and memory in locals: this loop is the whole
    // cost of the energy VAD, and it runs for every window of every call (also as Silero's shadow).
    const { b0: hb0, b1: hb1, b2: hb2, a1: ha1, a2: ha2 } = this.#highpass;
    const { b0: lb0, b1: lb1, b2: lb2, a1: la1, a2: la2 } = this.#lowpass;
    const z = this.#z;
    let h1 = z[0];
    let h2 = z[1];
    let l1 = z[2];
    let l2 = z[3];
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const x = window[i] * (1 / 32768);
      const h = hb0 * x + h1;
      h1 = hb1 * x - ha1 * h + h2;
      h2 = hb2 * x - ha2 * h;
      const y = lb0 * h + l1;
      l1 = lb1 * h - la1 * y + l2;
      l2 = lb2 * h - la2 * y;
      sum += y * y;
    }
    z[0] = h1;
    z[1] = h2;
    z[2] = l1;
    z[3] = l2;
    const levelDb = 10 * Math.log10(sum / n + 1e-12);
    this.#levelDb = levelDb;
    const o = this.options;
    if (Number.isNaN(this.#floorDb) || levelDb < this.#floorDb) {
      this.#floorDb = Math.max(levelDb, o.minFloorDb);
    } else {
      this.#floorDb = Math.min(levelDb, this.#floorDb + (o.floorRiseDbPerS * n) / this.sampleRate);
      if (this.#floorDb < o.minFloorDb) this.#floorDb = o.minFloorDb;
    }
    return 1 / (1 + Math.exp(-(levelDb - this.#floorDb - o.midSnrDb) / o.slopeDb));
  }

  reset(): void {
    this.#z.fill(0);
    this.#floorDb = Number.NaN;
    this.#levelDb = Number.NaN;
  }
}
