/**
 * One call's VAD: windows pushed audio (any frame size) into 32 ms windows, scores them with Silero
 * (through the shared batcher) or the energy VAD, runs the turn detector and emits turn events in
 * media order.
 *
 * Samples wait in a power-of-two ring until scored. Windows are powers of two too and start at
 * multiples of the window size, so a window (and the context before it) is always contiguous in the
 * ring. The energy VAD scores every window as it completes (~3 us per 32 ms window, ~100 us per
 * call-second at 16 kHz): with Silero active its result is only kept, so a fallback continues from
 * a warm noise floor with no gap in the scores.
 *
 * The silence gate: between turns, a window whose band-limited level (the energy VAD's, 300-3400 Hz)
 * is under `silenceGateDb` is scored 0 here instead of by Silero. On a quiet line that is the pauses
 * between utterances and the time the caller listens, about half of all windows, and each one not
 * sent saves its model run, its worker round trip share and its copy into the batch. Silero's
 * recurrent state simply skips such windows (it last saw the silence before them). Never gated
 * while a turn is on, so a soft word inside speech cannot end it. Silero's recurrent state and context stay here, on the main thread; a worker that dies
 * takes only the batch it held, and that window is then scored by the energy VAD.
 */
import { GatewayError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { Metrics } from '../../observability/metrics.js';
import { EnergyVad, type EnergyVadOptions } from './energy-vad.js';
import type { BatchMember, FallbackReason, SileroBatcher } from './silero-batcher.js';
import { SILERO_STATE_SIZE, SILERO_STATE_UNITS, sileroGeometry, type VadSampleRate } from './silero-model.js';
import type { SileroRecovery } from './silero-recovery.js';
import { TurnDetector, type TurnEvent, type TurnOptions } from './turn-detector.js';

export type VadEngine = 'silero' | 'energy' | 'off';

export interface CallVad {
  readonly callId: string;
  readonly sampleRate: VadSampleRate;
  /** 'silero' until a fault makes this call fall back to 'energy'. */
  readonly engine: VadEngine;
  /** True between speechStart and speechEnd. */
  readonly speaking: boolean;
  /** Speech probability of the last scored window. */
  readonly lastProbability: number;
  /** Why this call left Silero, if it did. */
  readonly fallbackReason: FallbackReason | undefined;
  /** PCM16 at `sampleRate`, any length; `timestampMs` is the media time of `samples[0]`. */
  push(samples: Int16Array, timestampMs: number): void;
  /** Resolves when every complete window pushed so far is scored and its events emitted. */
  flush(): Promise<void>;
  close(): void;
}

export interface CallVadOptions {
  callId: string;
  sampleRate: VadSampleRate;
  onEvent: (event: TurnEvent) => void;
  logger?: Logger;
  /** Every window's probability and end time, for debugging and scoring. */
  onProbability?: (probability: number, windowEndMs: number) => void;
  /** Called once if Silero fails for this call (the call carries on with the energy VAD). */
  onError?: (err: GatewayError) => void;
}

/** What the service hands every call; made once per service. */
export interface CallVadContext {
  readonly engine: VadEngine;
  readonly batcher: SileroBatcher | undefined;
  readonly turn: Partial<TurnOptions>;
  readonly energy: Partial<EnergyVadOptions>;
  readonly maxBacklogMs: number;
  readonly logger: Logger;
  readonly metrics: Metrics | undefined;
  /** Plain per-window counts, folded into voice_gateway_vad_windows_total when it is collected. */
  readonly windowCounters: Metrics['vadWindows'] | undefined;
  /** Between turns, windows under this band-limited level (dBFS) skip Silero (-Infinity: never). */
  readonly silenceGateDb: number;
  readonly onClose: (call: WindowedCallVad) => void;
  /** Tells calls when the pool is healthy again after a fault (absent: a fallback is for good). */
  readonly recovery?: SileroRecovery;
}

/** Faults that can pass (piscina replaces a dead worker): a call may go back to Silero after them. */
const TRANSIENT: ReadonlySet<FallbackReason> = new Set(['worker_error', 'timeout']);

const INITIAL_WINDOWS = 16;

function nextPowerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(n, 1)));
}

export class WindowedCallVad implements CallVad, BatchMember {
  readonly callId: string;
  readonly sampleRate: VadSampleRate;
  readonly #ctx: CallVadContext;
  readonly #window: number;
  readonly #context: number;
  readonly #windowMs: number;
  readonly #msPerSample: number;
  readonly #detector: TurnDetector;
  readonly #energy: EnergyVad;
  readonly #onEvent: (event: TurnEvent) => void;
  readonly #onProbability: ((probability: number, windowEndMs: number) => void) | undefined;
  readonly #onError: ((err: GatewayError) => void) | undefined;
  readonly #logger: Logger;
  readonly #state = new Float32Array(SILERO_STATE_SIZE);
  #engine: VadEngine;
  #fallbackReason: FallbackReason | undefined;
  /** Set while on energy after a transient fault: the recovery generation the call left Silero at. */
  #leftAtGeneration: number | undefined;
  #recoveries = 0;
  /** Sample ring; absolute sample i lives at i & #sampleMask. */
  #samples: Int16Array;
  #sampleMask: number;
  /** Per-window ring (start time, arrival, energy score, level); absolute window k lives at k & #windowMask. */
  #startMs: Float64Array;
  /** performance.now() when the window's last sample arrived: how long its score took (speechStart's scoringLagMs). */
  #completedAt: Float64Array;
  #energyScore: Float32Array;
  #levelDb: Float32Array;
  #windowMask: number;
  #written = 0;
  #completed = 0;
  #scored = 0;
  /** Windows out in a task (0: none). */
  #inFlight = 0;
  #queued = false;
  #closed = false;
  #waiters: (() => void)[] = [];

  constructor(options: CallVadOptions, ctx: CallVadContext) {
    const geometry = sileroGeometry(options.sampleRate);
    this.callId = options.callId;
    this.sampleRate = geometry.sampleRate;
    this.#ctx = ctx;
    this.#engine = ctx.engine;
    this.#window = geometry.windowSamples;
    this.#context = geometry.contextSamples;
    this.#msPerSample = 1000 / geometry.sampleRate;
    this.#windowMs = geometry.windowSamples * this.#msPerSample;
    this.#detector = new TurnDetector({ ...ctx.turn, windowMs: this.#windowMs });
    this.#energy = new EnergyVad(geometry.sampleRate, ctx.energy);
    this.#onEvent = options.onEvent;
    this.#onProbability = options.onProbability;
    this.#onError = options.onError;
    this.#logger = options.logger
      ? options.logger.child({ component: 'vad' })
      : ctx.logger.child({ callId: options.callId, component: 'vad' });
    this.#samples = new Int16Array(INITIAL_WINDOWS * this.#window);
    this.#sampleMask = this.#samples.length - 1;
    this.#startMs = new Float64Array(INITIAL_WINDOWS);
    this.#completedAt = new Float64Array(INITIAL_WINDOWS);
    this.#energyScore = new Float32Array(INITIAL_WINDOWS);
    this.#levelDb = new Float32Array(INITIAL_WINDOWS);
    this.#windowMask = INITIAL_WINDOWS - 1;
  }

  get engine(): VadEngine {
    return this.#engine;
  }

  get speaking(): boolean {
    return this.#detector.speaking;
  }

  get lastProbability(): number {
    return this.#detector.lastProbability;
  }

  get fallbackReason(): FallbackReason | undefined {
    return this.#fallbackReason;
  }

  /** Times this call went back to Silero after a fault. */
  get recoveries(): number {
    return this.#recoveries;
  }

  push(samples: Int16Array, timestampMs: number): void {
    if (this.#closed || this.#engine === 'off') return;
    const n = samples.length;
    if (n === 0) return;
    this.#reserve(n);
    const win = this.#window;
    const ring = this.#samples;
    const mask = this.#sampleMask;
    let i = 0;
    while (i < n) {
      const pos = this.#written - this.#completed * win;
      if (pos === 0) this.#startMs[this.#completed & this.#windowMask] = timestampMs + i * this.#msPerSample;
      const take = Math.min(win - pos, n - i);
      // Never wraps: the ring holds whole windows and this copy stays inside one.
      const at = this.#written & mask;
      for (let j = 0; j < take; j++) ring[at + j] = samples[i + j];
      this.#written += take;
      i += take;
      if (pos + take === win) this.#completeWindow();
    }
    this.#advance();
  }

  flush(): Promise<void> {
    if (this.#closed || this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#settle(true);
    this.#ctx.onClose(this);
  }

  // --- BatchMember (called by the batcher) ---

  acceptWindows(max: number): number {
    this.#queued = false;
    if (this.#closed || this.#engine !== 'silero' || this.#inFlight > 0 || this.#scored >= this.#completed) return 0;
    this.#inFlight = Math.min(max, this.#completed - this.#scored);
    return this.#inFlight;
  }

  writeWindow(input: Float32Array, base: number, step: number): void {
    const ring = this.#samples;
    const mask = this.#sampleMask;
    const ctx = this.#context;
    const win = this.#window;
    const k = this.#scored + step;
    const at = (k * win) & mask;
    if (k > 0) {
      // The context is the tail of the previous window, which sits just before this one.
      const from = (at - ctx) & mask;
      for (let j = 0; j < ctx; j++) input[base + j] = ring[from + j] / 32768;
    } else {
      // The first window has no context: silence (the batch's rows are reused memory, not zeroed).
      input.fill(0, base, base + ctx);
    }
    for (let j = 0; j < win; j++) input[base + ctx + j] = ring[at + j] / 32768;
  }

  writeState(state: Float32Array, row: number, batchSize: number): void {
    for (let layer = 0; layer < 2; layer++) {
      const from = layer * SILERO_STATE_UNITS;
      state.set(this.#state.subarray(from, from + SILERO_STATE_UNITS), (layer * batchSize + row) * SILERO_STATE_UNITS);
    }
  }

  onResult(probabilities: Float32Array, count: number, result: Float32Array, stateOffset: number, row: number, batchSize: number): void {
    this.#inFlight = 0;
    if (this.#closed) return;
    for (let layer = 0; layer < 2; layer++) {
      const from = stateOffset + (layer * batchSize + row) * SILERO_STATE_UNITS;
      this.#state.set(result.subarray(from, from + SILERO_STATE_UNITS), layer * SILERO_STATE_UNITS);
    }
    if (this.#ctx.windowCounters) this.#ctx.windowCounters.silero.count += count;
    for (let i = 0; i < count; i++) this.#apply(probabilities[i]);
    this.#advance();
  }

  onError(err: Error, reason: FallbackReason): void {
    this.#inFlight = 0;
    if (this.#closed) return;
    this.#fallBack(reason, err);
    this.#advance();
  }

  // --- internals ---

  #idle(): boolean {
    return this.#inFlight === 0 && this.#scored === this.#completed;
  }

  #completeWindow(): void {
    const k = this.#completed;
    const at = (k * this.#window) & this.#sampleMask;
    this.#energyScore[k & this.#windowMask] = this.#energy.process(this.#samples.subarray(at, at + this.#window));
    this.#levelDb[k & this.#windowMask] = this.#energy.levelDb;
    this.#completedAt[k & this.#windowMask] = performance.now();
    this.#completed = k + 1;
  }

  /** Score what can be scored now: queue for Silero, or drain with the energy scores. */
  #advance(): void {
    if (this.#leftAtGeneration !== undefined) this.#maybeRecover();
    if (this.#engine === 'silero' && (this.#completed - this.#scored) * this.#windowMs > this.#ctx.maxBacklogMs) {
      this.#fallBack('backlog', undefined);
    }
    if (this.#inFlight > 0) return;
    if (this.#engine === 'silero') {
      this.#gateSilence();
      if (this.#scored < this.#completed) {
        if (!this.#queued) {
          this.#queued = true;
          this.#ctx.batcher?.enqueue(this);
        }
        return;
      }
    } else {
      const counter = this.#ctx.windowCounters?.energy;
      while (this.#scored < this.#completed) {
        if (counter) counter.count++;
        this.#apply(this.#energyScore[this.#scored & this.#windowMask]);
      }
    }
    this.#settle(false);
  }

  /** Scores 0 the silent windows at the head of the queue while no turn is on (see the header). */
  #gateSilence(): void {
    const gate = this.#ctx.silenceGateDb;
    let gated = 0;
    while (this.#scored < this.#completed && !this.#detector.speaking && this.#levelDb[this.#scored & this.#windowMask] < gate) {
      this.#apply(0);
      gated++;
    }
    if (gated > 0 && this.#ctx.windowCounters) this.#ctx.windowCounters.gated.count += gated;
  }

  #apply(probability: number): void {
    const k = this.#scored;
    this.#scored = k + 1;
    const endMs = this.#startMs[k & this.#windowMask] + this.#windowMs;
    this.#onProbability?.(probability, endMs);
    const events = this.#detector.process(probability, endMs);
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      // A turn start is rare (a copy is no per-window cost); it says how long the deciding score took.
      this.#emit(e.type === 'speechStart' ? { ...e, scoringLagMs: performance.now() - this.#completedAt[k & this.#windowMask] } : e);
    }
  }

  #emit(event: TurnEvent): void {
    try {
      this.#onEvent(event);
    } catch (err) {
      this.#logger.error({ event: 'vad_listener_error', err }, 'turn event listener threw');
    }
  }

  /**
   * Back to Silero once the pool answered a probe after this call's fault, and only between turns
   * (a change of engine mid-utterance could cut the turn). The recurrent state starts afresh, as for
   * a new call: the windows scored by energy meanwhile never went through it.
   */
  #maybeRecover(): void {
    const recovery = this.#ctx.recovery;
    if (!recovery || this.#leftAtGeneration === undefined || recovery.generation <= this.#leftAtGeneration) return;
    if (this.#inFlight > 0 || this.#detector.speaking) return;
    this.#leftAtGeneration = undefined;
    this.#engine = 'silero';
    this.#state.fill(0);
    this.#recoveries++;
    this.#ctx.metrics?.vadRecoveriesTotal.inc();
    this.#logger.info({ event: 'vad_recovered', after: this.#fallbackReason, recoveries: this.#recoveries }, 'back on the Silero VAD');
  }

  #fallBack(reason: FallbackReason, cause: Error | undefined): void {
    if (this.#engine !== 'silero') return;
    this.#engine = 'energy';
    this.#fallbackReason = reason;
    if (TRANSIENT.has(reason)) this.#leftAtGeneration = this.#ctx.recovery?.noteFault();
    this.#ctx.metrics?.vadFallbacksTotal.inc({ reason });
    const err = new GatewayError('GW_ERR_VAD_INFERENCE', `${reason}; this call continues with the energy VAD`, { cause });
    this.#logger.warn({ event: 'vad_fallback', reason, err }, 'Silero VAD failed, falling back to the energy VAD');
    try {
      this.#onError?.(err);
    } catch (listenerErr) {
      this.#logger.error({ event: 'vad_listener_error', err: listenerErr }, 'VAD error listener threw');
    }
  }

  #settle(force: boolean): void {
    if (this.#waiters.length === 0 || (!force && !this.#idle())) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Grow the rings (rare: only when scoring falls behind) so `n` more samples fit. */
  #reserve(n: number): void {
    const win = this.#window;
    const firstWindow = Math.max(this.#scored - 1, 0); // the previous window holds the context
    const from = firstWindow * win;
    const needed = this.#written + n - from + win;
    if (needed <= this.#samples.length) return;
    const capacity = nextPowerOfTwo(needed);
    const samples = new Int16Array(capacity);
    const mask = capacity - 1;
    for (let i = from; i < this.#written; i++) samples[i & mask] = this.#samples[i & this.#sampleMask];
    const windows = capacity / win;
    const startMs = new Float64Array(windows);
    const completedAt = new Float64Array(windows);
    const energyScore = new Float32Array(windows);
    const levelDb = new Float32Array(windows);
    const windowMask = windows - 1;
    for (let k = firstWindow; k <= this.#completed; k++) {
      startMs[k & windowMask] = this.#startMs[k & this.#windowMask];
      completedAt[k & windowMask] = this.#completedAt[k & this.#windowMask];
      energyScore[k & windowMask] = this.#energyScore[k & this.#windowMask];
      levelDb[k & windowMask] = this.#levelDb[k & this.#windowMask];
    }
    this.#samples = samples;
    this.#sampleMask = mask;
    this.#startMs = startMs;
    this.#completedAt = completedAt;
    this.#energyScore = energyScore;
    this.#levelDb = levelDb;
    this.#windowMask = windowMask;
  }
}
