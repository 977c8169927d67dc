/**
 * The bench's wait for its target: when the target never gets ready, the error says what the last
 * readiness poll saw (the gateway's log may say nothing about it at the bench's log level).
 */
import { describe, expect, it } from 'vitest';
import { startTarget } from '../../src/bench/target-process.js';

/** A stand-in gateway whose /ready always answers 503 with the gateway's body shape. */
const notReady = [
  '-e',
  "require('node:http').createServer((q, r) => { r.writeHead(503, { 'content-type': 'application/json' }); r.end(JSON.stringify({ status: 'not_ready', workers: false, draining: false, calls: 0 })); }).listen(Number(process.env.PORT), process.env.HOST);",
];
/** One that accepts connections and never answers. */
const silent = ['-e', "require('node:net').createServer(() => {}).listen(Number(process.env.PORT), process.env.HOST);"];

describe('startTarget readiness', () => {
  it("names the last /ready answer when the gateway never gets ready", { timeout: 20_000 }, async () => {
    await expect(startTarget({ kind: 'gateway', env: { PATH: process.env.PATH }, command: notReady, readyTimeoutMs: 1500 })).rejects.toThrow(
      /gateway not ready within 1500 ms \(last \/ready: HTTP 503 \{"status":"not_ready","workers":false/,
    );
  });

  it('gives up on a target that accepts and never answers, instead of waiting on the poll', { timeout: 20_000 }, async () => {
    await expect(startTarget({ kind: 'gateway', env: { PATH: process.env.PATH }, command: silent, readyTimeoutMs: 1500 })).rejects.toThrow(
      /gateway not ready within 1500 ms \(last \/ready: no answer \(TimeoutError\)\)/,
    );
  });
});
