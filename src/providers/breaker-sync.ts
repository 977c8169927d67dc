/**
 * Shares circuit breaker transitions between gateway nodes (REDIS_URL), so a provider outage one
 * node has judged sends new calls on every node to the next provider, instead of each node learning
 * of it alone by failing its own callers.
 *
 * What is shared, and what is not:
 * - Only transitions, never counts: each node counts its own failures in its own window; a node
 *   whose breaker opens (by its counts or a hard failure) publishes `open` with its reset timeout.
 * - A remote `open` opens a closed or half-open breaker here for that reset timeout; after it this
 *   node's own half-open trial decides (N nodes make N trial connects, one each: cheap, and no node
 *   trusts a trial it did not see). A trial that fails reopens and publishes `open` again.
 * - A `close` (a node's trial succeeded) is published too; it closes here only a breaker that a
 *   remote `open` opened. A breaker this node's own failures opened waits for its own trial.
 * - Half-open is not published: it is each node's own timer, not a verdict on the provider.
 * - Transitions this node applied from a message are never published again (no echo loops), and a
 *   node ignores its own messages (Redis delivers them back to the publisher's subscription).
 *
 * - While a breaker this node opened stays open, the node says so again every `reannounceMs` with
 *   the time it has left: a node that missed the first message (its Redis link was down, it started
 *   later, a publish failed) still hears of the outage within one period. A node already open is
 *   left as it is.
 *
 * The bus is best effort: a publish that fails is logged and counted (the re-announcement is the
 * retry); nothing here is awaited by a call, and a message from the bus is validated before it
 * touches a breaker (a bad one is logged and counted).
 */
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { BreakerChange, GuardedProvider, RemoteBreakerChange } from './guard.js';

/** A publish/subscribe channel of strings between nodes (Redis: redis-breaker-bus.ts; tests: a fake). */
export interface BreakerBus {
  /** Rejects when the message could not be handed over (the caller logs and counts it). */
  publish(message: string): Promise<void>;
  /** Every message on the channel, this node's own included. Returns an unsubscribe. */
  onMessage(listener: (message: string) => void): () => void;
  close(): Promise<void>;
}

/** The wire form, version 1: `{"v":1,"node":"...","provider":"openai","state":"open","resetTimeoutMs":30000}`. */
export interface BreakerMessage {
  readonly v: 1;
  readonly node: string;
  readonly provider: string;
  readonly state: 'open' | 'closed';
  /** Present (and required) when state is 'open'. */
  readonly resetTimeoutMs?: number;
}

export type RejectReason = 'malformed_json' | 'wrong_shape' | 'unknown_provider';
export type ParsedMessage = { readonly ok: true; readonly message: BreakerMessage } | { readonly ok: false; readonly reason: 'malformed_json' | 'wrong_shape'; readonly detail: string };

/** Longer than any valid message by far; a bigger one is not parsed. */
const MAX_MESSAGE_CHARS = 1024;
/** BREAKER_RESET_TIMEOUT_MS's own bounds (config.ts). */
const MIN_RESET_MS = 10;
const MAX_RESET_MS = 3_600_000;
const MAX_NAME_CHARS = 128;

export function encodeBreakerMessage(message: BreakerMessage): string {
  return JSON.stringify(message);
}

function isName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME_CHARS;
}

/** Validates one message off the bus; never throws. */
export function parseBreakerMessage(raw: string): ParsedMessage {
  if (raw.length > MAX_MESSAGE_CHARS) return { ok: false, reason: 'wrong_shape', detail: `${String(raw.length)} characters, more than ${String(MAX_MESSAGE_CHARS)}` };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    return { ok: false, reason: 'malformed_json', detail: (err as Error).message };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'wrong_shape', detail: 'not a JSON object' };
  const m = value as Record<string, unknown>;
  if (m.v !== 1) return { ok: false, reason: 'wrong_shape', detail: `version ${m.v === undefined ? 'missing' : JSON.stringify(m.v)}, expected 1` };
  if (!isName(m.node)) return { ok: false, reason: 'wrong_shape', detail: 'node must be a non-empty string' };
  if (!isName(m.provider)) return { ok: false, reason: 'wrong_shape', detail: 'provider must be a non-empty string' };
  if (m.state === 'closed') return { ok: true, message: { v: 1, node: m.node, provider: m.provider, state: 'closed' } };
  if (m.state !== 'open') return { ok: false, reason: 'wrong_shape', detail: `state must be 'open' or 'closed'` };
  const ms = m.resetTimeoutMs;
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < MIN_RESET_MS || ms > MAX_RESET_MS) {
    return { ok: false, reason: 'wrong_shape', detail: `resetTimeoutMs must be an integer from ${String(MIN_RESET_MS)} to ${String(MAX_RESET_MS)}` };
  }
  return { ok: true, message: { v: 1, node: m.node, provider: m.provider, state: 'open', resetTimeoutMs: ms } };
}

export interface BreakerSyncOptions {
  /** This node's id, unique per gateway instance: its own messages are recognised by it. */
  readonly nodeId: string;
  readonly bus: BreakerBus;
  readonly breakers: readonly GuardedProvider[];
  readonly metrics: Pick<Metrics, 'breakerSyncErrorsTotal' | 'breakerSyncRejectedTotal' | 'breakerRemoteChangesTotal'>;
  readonly logger: Logger;
  /** How often a breaker this node opened is announced again while it stays open (default 5 s). */
  readonly reannounceMs?: number;
  readonly now?: () => number;
}

const DEFAULT_REANNOUNCE_MS = 5000;

export class BreakerSync {
  readonly #nodeId: string;
  readonly #bus: BreakerBus;
  readonly #breakers: ReadonlyMap<string, GuardedProvider>;
  readonly #metrics: BreakerSyncOptions['metrics'];
  readonly #log: Logger;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #reannounceMs: number;
  readonly #now: () => number;
  /** Breakers this node's own verdict opened, and when their open ends. */
  readonly #openHere = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: BreakerSyncOptions) {
    this.#reannounceMs = opts.reannounceMs ?? DEFAULT_REANNOUNCE_MS;
    this.#now = opts.now ?? Date.now;
    this.#nodeId = opts.nodeId;
    this.#bus = opts.bus;
    this.#breakers = new Map(opts.breakers.map((b) => [b.name, b]));
    this.#metrics = opts.metrics;
    this.#log = opts.logger.child({ component: 'breaker_sync', node: opts.nodeId });
  }

  /** Publish this node's transitions and apply other nodes'. */
  start(): void {
    if (this.#unsubscribe.length > 0) return;
    for (const breaker of this.#breakers.values()) this.#unsubscribe.push(breaker.onStateChange((change) => this.#publish(change)));
    this.#unsubscribe.push(this.#bus.onMessage((raw) => this.receive(raw)));
  }

  #publish(change: BreakerChange): void {
    if (change.state !== 'open' || change.origin !== 'local') this.#openHere.delete(change.provider);
    // Only this node's own verdicts travel; half-open is a local timer, not a verdict.
    if (change.origin !== 'local' || change.state === 'halfOpen') return;
    if (change.state === 'open') {
      this.#openHere.set(change.provider, this.#now() + change.resetTimeoutMs);
      this.#timer ??= setInterval(() => this.#reannounce(), this.#reannounceMs).unref();
    }
    const message: BreakerMessage =
      change.state === 'open'
        ? { v: 1, node: this.#nodeId, provider: change.provider, state: 'open', resetTimeoutMs: change.resetTimeoutMs }
        : { v: 1, node: this.#nodeId, provider: change.provider, state: 'closed' };
    this.#send(message);
  }

  /** Every breaker this node opened, again, with the time it has left. */
  #reannounce(): void {
    const now = this.#now();
    for (const [provider, until] of this.#openHere) {
      const left = until - now;
      if (left < MIN_RESET_MS || this.#breakers.get(provider)?.state !== 'open') {
        this.#openHere.delete(provider);
        continue;
      }
      this.#send({ v: 1, node: this.#nodeId, provider, state: 'open', resetTimeoutMs: Math.round(left) });
    }
    if (this.#openHere.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #send(message: BreakerMessage): void {
    let sent: Promise<void>;
    try {
      sent = this.#bus.publish(encodeBreakerMessage(message));
    } catch (err) {
      sent = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    // Never awaited: the transition has happened here whatever the bus does.
    sent.then(
      () => this.#log.debug({ event: 'breaker_sync_published', provider: message.provider, state: message.state }, 'breaker transition published'),
      (err: unknown) => {
        this.#metrics.breakerSyncErrorsTotal.inc({ op: 'publish' });
        this.#log.warn({ event: 'breaker_sync_publish_failed', provider: message.provider, state: message.state, err: (err as Error).message }, 'could not publish a breaker transition; other nodes will judge on their own');
      },
    );
  }

  /** One message off the bus (public for the bus seam; tests call it too). Never throws. */
  receive(raw: string): void {
    const parsed = parseBreakerMessage(raw);
    if (!parsed.ok) return this.#reject(parsed.reason, parsed.detail, raw);
    const m = parsed.message;
    if (m.node === this.#nodeId) return;
    const breaker = this.#breakers.get(m.provider);
    if (!breaker) return this.#reject('unknown_provider', `'${m.provider}' is not a provider of this node`, raw);
    const change: RemoteBreakerChange = m.state === 'open' ? { state: 'open', resetTimeoutMs: m.resetTimeoutMs! } : { state: 'closed' };
    if (!breaker.applyRemote(change)) {
      this.#log.debug({ event: 'breaker_sync_no_change', from: m.node, provider: m.provider, state: m.state, local: breaker.state }, 'remote breaker transition left this breaker as it was');
      return;
    }
    this.#metrics.breakerRemoteChangesTotal.inc({ provider: m.provider, state: m.state });
    this.#log.info({ event: 'breaker_sync_applied', from: m.node, provider: m.provider, state: m.state, resetTimeoutMs: m.resetTimeoutMs }, `breaker for ${m.provider} ${m.state === 'open' ? 'opened' : 'closed'} by another node`);
  }

  #reject(reason: RejectReason, detail: string, raw: string): void {
    this.#metrics.breakerSyncRejectedTotal.inc({ reason });
    this.#log.warn({ event: 'breaker_sync_rejected', reason, detail, sample: raw.slice(0, 120) }, 'breaker sync message refused');
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const off of this.#unsubscribe.splice(0)) off();
    await this.#bus.close();
  }
}
