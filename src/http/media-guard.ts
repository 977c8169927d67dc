/**
 * The media socket guard: how many media WebSockets may be open, and how long one may stay open
 * without starting a call. Without it, 2,000 upgraded sockets that never sent `start` held 2,000 file
 * descriptors for good.
 *
 * - A slot is reserved when an upgrade request arrives (before any route hook, so refusing is cheap)
 *   and released when its TCP connection closes, whatever happened in between (refused by a later
 *   hook, upgraded, closed by either side). Counting TCP connections, not WebSocket objects, means
 *   a burst of concurrent handshakes cannot slip past the caps before any socket is counted.
 * - Caps: `maxSockets` in total and `maxSocketsPerAddress` per client address (request.ip, so behind
 *   trusted proxies it is the caller's address, not the proxy's). Over a cap: 429, counted.
 * - Once upgraded, the socket must start a call (media-socket.ts calls markMediaStarted) within
 *   `startTimeoutMs`, or it is closed with 1008 and counted.
 */
import type { Duplex } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { GatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

export interface MediaGuardOptions {
  readonly maxSockets: number;
  readonly maxSocketsPerAddress: number;
  readonly startTimeoutMs: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

export type MediaGuardRefusal = 'per_address_cap' | 'total_cap' | 'start_timeout';

/** 1008 policy violation, as media-socket.ts closes a bad token. */
const CLOSE_POLICY = 1008;

/** Per upgraded socket: what to call when it starts a call. Keyed by the socket, so no socket is kept alive by it. */
const startWatch = new WeakMap<WebSocket, () => void>();

/** The media socket started a call: its start deadline no longer applies. */
export function markMediaStarted(socket: WebSocket): void {
  const stop = startWatch.get(socket);
  if (stop) {
    startWatch.delete(socket);
    stop();
  }
}

export class MediaGuard {
  readonly #o: MediaGuardOptions;
  readonly #byAddress = new Map<string, number>();
  #total = 0;

  constructor(options: MediaGuardOptions) {
    this.#o = options;
  }

  /** Media sockets (TCP connections of upgrade requests) open now. */
  get active(): number {
    return this.#total;
  }

  /** Open from one address now. */
  activeFrom(address: string): number {
    return this.#byAddress.get(address) ?? 0;
  }

  /** onRequest for WebSocket upgrade requests: reserve a slot until the connection closes, or refuse. */
  admit(request: FastifyRequest, connection: Duplex | undefined): void {
    const address = request.ip;
    let refusal: MediaGuardRefusal | undefined;
    if (this.#total >= this.#o.maxSockets) refusal = 'total_cap';
    else if ((this.#byAddress.get(address) ?? 0) >= this.#o.maxSocketsPerAddress) refusal = 'per_address_cap';
    if (refusal) {
      this.#o.metrics.mediaSocketsRefusedTotal.inc({ reason: refusal });
      // Debug: a flood of refusals must not become a flood of log lines (the metric counts them).
      this.#o.logger.debug({ event: 'media_socket_refused', reason: refusal, ip: address }, 'media socket refused');
      throw new GatewayError('GW_ERR_HTTP_TOO_MANY', refusal === 'total_cap' ? `${String(this.#o.maxSockets)} media sockets open` : `${String(this.#o.maxSocketsPerAddress)} media sockets open from this address`);
    }
    // In-process injection (fastify's injectWS) has no TCP connection to count.
    if (!connection) return;
    this.#total++;
    this.#byAddress.set(address, (this.#byAddress.get(address) ?? 0) + 1);
    this.#o.metrics.mediaSocketsActive.set(this.#total);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#total--;
      const left = (this.#byAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#byAddress.set(address, left);
      else this.#byAddress.delete(address);
      this.#o.metrics.mediaSocketsActive.set(this.#total);
    };
    if (connection.destroyed) release();
    else connection.once('close', release);
  }

  /**
   * onResponse of an upgrade request: it was answered over HTTP (refused by a cap, an allowlist, a
   * signature, a token), so it will never be upgraded. Nothing else closes that TCP connection (the
   * HTTP server detached it from its parser for the upgrade), so end it here.
   */
  answered(connection: Duplex | undefined): void {
    if (!connection || connection.destroyed) return;
    connection.end();
    setTimeout(() => connection.destroy(), 1000).unref();
  }

  /** wss 'connection': the upgrade completed; arm the start deadline. */
  watch(socket: WebSocket): void {
    const timer = setTimeout(() => {
      startWatch.delete(socket);
      if (socket.readyState !== socket.OPEN) return;
      this.#o.metrics.mediaSocketsRefusedTotal.inc({ reason: 'start_timeout' });
      this.#o.logger.debug({ event: 'media_socket_refused', reason: 'start_timeout', timeoutMs: this.#o.startTimeoutMs }, 'media socket sent no start in time');
      socket.close(CLOSE_POLICY, 'no start in time');
      // A peer that ignores the close handshake is cut off; its slot is released when TCP closes.
      setTimeout(() => socket.terminate(), 2000).unref();
    }, this.#o.startTimeoutMs);
    timer.unref();
    startWatch.set(socket, () => clearTimeout(timer));
    socket.once('close', () => markMediaStarted(socket));
  }
}
