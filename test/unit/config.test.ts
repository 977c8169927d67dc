import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('config', () => {
  it('has working defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.host).toBe('127.0.0.1');
    expect(c.publicUrl).toBe('http://127.0.0.1:8080');
    expect(c.providers).toEqual(['echo']);
    expect(c.vadEngine).toBe('silero');
    expect(c.twilio.authToken).toBeUndefined();
    expect(c.trustProxy).toBe(false);
  });

  it.each([
    [{ PORT: 'eighty' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ PUBLIC_URL: 'not a url' }, /PUBLIC_URL/],
    [{ PUBLIC_URL: 'ftp://x' }, /PUBLIC_URL/],
    [{ VAD_ENGINE: 'magic' }, /VAD_ENGINE/],
    [{ PROVIDERS: 'echo,skynet' }, /PROVIDERS/],
    [{ TELNYX_PUBLIC_KEY: 'c2hvcnQ=' }, /TELNYX_PUBLIC_KEY/],
    [{ TRUST_PROXY: 'maybe' }, /TRUST_PROXY/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ VAD_SILENCE_GATE_DBFS: '3' }, /VAD_SILENCE_GATE_DBFS/],
    [{ WORKER_NICE: '20' }, /WORKER_NICE/],
    [{ VAD_SILENCE_GATE_DBFS: 'quiet' }, /VAD_SILENCE_GATE_DBFS/],
  ])('rejects %o naming the variable', (env, pattern) => {
    expect(() => loadConfig(env)).toThrow(pattern);
    expect(() => loadConfig(env)).toThrow(expect.objectContaining({ code: 'GW_ERR_CONFIG_INVALID' }));
  });

  it('gates silent VAD windows at -60 dBFS unless told a level or off', () => {
    expect(loadConfig({}).vadSilenceGateDb).toBe(-60);
    expect(loadConfig({ VAD_SILENCE_GATE_DBFS: '-50.5' }).vadSilenceGateDb).toBe(-50.5);
    expect(loadConfig({ VAD_SILENCE_GATE_DBFS: 'off' }).vadSilenceGateDb).toBeUndefined();
  });

  it('runs the worker threads at nice 0 unless told otherwise', () => {
    expect(loadConfig({}).workerNice).toBe(0);
    expect(loadConfig({ WORKER_NICE: '10' }).workerNice).toBe(10);
  });

  it('reads lists and the trust-proxy hop count', () => {
    const c = loadConfig({ PROVIDERS: 'echo, echo', TWILIO_ALLOWED_CIDRS: '10.0.0.0/8, ::1', TRUST_PROXY: '2', PUBLIC_URL: 'https://gw.example.com/' });
    expect(c.providers).toEqual(['echo', 'echo']);
    expect(c.twilio.allowedCidrs).toEqual(['10.0.0.0/8', '::1']);
    expect(c.trustProxy).toBe(2);
    expect(c.publicUrl).toBe('https://gw.example.com');
  });

  it('reads DATABASE_URL and REDIS_URL (shared stores for several nodes); unset keeps the in-process ones', () => {
    expect(loadConfig({}).calls.databaseUrl).toBeUndefined();
    expect(loadConfig({}).media.redisUrl).toBeUndefined();
    const c = loadConfig({ DATABASE_URL: 'postgresql://gw:pw@db:5432/calls', REDIS_URL: 'redis://redis:6379/0' });
    expect(c.calls.databaseUrl).toBe('postgresql://gw:pw@db:5432/calls');
    expect(c.media.redisUrl).toBe('redis://redis:6379/0');
    expect(loadConfig({ DATABASE_URL: 'postgres://db/calls', REDIS_URL: 'rediss://r:6380' }).media.redisUrl).toBe('rediss://r:6380');
  });

  it.each([
    [{ DATABASE_URL: 'mysql://u:hunter2@db/calls' }, /DATABASE_URL/],
    [{ DATABASE_URL: 'calls.sqlite' }, /DATABASE_URL/],
    [{ REDIS_URL: 'http://u:hunter2@redis:6379' }, /REDIS_URL/],
    [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL/],
  ])('rejects %o naming the variable, never echoing a password', (env, pattern) => {
    expect(() => loadConfig(env)).toThrow(pattern);
    expect(() => loadConfig(env)).toThrow(expect.objectContaining({ code: 'GW_ERR_CONFIG_INVALID' }));
    expect(() => loadConfig(env)).not.toThrow(/hunter2/);
  });
});
