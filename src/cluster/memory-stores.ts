/**
 * The stores `serve --processes N` keeps in its primary when there is no Redis: the one-time grants
 * (set-if-absent, atomic take) and the call registry (an entry per call with its own expiry). They
 * are what Redis is to several machines, for several processes on one: the same GrantStore and
 * RegistryStore contracts, so StreamTokens and CallRegistry run the same code over either. The
 * primary is one thread, so every operation is atomic by construction.
 */
import type { GrantStore } from '../store/grant-store.js';
import type { RegistryEntry, RegistryStore } from '../calls/call-registry.js';

interface Expiring<T> {
  readonly value: T;
  readonly expiresAt: number;
}

/** A Map whose entries lapse; lapsed ones are dropped when read and swept as new ones arrive. */
class ExpiringMap<T> {
  readonly #map = new Map<string, Expiring<T>>();
  readonly #now: () => number;
  #writes = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  get(key: string): T | undefined {
    const e = this.#map.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.#now()) {
      this.#map.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: T, ttlMs: number): void {
    // Sweep now and then, so entries nobody reads again (a grant never spent) do not pile up.
    if (++this.#writes % 256 === 0) this.sweep();
    this.#map.set(key, { value, expiresAt: this.#now() + ttlMs });
  }

  delete(key: string): boolean {
    return this.#map.delete(key);
  }

  values(): T[] {
    const now = this.#now();
    const out: T[] = [];
    for (const [k, e] of this.#map) {
      if (e.expiresAt <= now) this.#map.delete(k);
      else out.push(e.value);
    }
    return out;
  }

  sweep(): void {
    const now = this.#now();
    for (const [k, e] of this.#map) if (e.expiresAt <= now) this.#map.delete(k);
  }

  get size(): number {
    return this.#map.size;
  }
}

export class MemoryGrantStore implements GrantStore {
  readonly #grants: ExpiringMap<string>;

  constructor(now: () => number = Date.now) {
    this.#grants = new ExpiringMap(now);
  }

  async put(token: string, value: string, ttlMs: number): Promise<void> {
    // As Redis's SET NX: a grant is never overwritten (random 192-bit tokens do not collide).
    if (this.#grants.get(token) !== undefined) throw new Error('put: the token already exists');
    this.#grants.set(token, value, ttlMs);
  }

  async take(token: string): Promise<string | undefined> {
    const v = this.#grants.get(token);
    if (v !== undefined) this.#grants.delete(token);
    return v;
  }

  async peek(token: string): Promise<string | undefined> {
    return this.#grants.get(token);
  }

  async revoke(token: string): Promise<void> {
    this.#grants.delete(token);
  }

  async close(): Promise<void> {}

  get size(): number {
    return this.#grants.size;
  }
}

export class MemoryRegistryStore implements RegistryStore {
  readonly #entries: ExpiringMap<RegistryEntry>;

  constructor(now: () => number = Date.now) {
    this.#entries = new ExpiringMap(now);
  }

  async put(entries: readonly RegistryEntry[], ttlMs: number): Promise<void> {
    for (const e of entries) this.#entries.set(e.callId, e, ttlMs);
  }

  async remove(callId: string): Promise<void> {
    this.#entries.delete(callId);
  }

  async get(callId: string): Promise<RegistryEntry | undefined> {
    return this.#entries.get(callId);
  }

  async all(): Promise<RegistryEntry[]> {
    return this.#entries.values();
  }

  /** A process that died: its entries go at once rather than at their expiry. */
  dropNode(nodeId: string): number {
    let n = 0;
    for (const e of this.#entries.values()) {
      if (e.nodeId === nodeId) {
        this.#entries.delete(e.callId);
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {}
}
