/**
 * Brings calls back to Silero after a worker fault. A worker that crashes or times out makes the calls
 * of its batch fall back to the energy VAD (call-vad.ts); piscina replaces the worker, but those calls
 * used to stay on energy for the rest of the call. Here, after a fault, the pool is probed with one
 * real Silero inference (one window of silence through the `vad` task, so a worker that only answers
 * pings, or a model that keeps failing, does not count as healthy). A probe that succeeds bumps the
 * `generation`; a call that fell back at an older generation returns to Silero at its next quiet
 * moment. A probe that fails is retried with a doubling delay, so a broken pool is not hammered.
 */
import type { Logger } from '../../observability/logger.js';
import type { WorkerPool } from '../../workers/pool.js';
import type { VadTaskPayload } from './vad.task.js';
import { SILERO_GEOMETRY, SILERO_STATE_SIZE } from './silero-model.js';

export interface SileroRecoveryOptions {
  readonly pool: WorkerPool;
  readonly logger: Logger;
  /** First probe this long after a fault (default 2000 ms); doubled after each failed probe. */
  readonly probeDelayMs?: number;
  /** Longest wait between probes (default 30 s). */
  readonly maxProbeDelayMs?: number;
  /** A probe slower than this failed (default 2000 ms). */
  readonly probeTimeoutMs?: number;
}

export class SileroRecovery {
  readonly #pool: WorkerPool;
  readonly #log: Logger;
  readonly #firstDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #timeoutMs: number;
  #generation = 0;
  #delayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #probing = false;
  #closed = false;

  constructor(options: SileroRecoveryOptions) {
    this.#pool = options.pool;
    this.#log = options.logger;
    this.#firstDelayMs = options.probeDelayMs ?? 2000;
    this.#maxDelayMs = Math.max(options.maxProbeDelayMs ?? 30_000, this.#firstDelayMs);
    this.#timeoutMs = options.probeTimeoutMs ?? 2000;
    this.#delayMs = this.#firstDelayMs;
  }

  /** How many times the pool has been seen healthy again after a fault. */
  get generation(): number {
    return this.#generation;
  }

  /** A call left Silero for a fault that may pass: returns the generation it left at, and probes. */
  noteFault(): number {
    if (!this.#closed && this.#timer === undefined && !this.#probing) {
      this.#timer = setTimeout(() => void this.#probe(), this.#delayMs);
      this.#timer.unref();
    }
    return this.#generation;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #probe(): Promise<void> {
    this.#timer = undefined;
    if (this.#closed) return;
    this.#probing = true;
    const { rowSamples } = SILERO_GEOMETRY[16000];
    const input = new Float32Array(rowSamples);
    const state = new Float32Array(SILERO_STATE_SIZE);
    const payload: VadTaskPayload = { sampleRate: 16000, batchSize: 1, input, state };
    let healthy = false;
    try {
      const result = await this.#pool.run<Float32Array>('vad', payload, { transferList: [input.buffer, state.buffer], signal: AbortSignal.timeout(this.#timeoutMs) });
      healthy = this.#pool.ready && result.length > 0 && Number.isFinite(result[0]);
    } catch (err) {
      this.#log.debug({ event: 'vad_probe_failed', err, nextProbeMs: Math.min(this.#delayMs * 2, this.#maxDelayMs) }, 'Silero probe failed; calls stay on the energy VAD');
    }
    this.#probing = false;
    if (this.#closed) return;
    if (healthy) {
      this.#generation++;
      this.#delayMs = this.#firstDelayMs;
      this.#log.info({ event: 'vad_pool_healthy', generation: this.#generation }, 'Silero answers again; calls that fell back return to it');
      return;
    }
    this.#delayMs = Math.min(this.#delayMs * 2, this.#maxDelayMs);
    this.#timer = setTimeout(() => void this.#probe(), this.#delayMs);
    this.#timer.unref();
  }
}
