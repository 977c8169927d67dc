/**
 * The live calls of this process: creates them from a started media stream, finds them by id, and
 * drains them on shutdown.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { VadService } from '../pipeline/vad/vad-service.js';
import type { Provider } from '../providers/types.js';
import type { StreamGrantInfo } from './stream-grant.js';
import { GatewayError } from '../errors.js';
import { Call, type CallTransport } from './call.js';
import type { CallRecorder } from './call-recorder.js';
import type { CallRegistry } from './call-registry.js';
import type { ChunkPool } from './chunk-pool.js';
import type { EgressClock } from './egress-clock.js';
import type { FailoverSettings, GuardedLike } from './failover.js';

export interface CallManagerOptions {
  readonly providers: readonly GuardedLike[];
  readonly failover?: FailoverSettings;
  readonly vad: VadService;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly media: { egressLeadMs: number; egressMaxQueueMs: number; egressFramesPerMessage?: number; audioChunkMsFor?: (provider: string) => number };
  /** The process's one egress clock, shared by every call's egress. */
  readonly egressClock?: EgressClock;
  /** The process's chunks for every call's replay ring. */
  readonly ringChunks?: ChunkPool;
  readonly instructions?: string;
  readonly recorder?: CallRecorder;
  /** How often live calls' counters are written to the recorder. */
  readonly recordIntervalMs?: number;
  /** Send caller DTMF to the provider as a text message (default on). */
  readonly dtmfToProvider?: boolean;
  /** How a call's provider hangs up (call control's hangup, so the carrier leg ends too). */
  readonly hangup?: (callId: string, reason: string) => Promise<unknown>;
  /** REDIS_URL: tells the other nodes which calls this node holds (writes fail soft). */
  readonly registry?: CallRegistry;
}

export class CallManager {
  readonly #opts: CallManagerOptions;
  readonly #calls = new Map<string, Call>();
  #draining = false;

  constructor(opts: CallManagerOptions) {
    if (opts.providers.length === 0) throw new Error('CallManager needs at least one provider');
    this.#opts = opts;
  }

  #providerHangup(callId: string, reason: string): void {
    this.#opts.hangup?.(callId, reason).catch((err: unknown) => {
      if (!this.#calls.has(callId)) return; // it ended meanwhile (the caller hung up first)
      // The carrier would not hang up: end our side at least, so the call does not outlive the goodbye.
      this.#opts.logger.warn({ event: 'provider_hangup_failed', callId, err }, 'hangup through call control failed; ending the media side');
      void this.#calls.get(callId)?.end(reason);
    });
  }

  get draining(): boolean {
    return this.#draining;
  }

  get size(): number {
    return this.#calls.size;
  }

  get(callId: string): Call | undefined {
    return this.#calls.get(callId);
  }

  list(): Call[] {
    return [...this.#calls.values()];
  }

  /** The provider named (by an outbound request), else the first in PROVIDERS order. */
  providerFor(name: string | undefined): Provider {
    if (name === undefined) return this.#opts.providers[0];
    const p = this.#opts.providers.find((x) => x.name === name);
    if (!p) throw new GatewayError('GW_ERR_PROVIDER_UNKNOWN', `'${name}' is not in PROVIDERS (${this.#opts.providers.map((x) => x.name).join(', ')})`);
    return p;
  }

  create(args: {
    carrierCallId: string;
    correlationId: string;
    transport: CallTransport;
    customParameters?: Record<string, string>;
    grant?: StreamGrantInfo;
  }): Call {
    const { metrics } = this.#opts;
    const grant = args.grant ?? {};
    const id = grant.callId ?? randomUUID();
    let provider: Provider;
    try {
      provider = this.providerFor(grant.provider);
    } catch {
      provider = this.#opts.providers[0];
    }
    const logger = this.#opts.logger.child({ callId: id, correlationId: args.correlationId, provider: provider.name });
    const call = new Call({
      id,
      carrierCallId: args.carrierCallId,
      correlationId: args.correlationId,
      transport: args.transport,
      provider,
      providers: this.#opts.providers,
      failover: this.#opts.failover,
      vad: this.#opts.vad,
      metrics,
      logger,
      media: this.#opts.media,
      egressClock: this.#opts.egressClock,
      ringChunks: this.#opts.ringChunks,
      customParameters: args.customParameters,
      instructions: this.#opts.instructions,
      direction: grant.direction ?? 'inbound',
      from: grant.from,
      to: grant.to,
      metadata: grant.metadata,
      dtmfToProvider: this.#opts.dtmfToProvider ?? true,
      onProviderHangup: this.#opts.hangup && ((callId, reason) => this.#providerHangup(callId, reason)),
      onEnded: (c) => {
        this.#calls.delete(c.id);
        void this.#opts.registry?.removed(c.id);
        metrics.callsActive.dec({ transport: args.transport.name });
        this.#stopTickerIfIdle();
        if (this.#opts.recorder) {
          Promise.resolve(this.#opts.recorder.ended(c.snapshot())).catch((err: unknown) =>
            this.#opts.logger.error({ event: 'record_failed', callId: c.id, err }, 'could not write the call record'),
          );
        }
      },
    });
    this.#calls.set(id, call);
    this.#opts.recorder?.started(call.snapshot());
    void this.#opts.registry?.added({ id, record: () => ({ ...call.snapshot() }) });
    this.#startTicker();
    metrics.callsActive.inc({ transport: args.transport.name });
    metrics.callsTotal.inc({ transport: args.transport.name });
    logger.info({ event: 'call_started', transport: args.transport.name, carrierCallId: args.carrierCallId, codec: args.transport.format.codec }, 'call started');
    void call.start();
    return call;
  }

  #ticker: NodeJS.Timeout | undefined;

  #startTicker(): void {
    const recorder = this.#opts.recorder;
    if (!recorder || this.#ticker) return;
    this.#ticker = setInterval(() => {
      // The calls, not their snapshots: the recorder takes each one as it writes it, a slice at a
      // time, so a second's worth for every call is never one block of the event loop.
      if (this.#calls.size > 0) recorder.updated(this.#calls.values());
    }, this.#opts.recordIntervalMs ?? 1000);
    this.#ticker.unref();
  }

  #stopTickerIfIdle(): void {
    if (this.#calls.size === 0 && this.#ticker) {
      clearInterval(this.#ticker);
      this.#ticker = undefined;
    }
  }

  /**
   * Stop taking calls; let live ones finish until the deadline, then end the rest (closing the media
   * socket, which for Twilio means the TwiML after <Connect> runs, as on a `stop`).
   */
  async drain(deadlineMs: number): Promise<void> {
    this.#draining = true;
    const until = Date.now() + deadlineMs;
    while (this.#calls.size > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, until - Date.now()))));
    }
    await Promise.all(this.list().map((c) => c.end('shutdown')));
  }
}
