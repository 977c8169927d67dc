/**
 * Real PostgreSQL and Redis servers for tests: each in a temporary directory, on a free loopback port,
 * stopped (and its directory removed) by `stop()`. Find the binaries with requirements.ts first.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { connect } from 'node:net';
import pg from 'pg';
import { freePort } from '../../src/util/net.js';

export interface RunningService {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

async function waitForPort(port: number, child: ChildProcess, what: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${String(child.exitCode)} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`${what} did not listen on ${String(port)} within ${String(timeoutMs)} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** redis-server with no persistence, loopback only. `stop()` then `start()` again on the same port. */
export async function startRedis(binary: string, port?: number): Promise<RunningService> {
  const p = port ?? (await freePort());
  const child = spawn(binary, ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: 'ignore' });
  await waitForPort(p, child, 'redis-server');
  return { url: `redis://127.0.0.1:${String(p)}`, port: p, stop: () => stopChild(child, 'SIGTERM') };
}

function postgresUser(): { uid?: number; gid?: number } {
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) throw new Error('running as root and there is no postgres user to run PostgreSQL as');
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** The port opens before recovery ends ("the database system is starting up"): wait for a query. */
async function waitForQueries(url: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** A throwaway PostgreSQL cluster: trust auth, fsync off, loopback only, in a temporary directory. */
export async function startPostgres(initdb: string): Promise<RunningService> {
  const dir = mkdtempSync(join(tmpdir(), 'vg-pg-'));
  const data = join(dir, 'data');
  // initdb and postgres refuse to run as root: as root, they run as the Debian package's `postgres` user.
  const ids = userInfo().uid === 0 ? postgresUser() : {};
  if (ids.uid !== undefined) {
    chownSync(dir, ids.uid, ids.gid!);
    chmodSync(dir, 0o700);
  }
  const init = spawnSync(initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'], { encoding: 'utf8', cwd: dir, ...ids });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  const args = ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  const child = spawn(join(dirname(initdb), 'postgres'), args, { stdio: 'ignore', cwd: dir, ...ids });
  await waitForPort(port, child, 'postgres');
  const url = `postgres://postgres@127.0.0.1:${String(port)}/postgres`;
  await waitForQueries(url);
  return {
    url,
    port,
    async stop() {
      // SIGINT: "fast" shutdown; connected clients are disconnected.
      await stopChild(child, 'SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
