/** The primary's stores under `serve --processes N`: the GrantStore and RegistryStore contracts Redis keeps for nodes. */
import { describe, expect, it } from 'vitest';
import { MemoryGrantStore, MemoryRegistryStore } from '../../src/cluster/memory-stores.js';

describe('MemoryGrantStore', () => {
  it('stores a grant once, gives it to one taker only, and forgets it at its expiry', async () => {
    let now = 1000;
    const store = new MemoryGrantStore(() => now);
    await store.put('t1', 'grant', 500);
    await expect(store.put('t1', 'other', 500)).rejects.toThrow(/already exists/);
    expect(await store.peek('t1')).toBe('grant');
    const [a, b] = await Promise.all([store.take('t1'), store.take('t1')]);
    expect([a, b]).toEqual(['grant', undefined]);
    await store.put('t2', 'grant', 500);
    now += 500;
    expect(await store.take('t2')).toBeUndefined();
    await store.put('t3', 'grant', 500);
    await store.revoke('t3');
    expect(await store.peek('t3')).toBeUndefined();
  });

  it('does not keep grants nobody spends', async () => {
    let now = 0;
    const store = new MemoryGrantStore(() => now);
    for (let i = 0; i < 300; i++) await store.put(`old${String(i)}`, 'g', 10);
    now = 100;
    for (let i = 0; i < 300; i++) await store.put(`new${String(i)}`, 'g', 10);
    expect(store.size).toBeLessThanOrEqual(300 + 256);
  });
});

describe('MemoryRegistryStore', () => {
  const entry = (callId: string, nodeId: string) => ({ callId, nodeId, nodeUrl: 'http://127.0.0.1:1', record: { callId } });

  it('keeps each call until its expiry, a heartbeat renews it, and a dead process is dropped at once', async () => {
    let now = 0;
    const store = new MemoryRegistryStore(() => now);
    await store.put([entry('c1', 'box.p0'), entry('c2', 'box.p1'), entry('c3', 'box.p1')], 1000);
    now = 900;
    await store.put([entry('c1', 'box.p0')], 1000);
    now = 1100;
    expect((await store.all()).map((e) => e.callId)).toEqual(['c1']);
    await store.put([entry('c4', 'box.p1')], 1000);
    expect(store.dropNode('box.p1')).toBe(1);
    expect(await store.get('c4')).toBeUndefined();
    expect((await store.get('c1'))?.nodeId).toBe('box.p0');
    await store.remove('c1');
    expect(await store.all()).toEqual([]);
  });
});
