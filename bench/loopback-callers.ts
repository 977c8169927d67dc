/**
 * N loopback WebSocket callers in a child process that only read, for benches where this process is
 * the gateway's side of the media socket (the ws server) and its write cost is what is measured.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export const CALLER_FLAG = '--loopback-callers';

/** In the child: connect `sockets` callers to `url`, stay until the parent disconnects. */
export async function runCallers(url: string, sockets: number): Promise<void> {
  const open = Array.from({ length: sockets }, () => new WebSocket(url));
  await Promise.all(open.map((ws) => once(ws, 'open')));
  process.send?.('ready');
  await once(process, 'disconnect');
  for (const ws of open) ws.terminate();
}

/** In the parent: a ws server on 127.0.0.1:0 and `sockets` callers connected to it from `script --loopback-callers`. */
export async function startCallers(script: string, sockets: number): Promise<{ peers: WebSocket[]; close(): Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  const peers: WebSocket[] = [];
  server.on('connection', (ws) => peers.push(ws));
  const url = `ws://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  const child = fork(script, [CALLER_FLAG, url, String(sockets)], { execArgv: process.execArgv });
  await once(child, 'message');
  return {
    peers,
    async close() {
      child.disconnect();
      await once(child, 'exit');
      await new Promise((r) => server.close(r));
    },
  };
}

/** The child's entry: true when this process was started as the callers. */
export async function callersEntry(): Promise<boolean> {
  const i = process.argv.indexOf(CALLER_FLAG);
  if (i < 0) return false;
  await runCallers(process.argv[i + 1], Number(process.argv[i + 2]));
  return true;
}
