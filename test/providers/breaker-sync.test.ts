/**
 * Breaker sync (issue 17) at its bus seam: two nodes joined by an in-memory bus that, like Redis
 * pub/sub, delivers every message to every subscriber, the publisher's own included.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createMetrics, type Metrics } from '../../src/observability/metrics.js';
import { BreakerSync, parseBreakerMessage, type BreakerBus } from '../../src/providers/breaker-sync.js';
import { GuardedProvider, type BreakerSettings } from '../../src/providers/guard.js';
import { ScriptedProvider } from '../fakes/scripted-provider.js';

const BREAKER: BreakerSettings = { errorThresholdPercentage: 50, volumeThreshold: 3, resetTimeoutMs: 60_000, connectTimeoutMs: 2000, rollingWindowMs: 10_000 };

class Network {
  readonly buses: FakeBus[] = [];
  readonly sent: string[] = [];
  bus(): FakeBus {
    const b = new FakeBus(this);
    this.buses.push(b);
    return b;
  }
  deliver(message: string): void {
    this.sent.push(message);
    for (const b of this.buses) b.emit(message);
  }
}

class FakeBus implements BreakerBus {
  readonly #net: Network;
  readonly #listeners = new Set<(m: string) => void>();
  failWith: Error | undefined;
  closed = false;
  constructor(net: Network) {
    this.#net = net;
  }
  publish(message: string): Promise<void> {
    if (this.failWith) return Promise.reject(this.failWith);
    this.#net.deliver(message);
    return Promise.resolve();
  }
  onMessage(listener: (m: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  emit(message: string): void {
    for (const l of this.#listeners) l(message);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

interface Node {
  readonly sync: BreakerSync;
  readonly bus: FakeBus;
  readonly metrics: Metrics;
  readonly guards: GuardedProvider[];
  readonly adapters: ScriptedProvider[];
}

const nodes: Node[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.sync.close()));
  vi.useRealTimers();
});

function node(net: Network, id: string, settings: BreakerSettings = BREAKER): Node {
  const metrics = createMetrics();
  const logger = silentLogger();
  const adapters = [new ScriptedProvider('openai'), new ScriptedProvider('echo')];
  const guards = adapters.map((a) => new GuardedProvider(a, { metrics, logger, breaker: settings }));
  const bus = net.bus();
  const sync = new BreakerSync({ nodeId: id, bus, breakers: guards, metrics, logger });
  sync.start();
  const n = { sync, bus, metrics, guards, adapters };
  nodes.push(n);
  return n;
}

async function counter(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const data = await metrics.registry.getSingleMetric(name)!.get();
  return data.values.filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want)).reduce((s, v) => s + v.value, 0);
}

const authError = () => new GatewayError('GW_ERR_PROVIDER_AUTH', 'key refused');
const connectOpts = (p: ScriptedProvider) => ({ callId: 'c', inputFormat: p.inputFormats[0], callerFormat: p.inputFormats[0], history: [], logger: silentLogger() });

describe('breaker sync between nodes', () => {
  it('an open on A opens B for A\'s reset timeout; a new connect on B is refused; B counts nothing as a failure', async () => {
    const net = new Network();
    const a = node(net, 'node-a');
    const b = node(net, 'node-b');
    a.guards[0].record({ ok: false, error: authError() }, 'session');
    expect(a.guards[0].state).toBe('open');
    expect(b.guards[0].state).toBe('open');
    expect(b.guards[1].state).toBe('closed');
    expect(JSON.parse(net.sent[0])).toEqual({ v: 1, node: 'node-a', provider: 'openai', state: 'open', resetTimeoutMs: 60_000 });
    // B applied it without publishing it again (no echo loop), and A ignored its own message.
    expect(net.sent).toHaveLength(1);
    expect(await counter(b.metrics, 'voice_gateway_breaker_remote_changes_total', { provider: 'openai', state: 'open' })).toBe(1);
    expect(await counter(a.metrics, 'voice_gateway_breaker_remote_changes_total')).toBe(0);
    expect(await counter(b.metrics, 'voice_gateway_provider_errors_total')).toBe(0);
    await expect(b.guards[0].connect(connectOpts(b.adapters[0]))).rejects.toMatchObject({ code: 'GW_ERR_PROVIDER_BREAKER_OPEN' });
    expect(b.adapters[0].connectAttempts).toBe(0);
  });

  it("a remote open lasts the sender's reset timeout, then B's own half-open trial decides", async () => {
    vi.useFakeTimers();
    const net = new Network();
    const a = node(net, 'node-a', { ...BREAKER, resetTimeoutMs: 500 });
    const b = node(net, 'node-b');
    a.guards[0].record({ ok: false, error: authError() }, 'session');
    expect(b.guards[0].state).toBe('open');
    vi.advanceTimersByTime(499);
    expect(b.guards[0].state).toBe('open');
    vi.advanceTimersByTime(2);
    expect(b.guards[0].state).toBe('halfOpen');
    // Half-open is not published.
    expect(net.sent.map((m) => (JSON.parse(m) as { state: string }).state)).toEqual(['open']);
  });

  it("a close releases a remote open but not a breaker the node's own failures opened", async () => {
    const net = new Network();
    const a = node(net, 'node-a');
    const b = node(net, 'node-b');
    a.guards[0].record({ ok: false, error: authError() }, 'session');
    expect(b.guards[0].state).toBe('open');
    net.sent.length = 0;
    // A close from elsewhere does not release A's breaker: A's own failure opened it, A's trial decides.
    a.sync.receive(JSON.stringify({ v: 1, node: 'node-c', provider: 'openai', state: 'closed' }));
    expect(a.guards[0].state).toBe('open');
    // B's was opened by A's message: A's close releases it.
    b.sync.receive(JSON.stringify({ v: 1, node: 'node-a', provider: 'openai', state: 'closed' }));
    expect(b.guards[0].state).toBe('closed');
    expect(await counter(b.metrics, 'voice_gateway_breaker_remote_changes_total', { provider: 'openai', state: 'closed' })).toBe(1);
    // Applied closes are not published again.
    expect(net.sent).toHaveLength(0);
  });

  it('a local close after a trial is published and closes remote-opened breakers elsewhere', async () => {
    vi.useFakeTimers();
    const net = new Network();
    const a = node(net, 'node-a', { ...BREAKER, resetTimeoutMs: 100 });
    const b = node(net, 'node-b');
    a.guards[0].record({ ok: false, error: authError() }, 'session');
    expect(b.guards[0].state).toBe('open');
    vi.advanceTimersByTime(150);
    expect(a.guards[0].state).toBe('halfOpen');
    a.guards[0].record({ ok: true }, 'response');
    await vi.advanceTimersByTimeAsync(0);
    expect(a.guards[0].state).toBe('closed');
    expect(JSON.parse(net.sent.at(-1)!)).toEqual({ v: 1, node: 'node-a', provider: 'openai', state: 'closed' });
    expect(b.guards[0].state).toBe('closed');
  });

  it('a node that missed the open (its publish failed) hears it within one re-announce period, for the time left', async () => {
    vi.useFakeTimers();
    const net = new Network();
    const a = node(net, 'node-a', { ...BREAKER, resetTimeoutMs: 20_000 });
    const b = node(net, 'node-b');
    a.bus.failWith = new Error('Connection is closed.');
    a.guards[0].record({ ok: false, error: authError() }, 'session');
    await vi.advanceTimersByTimeAsync(0);
    expect(b.guards[0].state).toBe('closed');
    a.bus.failWith = undefined;
    await vi.advanceTimersByTimeAsync(5000);
    expect(b.guards[0].state).toBe('open');
    expect(JSON.parse(net.sent.at(-1)!)).toEqual({ v: 1, node: 'node-a', provider: 'openai', state: 'open', resetTimeoutMs: 15_000 });
    // B, already open, is left as it is by the next one; once A's open ends, A stops announcing it.
    await vi.advanceTimersByTimeAsync(5000);
    expect(await counter(b.metrics, 'voice_gateway_breaker_remote_changes_total', { provider: 'openai', state: 'open' })).toBe(1);
    const sentBefore = net.sent.length;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(a.guards[0].state).toBe('halfOpen');
    expect(net.sent.slice(sentBefore).map((m) => (JSON.parse(m) as { resetTimeoutMs?: number }).resetTimeoutMs)).toEqual([5000]);
  });

  it('bad messages are refused, logged and counted, never applied', async () => {
    const net = new Network();
    const b = node(net, 'node-b');
    const bad: [string, string][] = [
      ['{not json', 'malformed_json'],
      ['[]', 'wrong_shape'],
      ['null', 'wrong_shape'],
      [JSON.stringify({ v: 2, node: 'a', provider: 'openai', state: 'open', resetTimeoutMs: 1000 }), 'wrong_shape'],
      [JSON.stringify({ v: 1, node: '', provider: 'openai', state: 'open', resetTimeoutMs: 1000 }), 'wrong_shape'],
      [JSON.stringify({ v: 1, node: 'a', provider: 'openai', state: 'halfOpen' }), 'wrong_shape'],
      [JSON.stringify({ v: 1, node: 'a', provider: 'openai', state: 'open' }), 'wrong_shape'],
      [JSON.stringify({ v: 1, node: 'a', provider: 'openai', state: 'open', resetTimeoutMs: -5 }), 'wrong_shape'],
      [JSON.stringify({ v: 1, node: 'a', provider: 'openai', state: 'open', resetTimeoutMs: 1e12 }), 'wrong_shape'],
      [JSON.stringify({ v: 1, node: 'a', provider: 7, state: 'open', resetTimeoutMs: 1000 }), 'wrong_shape'],
      ['x'.repeat(5000), 'wrong_shape'],
      [JSON.stringify({ v: 1, node: 'a', provider: 'nope', state: 'open', resetTimeoutMs: 1000 }), 'unknown_provider'],
    ];
    for (const [raw] of bad) expect(() => b.bus.emit(raw)).not.toThrow();
    for (const reason of ['malformed_json', 'wrong_shape', 'unknown_provider']) {
      expect(await counter(b.metrics, 'voice_gateway_breaker_sync_rejected_total', { reason })).toBe(bad.filter(([, r]) => r === reason).length);
    }
    expect(b.guards.map((g) => g.state)).toEqual(['closed', 'closed']);
    expect(parseBreakerMessage(JSON.stringify({ v: 1, node: 'a', provider: 'openai', state: 'closed' }))).toMatchObject({ ok: true });
  });

  it("its own node's messages are ignored", async () => {
    const net = new Network();
    const b = node(net, 'node-b');
    b.bus.emit(JSON.stringify({ v: 1, node: 'node-b', provider: 'openai', state: 'open', resetTimeoutMs: 1000 }));
    expect(b.guards[0].state).toBe('closed');
    expect(await counter(b.metrics, 'voice_gateway_breaker_remote_changes_total')).toBe(0);
    expect(await counter(b.metrics, 'voice_gateway_breaker_sync_rejected_total')).toBe(0);
  });

  it('a publish that fails is counted and logged; the local breaker opened all the same', async () => {
    const net = new Network();
    const a = node(net, 'node-a');
    const b = node(net, 'node-b');
    a.bus.failWith = new Error('Stream is not writeable and enableOfflineQueue options is false');
    a.guards[0].record({ ok: false, error: authError() }, 'session');
    expect(a.guards[0].state).toBe('open');
    await new Promise((r) => setImmediate(r));
    expect(await counter(a.metrics, 'voice_gateway_breaker_sync_errors_total', { op: 'publish' })).toBe(1);
    expect(b.guards[0].state).toBe('closed');
    await a.sync.close();
    expect(a.bus.closed).toBe(true);
  });
});
