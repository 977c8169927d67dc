/**
 * The caller's VAD, at a rate Silero runs at (8 or 16 kHz: telephony audio is scored as it is,
 * anything else at 16 kHz). The ingress graph feeds it (pipeline/stages.ts VadStage brings the audio
 * to this rate, sharing the provider's resampling where it can); turn events go to `onEvent` in
 * caller media time.
 */
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { VadInput } from '../pipeline/stages.js';
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

export class VadTap implements VadInput {
  /** The rate the VAD scores at. */
  readonly rate: 8000 | 16000;
  readonly #vad: CallVad;

  constructor(opts: VadTapOptions) {
    this.rate = opts.wireRate === 8000 || opts.wireRate === 16000 ? opts.wireRate : 16000;
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

  get sampleRate(): number {
    return this.rate;
  }

  /** VAD off is for the call's life (a fallback goes to energy, never to off). */
  get wantsAudio(): boolean {
    return this.#vad.engine !== 'off';
  }

  /** PCM16 at `sampleRate`, `timestampMs` in caller media time (what VadStage hands over). */
  push(samples: Int16Array, timestampMs: number): void {
    this.#vad.push(samples, timestampMs);
  }

  close(): void {
    this.#vad.close();
  }
}
