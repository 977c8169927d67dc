/**
 * The caller's VAD as the ingress graph feeds it: live frames' PCM at the carrier rate in, brought to
 * a rate Silero runs at (8 or 16 kHz; telephony audio goes in as it is, anything else to 16 kHz).
 * Turn events go to `onEvent` in caller media time.
 */
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { AudioFrame } from '../pipeline/frame.js';
import { Resampler } from '../pipeline/resample/resampler.js';
import type { CallVad, VadEngine } from '../pipeline/vad/call-vad.js';
import type { TurnEvent } from '../pipeline/vad/turn-detector.js';
import type { VadService } from '../pipeline/vad/vad-service.js';

export interface VadTapOptions {
  readonly callId: string;
  readonly wireRate: number;
  readonly vad: VadService;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly onEvent: (e: TurnEvent) => void;
}

export class VadTap {
  /** The rate the VAD scores at. */
  readonly rate: 8000 | 16000;
  readonly #vad: CallVad;
  readonly #resampler: Resampler | undefined;
  readonly #delayMs: number;

  constructor(opts: VadTapOptions) {
    this.rate = opts.wireRate === 8000 || opts.wireRate === 16000 ? opts.wireRate : 16000;
    this.#resampler = this.rate === opts.wireRate ? undefined : new Resampler({ from: opts.wireRate, to: this.rate });
    // The resampler's filter delay shifts VAD time a few ms late; turn timestamps stay in caller media time.
    this.#delayMs = this.#resampler?.delayMs ?? 0;
    this.#vad = opts.vad.createCallVad({ callId: opts.callId, sampleRate: this.rate, onEvent: opts.onEvent, logger: opts.logger });
    // Silero scores 32 ms windows at both rates (256 samples at 8 kHz, 512 at 16 kHz).
    opts.metrics.latency.fixedDelayMs.set(`vad_window_${String(this.rate)}`, 32);
  }

  get speaking(): boolean {
    return this.#vad.speaking;
  }

  get engine(): VadEngine {
    return this.#vad.engine;
  }

  push(pcm: AudioFrame): void {
    if (!this.#resampler) this.#vad.push(pcm.samples, pcm.timestampMs);
    else {
      const samples = this.#resampler.process(pcm.samples);
      if (samples.length > 0) this.#vad.push(samples, Math.max(0, pcm.timestampMs - this.#delayMs));
    }
  }

  close(): void {
    this.#vad.close();
  }
}
