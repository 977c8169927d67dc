/**
 * The shared base every provider adapter runs behind: one opossum circuit breaker per provider,
 * metrics and logs. Adapters only connect, encode and decode; this is where failures are counted.
 *
 * The breaker guards NEW sessions: an open breaker refuses connects, so new calls go to the next
 * provider, while live sessions that still work keep their calls (a breaker opened by another call's
 * quota error must not evict 19 healthy calls). Only a call whose own session failed switches, and
 * that is the call's decision, on its session's events. Each failure is counted once: a failed
 * connect, an auth/quota error, a mid-call drop, a response timeout, an error event; a reply that
 * failed is not also counted as a success. A key rejected at connect opens the breaker at once (every
 * connect would fail the same way). Unknown server events are logged and counted, never failures.
 * There is no retry here: the failover switch is the program's one retry layer.
 *
 * Several nodes (REDIS_URL): breaker-sync.ts tells other nodes of this breaker's transitions and
 * applies theirs here through `applyRemote`; failures are still counted per node only.
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

/**
 * A transition of a breaker. `origin` says who decided it: 'local' (this node's own counts, a
 * hard failure, its reset timer or trial) or 'remote' (applied from another node's message).
 */
export interface BreakerChange {
  readonly provider: string;
  readonly state: BreakerState;
  readonly origin: 'local' | 'remote';
  /** How long an open breaker stays open before its half-open trial. */
  readonly resetTimeoutMs: number;
}

/** Another node's transition, as breaker-sync.ts applies it. */
export type RemoteBreakerChange = { readonly state: 'open'; readonly resetTimeoutMs: number } | { readonly state: 'closed' };

/** Errors no retry can fix: at connect, they open the breaker at once. */
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
  /** The options object opossum keeps (it reads resetTimeout when an open starts its timer). */
  readonly #breakerOptions: CircuitBreaker.Options<[Op]>;
  readonly #changeListeners = new Set<(change: BreakerChange) => void>();
  /** True while a remote change is being applied: the transitions it causes are 'remote'. */
  #applyingRemote = false;
  /** Who opened the breaker now open or half-open; undefined when closed. */
  #openedBy: 'local' | 'remote' | undefined;

  constructor(adapter: Provider, deps: { metrics: Metrics; logger: Logger; breaker: BreakerSettings }) {
    this.#adapter = adapter;
    this.name = adapter.name;
    this.inputFormats = adapter.inputFormats;
    this.#metrics = deps.metrics;
    this.#settings = deps.breaker;
    this.#log = deps.logger.child({ provider: adapter.name });
    this.#breakerOptions = {
      // Connect timeouts are enforced per call below, where the error can be typed.
      timeout: false,
      errorThresholdPercentage: deps.breaker.errorThresholdPercentage,
      volumeThreshold: deps.breaker.volumeThreshold,
      resetTimeout: deps.breaker.resetTimeoutMs,
      rollingCountTimeout: deps.breaker.rollingWindowMs,
      rollingCountBuckets: 10,
      name: adapter.name,
    };
    this.#breaker = new CircuitBreaker((op: Op) => op(), this.#breakerOptions);
    const gauge = this.#metrics.circuitBreakerState;
    gauge.set({ provider: this.name }, 0);
    this.#breaker.on('open', () => {
      gauge.set({ provider: this.name }, STATE_VALUE.open);
      const origin = this.#origin();
      this.#openedBy = origin;
      const resetTimeoutMs = this.#breakerOptions.resetTimeout ?? this.#settings.resetTimeoutMs;
      this.#log.warn({ event: 'breaker_opened', origin, resetTimeoutMs }, `circuit breaker for ${this.name} opened${origin === 'remote' ? ' (by another node)' : ''}`);
      this.#changed('open', origin, resetTimeoutMs);
    });
    this.#breaker.on('halfOpen', () => {
      gauge.set({ provider: this.name }, STATE_VALUE.halfOpen);
      this.#log.info({ event: 'breaker_half_open' }, `circuit breaker for ${this.name} half-open: next call is a trial`);
      this.#changed('halfOpen', this.#origin(), this.#settings.resetTimeoutMs);
    });
    this.#breaker.on('close', () => {
      gauge.set({ provider: this.name }, STATE_VALUE.closed);
      const origin = this.#origin();
      this.#openedBy = undefined;
      this.#log.info({ event: 'breaker_closed', origin }, `circuit breaker for ${this.name} closed${origin === 'remote' ? ' (by another node)' : ''}`);
      this.#changed('closed', origin, this.#settings.resetTimeoutMs);
    });
  }

  #origin(): 'local' | 'remote' {
    return this.#applyingRemote ? 'remote' : 'local';
  }

  #changed(state: BreakerState, origin: 'local' | 'remote', resetTimeoutMs: number): void {
    const change: BreakerChange = { provider: this.name, state, origin, resetTimeoutMs };
    for (const listener of this.#changeListeners) {
      // A listener runs inside opossum's emit, inside a connect: it must never break the breaker.
      try {
        listener(change);
      } catch (err) {
        this.#log.error({ event: 'breaker_listener_failed', err: (err as Error).message }, 'a breaker state listener threw; ignored');
      }
    }
  }

  /** Be told of every transition and who decided it (breaker-sync.ts). Returns an unsubscribe. */
  onStateChange(listener: (change: BreakerChange) => void): () => void {
    this.#changeListeners.add(listener);
    return () => {
      this.#changeListeners.delete(listener);
    };
  }

  /**
   * Apply another node's transition; returns whether this breaker changed. A remote open opens a
   * closed or half-open breaker for the remote's reset timeout (then this node's own half-open trial
   * decides); an open one keeps its own timer. A remote close releases only what a remote open
   * opened: a breaker this node's own failures opened waits for this node's own trial.
   */
  applyRemote(change: RemoteBreakerChange): boolean {
    if (change.state === 'open') {
      if (this.#breaker.opened) return false;
      this.#applyingRemote = true;
      // opossum reads options.resetTimeout when 'open' starts its timer, synchronously in open().
      this.#breakerOptions.resetTimeout = change.resetTimeoutMs;
      try {
        this.#breaker.open();
      } finally {
        this.#breakerOptions.resetTimeout = this.#settings.resetTimeoutMs;
        this.#applyingRemote = false;
      }
      return true;
    }
    if (this.#breaker.closed || this.#openedBy !== 'remote') return false;
    this.#applyingRemote = true;
    try {
      this.#breaker.close();
    } finally {
      this.#applyingRemote = false;
    }
    return true;
  }

  /** Be told when the breaker opens (dashboards, tests; live calls do not switch on it). Returns an unsubscribe. */
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

  /**
   * Count an outcome seen outside connect (a send that threw, an error event, a drop, a timeout, a
   * good reply), once. Mid-session failures count like any other: one call's quota error is one
   * failure, not a verdict on every call (the window and threshold decide). A refused key is the
   * exception: it is refused for every session (deepgram-cascade meets its LLM key only mid-session),
   * so it opens the breaker at once, as at connect; live sessions keep their calls either way.
   */
  record(outcome: { ok: true } | { ok: false; error: unknown }, op: string): void {
    const status = outcome.ok ? 'ok' : 'error';
    this.#metrics.providerRequestsTotal.inc({ provider: this.name, op, status });
    if (outcome.ok) {
      // A live session answering well in half-open is as good a trial as a new connect: it closes it.
      if (!this.#breaker.opened) void this.#breaker.fire(() => Promise.resolve()).catch(() => undefined);
      return;
    }
    const err = outcome.error;
    this.#metrics.providerErrorsTotal.inc({ provider: this.name, type: isGatewayError(err) ? err.code : 'unknown' });
    if (isGatewayError(err, 'GW_ERR_PROVIDER_AUTH')) return this.#openNow(err);
    if (!this.#breaker.opened) void this.#breaker.fire(() => Promise.reject(err)).catch(() => undefined);
  }

  /** A server event or field the adapter does not know: counted and logged (once per session and name). */
  unknownEvent(name: string): void {
    this.#metrics.providerUnknownEventsTotal.inc({ provider: this.name, event: name.slice(0, 64) });
  }

  #openNow(err: unknown): void {
    if (this.#breaker.opened) return;
    this.#log.error({ event: 'provider_hard_failure', code: isGatewayError(err) ? err.code : undefined }, `${this.name}: ${(err as Error).message}; opening the breaker now`);
    this.#breaker.open();
  }

  /** The adapter's own preload, outside the breaker: a module that does not load fails the start. */
  async preload(): Promise<void> {
    await this.#adapter.preload?.();
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
  readonly #unknownLogged = new Set<string>();
  #turnEndedAt: number | undefined;
  #closed = false;
  /** The session has failed (fatal error, drop): later events of the same failure are not counted again. */
  #failed = false;
  /** The response in progress has already been counted as failed: its responseDone is not a success. */
  #responseFailed = false;

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
    // An open breaker does not stop a live session: it only refuses new ones.
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
    const broke = (err: unknown) => this.#fail(err, 'events');
    return {
      async *[Symbol.asyncIterator]() {
        try {
          for await (const ev of inner) {
            observe(ev);
            yield ev;
          }
        } catch (err) {
          broke(err);
          throw err;
        }
      },
    };
  }

  responseTimedOut(): void {
    if (this.#closed || this.#failed) return;
    this.#responseFailed = true;
    this.#guard.record({ ok: false, error: new GatewayError('GW_ERR_PROVIDER_TIMEOUT', `${this.provider} showed no sign of answering the turn`) }, 'response');
  }

  /** The session itself failed (fatal error, drop, broken stream): one failure, however it shows. */
  #fail(error: unknown, op: string): void {
    if (this.#closed || this.#failed) return;
    this.#failed = true;
    this.#guard.record({ ok: false, error }, op);
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
        // A reply that failed (error event, timeout) was counted as a failure: it is not also a success.
        if (!this.#responseFailed && !this.#failed) this.#guard.record({ ok: true }, 'response');
        this.#responseFailed = false;
        break;
      case 'error':
        this.#log.warn({ event: 'provider_error', provider: this.provider, code: ev.error.code, fatal: ev.fatal, origin: ev.origin }, ev.error.message);
        // The provider refusing a request of ours is our bug, not its failure.
        if (ev.origin === 'request') break;
        if (ev.fatal) this.#fail(ev.error, 'session');
        else if (!this.#failed && !this.#responseFailed) {
          this.#responseFailed = true;
          this.#guard.record({ ok: false, error: ev.error }, 'session');
        }
        break;
      case 'unknownEvent':
        this.#guard.unknownEvent(ev.name);
        if (!this.#unknownLogged.has(ev.name)) {
          this.#unknownLogged.add(ev.name);
          this.#log.warn({ event: 'provider_unknown_event', provider: this.provider, name: ev.name }, `${this.provider} sent '${ev.name}', which this adapter does not know; ignored`);
        }
        break;
      case 'closed':
        this.#log.info({ event: 'provider_closed', provider: this.provider, reason: ev.reason }, 'provider closed the session');
        // Closed on the provider's side while we still wanted it: a mid-call drop.
        this.#fail(new GatewayError('GW_ERR_PROVIDER_CLOSED', `${this.provider}: ${ev.reason}`), 'session');
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
