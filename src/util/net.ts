import { createServer } from 'node:net';
import { GatewayError } from '../errors.js';

/**
 * Ports tried first: under the range Linux (32768-60999) and macOS (49152-65535) hand out as the local
 * port of outgoing connections. A port the kernel picks with listen(0) comes from that same range, so
 * between its close here and the child's listen an outgoing connection could take it (seen in the
 * test suite, where hundreds of clients connect at once: EADDRINUSE).
 */
const LOW = 10_000;
const HIGH = 32_767;
const TRIES = 20;

/** The port, or undefined when it is taken (or not ours to take); any other failure rejects. */
function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(undefined) : reject(err)));
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : undefined;
      srv.close(() => resolve(got));
    });
  });
}

/** A loopback TCP port that was free a moment ago (for child processes that must be told their port). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < TRIES; i++) {
    const port = await tryListen(LOW + Math.floor(Math.random() * (HIGH - LOW + 1)));
    if (port !== undefined) return port;
  }
  const port = await tryListen(0);
  if (port === undefined) throw new GatewayError('GW_ERR_CONFIG_INVALID', 'no free loopback port');
  return port;
}
