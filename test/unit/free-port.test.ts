/**
 * freePort: a port that is free, and below the range the kernel gives outgoing connections, so a
 * client connecting elsewhere cannot take it between the check and the caller's own listen.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/net.js';

describe('freePort', () => {
  it('gives ports below the outgoing-connection range, free to listen on', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(32_768); // Linux starts outgoing ports at 32768, macOS at 49152
    }
    const srv = createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(ports[0], '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  });
});
