/**
 * corkableSocketOf reaches the TCP socket under a `ws` WebSocket (`_socket`, not public API). This test
 * pins it against the installed ws: if a release renames the field, it fails here instead of corking
 * silently stopping.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { corkableSocketOf } from '../../src/transports/socket-cork.js';

describe('corkableSocketOf', () => {
  let server: WebSocketServer | undefined;
  afterEach(async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    for (const c of s.clients) c.terminate();
    await new Promise((r) => s.close(r));
  });

  it('finds the net.Socket of a connected ws WebSocket, and messages sent corked arrive in order', async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[WebSocket]>;
    const client = new WebSocket(`ws://127.0.0.1:${String((server.address() as AddressInfo).port)}`);
    const [peer] = await accepted;
    await once(client, 'open');
    const tcp = corkableSocketOf(peer);
    expect(tcp).toBeInstanceOf(Socket);
    const got: string[] = [];
    const all = new Promise<void>((resolve) =>
      client.on('message', (m: Buffer) => {
        got.push(m.toString());
        if (got.length === 3) resolve();
      }),
    );
    tcp!.cork();
    for (const m of ['a', 'b', 'mark']) peer.send(m);
    tcp!.uncork();
    await all;
    expect(got).toEqual(['a', 'b', 'mark']);
    client.close();
  });

  it('is undefined for anything without a corkable socket', () => {
    expect(corkableSocketOf({})).toBeUndefined();
    expect(corkableSocketOf({ _socket: null })).toBeUndefined();
    expect(corkableSocketOf({ _socket: { cork: () => undefined } })).toBeUndefined();
  });
});
