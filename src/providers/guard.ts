/**
 * The shared base every provider adapter runs behind: one opossum circuit breaker per provider,
 * metrics and logs. Adapters only connect, encode and decode; this is where failures are counted,
 * where a rejected key opens the breaker at once (instead of failing again on every audio chunk), and
 * where an open breaker stops sends. There is no retry here: the failover switch is the program's
 * one retry layer.
 */
import CircuitBreaker from 'opossum';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { AudioFrame, EncodedFrame } from '../pipeline/frame.js';
import type { ConversationTurn, Provider, ProviderConnectOptions, ProviderEvent, ProviderSession, TurnInfo } from './types.js';
import { untilAborted } from '../util/abort.js';

export interface BreakerSettings {
  readonly errorThresholdPercentage: number;
  /** Failures needed in the window before the breaker may open. */
  readonly volumeThreshold: number;
  /** How long the breaker stays open before a half-open trial. */
  readonly resetTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly rollingWindowMs: number;
}

export type BreakerState = 'closed' | 'halfOpen' | 'open';
const STATE_VALUE: Record<BreakerState, number> = { closed: 0, halfOpen: 1, open: 2 };

/** Errors no retry can fix: open the breaker at once. */
export function isHardFailure(err: unknown): boolean {
  return isGatewayError(err) && (err.code === 'GW_ERR_PROVIDER_AUTH' || err.code === 'GW_ERR_PROVIDER_QUOTA');
}

type Op = () => Promise<unknown>;

export class GuardedProvider implements Provider {
  readonly name: string;
  readonly inputFormats;
  readonly #adapter: Provider;
  readonly #breaker: CircuitBreaker<[Op], unknown>;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #settings: BreakerSettings;

  constructor(adapter: Provider, deps: { metrics: Metrics; logger: Logger; breaker: BreakerSettings }) {
    this.#adapter = adapter;
    this.name = adapter.name;
    this.inputFormats = adapter.inputFormats;
    this.#metrics = deps.metrics;
    this.#settings = deps.breaker;
    this.#log = deps.logger.child({ provider: adapter.name });
    this.#breaker = new CircuitBreaker((op: Op) => op(), {
      // Connect timeouts are enforced per call below, where the error can be typed.
      timeout: false,
      errorThresholdPercentage: deps.breaker.errorThresholdPercentage,
      volumeThreshold: deps.breaker.volumeThreshold,
      resetTimeout: deps.breaker.resetTimeoutMs,
      rollingCountTimeout: deps.breaker.rollingWindowMs,
      rollingCountBuckets: 10,
      name: adapter.name,
    });
    // Every live call on this provider listens for 'open' (to switch away at once).
    this.#breaker.setMaxListeners(0);
    const gauge = this.#metrics.circuitBreakerState;
    gauge.set({ provider: this.name }, 0);
    this.#breaker.on('open', () => {
      gauge.set({ provider: this.name }, STATE_VALUE.open);
      this.#log.warn({ event: 'breaker_opened', resetTimeoutMs: this.#settings.resetTimeoutMs }, `circuit breaker for ${this.name} opened`);
    });
    this.#breaker.on('halfOpen', () => {
      gauge.set({ provider: this.name }, STATE_VALUE.halfOpen);
      this.#log.info({ event: 'breaker_half_open' }, `circuit breaker for ${this.name} half-open: next call is a trial`);
    });
    this.#breaker.on('close', () => {
      gauge.set({ provider: this.name }, STATE_VALUE.closed);
      this.#log.info({ event: 'breaker_closed' }, `circuit breaker for ${this.name} closed`);
    });
  }

  /** Be told when the breaker opens (the call switches away at once). Returns an unsubscribe. */
  onOpen(listener: () => void): () => void {
    this.#breaker.on('open', listener);
    return () => {
      this.#breaker.removeListener('open', listener);
    };
  }

  get state(): BreakerState {
    if (this.#breaker.opened) return 'open';
    if (this.#breaker.halfOpen) return 'halfOpen';
    return 'closed';
  }

  /** Count an outcome seen outside connect (a send that threw, an error event, a good reply). */
  record(outcome: { ok: true } | { ok: false; error: unknown }, op: string): void {
    const status = outcome.ok ? 'ok' : 'error';
    this.#metrics.providerRequestsTotal.inc({ provider: this.name, op, status });
    if (outcome.ok) {
      // In half-open, only the trial's result may close the breaker; a success counted here would too.
      if (!this.#breaker.opened) void this.#breaker.fire(() => Promise.resolve()).catch(() => undefined);
      return;
    }
    const err = outcome.error;
    this.#metrics.providerErrorsTotal.inc({ provider: this.name, type: isGatewayError(err) ? err.code : 'unknown' });
    if (isHardFailure(err)) {
      this.#openNow(err);
      return;
    }
    if (!this.#breaker.opened) void this.#breaker.fire(() => Promise.reject(err)).catch(() => undefined);
  }

  #openNow(err: unknown): void {
    if (this.#breaker.opened) return;
    this.#log.error({ event: 'provider_hard_failure', code: isGatewayError(err) ? err.code : undefined }, `${this.name}: ${(err as Error).message}; opening the breaker now`);
    this.#breaker.open();
  }

  async connect(options: ProviderConnectOptions): Promise<ProviderSession> {
    const labels = { provider: this.name, op: 'connect' };
    if (this.#breaker.opened) {
      this.#metrics.providerRequestsTotal.inc({ ...labels, status: 'rejected' });
      throw new GatewayError('GW_ERR_PROVIDER_BREAKER_OPEN', this.name);
    }
    const t0 = performance.now();
    const timeout = AbortSignal.timeout(this.#settings.connectTimeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let session: ProviderSession;
    try {
      session = (await this.#breaker.fire(() =>
        untilAborted(this.#adapter.connect({ ...options, signal }), signal, () =>
          timeout.aborted
            ? new GatewayError('GW_ERR_PROVIDER_TIMEOUT', `${this.name} connect took over ${String(this.#settings.connectTimeoutMs)} ms`)
            : new GatewayError('GW_ERR_PROVIDER_CONNECT', `${this.name} connect aborted`),
        ),
      )) as ProviderSession;
    } catch (err) {
      const typed = toGatewayError(err, this.name);
      this.#metrics.providerRequestsTotal.inc({ ...labels, status: typed.code === 'GW_ERR_PROVIDER_BREAKER_OPEN' ? 'rejected' : 'error' });
      this.#metrics.providerErrorsTotal.inc({ provider: this.name, type: typed.code });
      if (isHardFailure(typed)) this.#openNow(typed);
      this.#log.warn({ event: 'provider_connect_failed', callId: options.callId, code: typed.code, err: typed }, `${this.name} connect failed`);
      throw typed;
    }
    const seconds = (performance.now() - t0) / 1000;
    this.#metrics.providerRequestsTotal.inc({ ...labels, status: 'ok' });
    this.#metrics.providerLatencySeconds.observe(labels, seconds);
    this.#log.info({ event: 'provider_connected', callId: options.callId, ms: Math.round(seconds * 1000) }, `${this.name} session configured`);
    return new GuardedSession(session, this, this.#metrics, options.logger);
  }
}

function toGatewayError(err: unknown, provider: string): GatewayError {
  if (isGatewayError(err)) return err;
  const e = err as { code?: string; message?: string };
  if (e.code === 'EOPENBREAKER') return new GatewayError('GW_ERR_PROVIDER_BREAKER_OPEN', provider, { cause: err });
  return new GatewayError('GW_ERR_PROVIDER_CONNECT', `${provider}: ${e.message ?? String(err)}`, { cause: err });
}

/** Observes a live session: sends stop while the breaker is open, events feed the breaker and metrics. */
class GuardedSession implements ProviderSession {
  readonly provider: string;
  readonly inputFormat;
  readonly outputFormat;
  readonly #inner: ProviderSession;
  readonly #guard: GuardedProvider;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  #turnEndedAt: number | undefined;
  #closed = false;

  constructor(inner: ProviderSession, guard: GuardedProvider, metrics: Metrics, logger: Logger) {
    this.#inner = inner;
    this.#guard = guard;
    this.#metrics = metrics;
    this.#log = logger;
    this.provider = inner.provider;
    this.inputFormat = inner.inputFormat;
    this.outputFormat = inner.outputFormat;
    metrics.providerActiveSessions.inc({ provider: this.provider });
  }

  pushAudio(frame: AudioFrame | EncodedFrame): void {
    if (this.#guard.state === 'open') return; // the failover switch holds these frames for the next provider
    try {
      this.#inner.pushAudio(frame);
    } catch (err) {
      this.#guard.record({ ok: false, error: err }, 'send_audio');
    }
  }

  endTurn(turn: TurnInfo): void {
    this.#turnEndedAt = performance.now();
    try {
      this.#inner.endTurn(turn);
    } catch (err) {
      this.#guard.record({ ok: false, error: err }, 'end_turn');
    }
  }

  interrupt(info: { responseId: string; heardMs: number }): void {
    try {
      this.#inner.interrupt(info);
    } catch (err) {
      this.#guard.record({ ok: false, error: err }, 'interrupt');
    }
  }

  get appendHistory(): ((turns: readonly ConversationTurn[]) => void) | undefined {
    const inner = this.#inner;
    if (!inner.appendHistory) return undefined;
    return (turns) => inner.appendHistory!(turns);
  }

  sendText(text: string): void {
    try {
      this.#inner.sendText?.(text);
    } catch (err) {
      this.#guard.record({ ok: false, error: err }, 'send_text');
    }
  }

  get events(): AsyncIterable<ProviderEvent> {
    const inner = this.#inner.events;
    const observe = (ev: ProviderEvent) => this.#observe(ev);
    return {
      async *[Symbol.asyncIterator]() {
        for await (const ev of inner) {
          observe(ev);
          yield ev;
        }
      },
    };
  }

  #observe(ev: ProviderEvent): void {
    switch (ev.type) {
      case 'audio':
        if (this.#turnEndedAt !== undefined) {
          this.#metrics.providerLatencySeconds.observe({ provider: this.provider, op: 'first_audio' }, (performance.now() - this.#turnEndedAt) / 1000);
          this.#turnEndedAt = undefined;
        }
        break;
      case 'responseDone':
        this.#guard.record({ ok: true }, 'response');
        break;
      case 'error':
        this.#guard.record({ ok: false, error: ev.error }, 'session');
        this.#log.warn({ event: 'provider_error', provider: this.provider, code: ev.error.code, fatal: ev.fatal }, ev.error.message);
        break;
      case 'closed':
        this.#log.info({ event: 'provider_closed', provider: this.provider, reason: ev.reason }, 'provider closed the session');
        break;
      default:
        break;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#metrics.providerActiveSessions.dec({ provider: this.provider });
    await this.#inner.close();
  }
}
