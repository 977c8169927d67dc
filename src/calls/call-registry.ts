/**
 * Which node holds each live call, shared by every node through a store (Redis with REDIS_URL,
 * ./redis-registry-store.ts). Each entry names the node and the base URL it answers internal requests
 * on, and expires `ttlMs` after it was last written: a heartbeat rewrites this node's entries every
 * third of the TTL, so a dead node's calls disappear on their own.
 *
 * The registry never stands in a call's way: every store failure is logged, counted in
 * voice_gateway_call_registry_errors_total and swallowed (a lookup that fails reads as "unknown").
 */
import type { Counter } from 'prom-client';
import type { Logger } from '../observability/logger.js';

export interface RegistryEntry {
  readonly callId: string;
  readonly nodeId: string;
  readonly nodeUrl: string;
  /** The call's record as its node sees it (listed by other nodes). */
  readonly record: Record<string, unknown>;
}

/** The store: key per call, each with its own expiry. */
export interface RegistryStore {
  put(entries: readonly RegistryEntry[], ttlMs: number): Promise<void>;
  remove(callId: string): Promise<void>;
  get(callId: string): Promise<RegistryEntry | undefined>;
  all(): Promise<RegistryEntry[]>;
  close(): Promise<void>;
}

/** What the registry reads of a live call. */
export interface RegisteredCall {
  readonly id: string;
  record(): Record<string, unknown>;
}

export interface CallRegistryOptions {
  readonly store: RegistryStore;
  readonly nodeId: string;
  readonly nodeUrl: string;
  readonly ttlMs: number;
  readonly logger: Logger;
  /** voice_gateway_call_registry_errors_total, by op. */
  readonly errors: Counter<'op'>;
}

export class CallRegistry {
  readonly #opts: CallRegistryOptions;
  readonly #log: Logger;
  readonly #local = new Map<string, RegisteredCall>();
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: CallRegistryOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'call_registry', nodeId: opts.nodeId });
  }

  get nodeId(): string {
    return this.#opts.nodeId;
  }

  async #soft<T>(op: string, fn: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.#opts.errors.inc({ op });
      this.#log.warn({ event: 'call_registry_failed', op, err: (err as Error).message }, 'call registry (Redis) failed; calls go on');
      return fallback;
    }
  }

  #entry(call: RegisteredCall): RegistryEntry {
    return { callId: call.id, nodeId: this.#opts.nodeId, nodeUrl: this.#opts.nodeUrl, record: call.record() };
  }

  /** A call started here. Starts the heartbeat with the first call. */
  added(call: RegisteredCall): Promise<void> {
    this.#local.set(call.id, call);
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.heartbeat(), Math.max(100, Math.floor(this.#opts.ttlMs / 3)));
      this.#timer.unref();
    }
    return this.#soft('add', () => this.#opts.store.put([this.#entry(call)], this.#opts.ttlMs), undefined);
  }

  /** A call ended here. */
  removed(callId: string): Promise<void> {
    this.#local.delete(callId);
    if (this.#local.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    return this.#soft('remove', () => this.#opts.store.remove(callId), undefined);
  }

  /** Rewrites this node's entries (and their records) with a fresh expiry. */
  heartbeat(): Promise<void> {
    if (this.#local.size === 0) return Promise.resolve();
    const entries = [...this.#local.values()].map((c) => this.#entry(c));
    return this.#soft('heartbeat', () => this.#opts.store.put(entries, this.#opts.ttlMs), undefined);
  }

  /** The entry of a call held by ANOTHER node; undefined if unknown, local, or the store failed. */
  async remoteOwner(callId: string): Promise<RegistryEntry | undefined> {
    if (this.#local.has(callId)) return undefined;
    const entry = await this.#soft('lookup', () => this.#opts.store.get(callId), undefined);
    return entry && entry.nodeId !== this.#opts.nodeId ? entry : undefined;
  }

  /** Every other node's live calls (this node's own are read from memory by the caller). */
  async remoteCalls(): Promise<RegistryEntry[]> {
    const all = await this.#soft('list', () => this.#opts.store.all(), []);
    return all.filter((e) => e.nodeId !== this.#opts.nodeId);
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.all([...this.#local.keys()].map((id) => this.removed(id)));
    await this.#opts.store.close();
  }
}
