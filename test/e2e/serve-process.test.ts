/**
 * The real entry: `voice-gateway serve` as a child process. It starts on defaults (echo provider,
 * Silero VAD on workers), answers health checks, and on SIGTERM drains: live calls are closed cleanly
 * after the deadline, logs are flushed and the process exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { simulateCall } from '../../src/simulator/caller.js';
import { readBytes } from '../support/fixtures.js';
import { freePort } from '../support/gateway.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let child: ChildProcess | undefined;

afterEach(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
});

function startServe(env: Record<string, string>) {
  const lines: Record<string, unknown>[] = [];
  child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let i;
    while ((i = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not a log line */
      }
    }
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
  const until = async (event: string, timeoutMs = 30_000) => {
    const start = Date.now();
    while (Date.now() - start < timeoutMs) {
      const found = lines.find((l) => l.event === event);
      if (found) return found;
      if (child!.exitCode !== null) throw new Error(`serve exited ${String(child!.exitCode)}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no '${event}' log within ${String(timeoutMs)} ms; stderr: ${stderr}`);
  };
  return { lines, until, exited, stderr: () => stderr };
}

describe('voice-gateway serve', () => {
  it('starts on defaults, and on SIGTERM ends live calls cleanly and exits 0', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${String(port)}`;
    const serve = startServe({ PORT: String(port), SHUTDOWN_DEADLINE_MS: '1000', WORKER_POOL_SIZE: '1' });
    const listening = await serve.until('listening');
    expect(listening.providers).toEqual(['echo']);
    expect(listening.vad).toBe('silero');
    // Off by default in the gateway's own processes (src/util/v8-flags.ts).
    expect(listening.v8Flags).toEqual(['--no-allocation-site-pretenuring']);
    expect((await fetch(`${base}/health`)).status).toBe(200);
    // Ready once Silero is loaded in the worker (vad_warm), not merely when the port listens.
    expect(await serve.until('vad_warm')).toMatchObject({ workers: 1 });
    expect((await fetch(`${base}/ready`)).status).toBe(200);

    const call = simulateCall({ transport: 'twilio', baseUrl: base, audio: readBytes('calls/call-quiet.8k.ulaw'), codec: 'mulaw', maxDurationMs: 60_000 });
    await serve.until('call_started');
    child!.kill('SIGTERM');
    const result = await call;
    expect(result.closeCode).toBe(1000);
    expect(result.closeReason).toBe('shutdown');
    expect(await serve.exited).toBe(0);
    expect(serve.lines.some((l) => l.event === 'shutdown_complete')).toBe(true);
    expect(serve.lines.find((l) => l.event === 'call_ended')?.reason).toBe('shutdown');
  });

  it('refuses to start on a bad setting, naming the variable', async () => {
    const serve = startServe({ PORT: 'eighty' });
    expect(await serve.exited).toBe(2);
    expect(serve.stderr()).toContain('PORT');
    expect(serve.stderr()).toContain('GW_ERR_CONFIG_INVALID');
  });
});
