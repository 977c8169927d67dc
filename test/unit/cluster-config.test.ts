/** The call registry's settings (src/config.ts clusterConfig): defaults and refusals naming the variable. */
import { availableParallelism, hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('cluster configuration', () => {
  it('defaults: hostname-pid, this node on loopback at PORT, no secret, 15 s TTL', () => {
    const c = loadConfig({ PORT: '9123' }).cluster;
    expect(c).toEqual({ nodeId: `${hostname()}-${String(process.pid)}`, nodeUrl: 'http://127.0.0.1:9123', secret: undefined, registryTtlMs: 15_000, processes: 1 });
  });

  it('takes NODE_ID, NODE_URL, CLUSTER_SECRET and CALL_REGISTRY_TTL_MS', () => {
    const c = loadConfig({ NODE_ID: 'gw-a', NODE_URL: 'http://10.0.0.5:8080/', CLUSTER_SECRET: 'sixteen-chars-ok', CALL_REGISTRY_TTL_MS: '3000' }).cluster;
    expect(c).toEqual({ nodeId: 'gw-a', nodeUrl: 'http://10.0.0.5:8080', secret: 'sixteen-chars-ok', registryTtlMs: 3000, processes: 1 });
  });

  it('PROCESSES: a count, or auto for one per core', () => {
    expect(loadConfig({ PROCESSES: '3' }).cluster.processes).toBe(3);
    expect(loadConfig({ PROCESSES: 'auto' }).cluster.processes).toBe(availableParallelism());
  });

  it.each([
    [{ PROCESSES: '0' }, /PROCESSES/],
    [{ PROCESSES: 'many' }, /PROCESSES/],
    [{ NODE_ID: 'has space' }, /NODE_ID/],
    [{ NODE_URL: 'redis://x' }, /NODE_URL/],
    [{ CLUSTER_SECRET: 'short' }, /CLUSTER_SECRET must be at least 16/],
    [{ CALL_REGISTRY_TTL_MS: '10' }, /CALL_REGISTRY_TTL_MS/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});
