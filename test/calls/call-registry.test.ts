/** The call registry against a fake store that keeps per-key expiry on the (fake) clock, as Redis PX does. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CallRegistry, type RegistryEntry, type RegistryStore } from '../../src/calls/call-registry.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';

class FakeStore implements RegistryStore {
  readonly map = new Map<string, { entry: RegistryEntry; until: number }>();
  failing = false;
  #check(): void {
    if (this.failing) throw new Error('Connection is closed.');
  }
  #live(): RegistryEntry[] {
    const now = Date.now();
    return [...this.map.values()].filter((v) => v.until > now).map((v) => v.entry);
  }
  async put(entries: readonly RegistryEntry[], ttlMs: number): Promise<void> {
    this.#check();
    for (const e of entries) this.map.set(e.callId, { entry: e, until: Date.now() + ttlMs });
  }
  async remove(callId: string): Promise<void> {
    this.#check();
    this.map.delete(callId);
  }
  async get(callId: string): Promise<RegistryEntry | undefined> {
    this.#check();
    return this.#live().find((e) => e.callId === callId);
  }
  async all(): Promise<RegistryEntry[]> {
    this.#check();
    return this.#live();
  }
  async close(): Promise<void> {}
}

const logger = createLogger({ level: 'silent' });

function node(store: FakeStore, nodeId: string, metrics = createMetrics()) {
  return { metrics, registry: new CallRegistry({ store, nodeId, nodeUrl: `http://${nodeId}.internal:8080`, ttlMs: 900, logger, errors: metrics.callRegistryErrorsTotal }) };
}
const call = (id: string) => ({ id, record: () => ({ callId: id, state: 'live' }) });

describe('call registry', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => {
    vi.clearAllTimers();
    vi.useRealTimers();
  });

  it('tells other nodes who holds a call, and forgets it when it ends', async () => {
    const store = new FakeStore();
    const a = node(store, 'a').registry;
    const b = node(store, 'b').registry;
    await b.added(call('c1'));
    expect(await a.remoteOwner('c1')).toEqual({ callId: 'c1', nodeId: 'b', nodeUrl: 'http://b.internal:8080', record: { callId: 'c1', state: 'live' } });
    expect(await b.remoteOwner('c1')).toBeUndefined(); // its own call is not remote
    expect((await a.remoteCalls()).map((e) => e.callId)).toEqual(['c1']);
    expect(await b.remoteCalls()).toEqual([]);
    await b.removed('c1');
    expect(await a.remoteOwner('c1')).toBeUndefined();
    await Promise.all([a.close(), b.close()]);
  });

  it('keeps a live node\'s entries alive by heartbeat; a dead node\'s expire after the TTL', async () => {
    const store = new FakeStore();
    const a = node(store, 'a').registry;
    const b = node(store, 'b').registry;
    const dead = node(store, 'dead').registry;
    await b.added(call('kept'));
    await dead.added(call('lost'));
    // "dead" stops writing (its process died) and removes nothing; b goes on heartbeating.
    const deadBeats = vi.spyOn(dead, 'heartbeat').mockResolvedValue(undefined);
    await vi.advanceTimersByTimeAsync(600);
    expect((await a.remoteCalls()).map((e) => e.callId).sort()).toEqual(['kept', 'lost']); // within the TTL
    await vi.advanceTimersByTimeAsync(1400); // past 900 ms since dead's last write, b refreshed every 300 ms
    expect(deadBeats).toHaveBeenCalled();
    expect((await a.remoteCalls()).map((e) => e.callId)).toEqual(['kept']);
    expect(await a.remoteOwner('lost')).toBeUndefined();
    await Promise.all([a.close(), b.close()]);
  });

  it('fails soft when the store is down: no throw, logged and counted; the owner reads as unknown', async () => {
    const store = new FakeStore();
    const { registry: a, metrics } = node(store, 'a');
    store.failing = true;
    await expect(a.added(call('c1'))).resolves.toBeUndefined();
    await expect(a.remoteOwner('x')).resolves.toBeUndefined();
    await expect(a.remoteCalls()).resolves.toEqual([]);
    await vi.advanceTimersByTimeAsync(300); // one heartbeat
    await expect(a.removed('c1')).resolves.toBeUndefined();
    const counted = Object.fromEntries((await metrics.callRegistryErrorsTotal.get()).values.map((v) => [v.labels.op, v.value]));
    expect(counted).toEqual({ add: 1, lookup: 1, list: 1, heartbeat: 1, remove: 1 });
    // Redis back: the next call is registered again.
    store.failing = false;
    await a.added(call('c2'));
    expect(store.map.has('c2')).toBe(true);
    await a.close();
    expect(store.map.size).toBe(0); // a clean shutdown removes its entries
  });
});
