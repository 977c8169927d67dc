/**
 * `voice-gateway serve` with a shared store that is not there: it says which, and exits 1, rather than
 * starting a node that cannot record calls or accept streams from other nodes.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/net.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function serve(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'serve', '--port', '0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, VAD_ENGINE: 'energy', CALL_RECORD_PATH: ':memory:', LOG_LEVEL: 'info', ...env },
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr, stdout })));
}

describe('serve with a shared store that is down', () => {
  it('DATABASE_URL unreachable: GW_ERR_STORE_OPEN naming the host (not the password), exit 1', { timeout: 30_000 }, async () => {
    const r = await serve({ DATABASE_URL: `postgres://gw:s3cret@127.0.0.1:${String(await freePort())}/calls` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('GW_ERR_STORE_OPEN');
    expect(r.stderr).toContain('127.0.0.1');
    expect(r.stderr + r.stdout).not.toContain('s3cret');
    expect(r.stdout).not.toContain('"listening"');
  });

  it('REDIS_URL unreachable: GW_ERR_GRANTS_UNAVAILABLE, exit 1', { timeout: 30_000 }, async () => {
    const r = await serve({ REDIS_URL: `redis://127.0.0.1:${String(await freePort())}` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('GW_ERR_GRANTS_UNAVAILABLE');
    expect(r.stdout).not.toContain('"listening"');
  });
});
