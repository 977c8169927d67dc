/**
 * The Deepgram SDK's sockets, made into what the session needs: a client pointed at the configured
 * base URL, an open that reports failures as typed errors (401/403 -> AUTH) and honours an abort
 * signal, and an ordered inbound stream. The SDK hands binary frames over as Blobs, whose bytes can
 * only be read asynchronously; `SocketLink` reads them in parallel but delivers every message, text
 * or binary, in arrival order, so a `Flushed` is never seen before the audio it follows.
 */
import type * as DeepgramSdk from '@deepgram/sdk';
import type { DeepgramClient, DeepgramEnvironmentUrls } from '@deepgram/sdk';
import { GatewayError } from '../../errors.js';
import { lazyImport } from '../../util/lazy-import.js';
import { classifyUpgradeFailure, type UpgradeStatusCodes } from '../ws-errors.js';

/** The SDK: loaded at start-up when PROVIDERS names Deepgram (Provider.preload), never otherwise. */
export const deepgramSdk = lazyImport(() => import('@deepgram/sdk'));

type ListenV1 = DeepgramClient['listen']['v1'];
type SpeakV1 = DeepgramClient['speak']['v1'];
export type ListenSocket = Awaited<ReturnType<ListenV1['connect']>>;
export type SpeakSocket = Awaited<ReturnType<SpeakV1['connect']>>;
export type ListenArgs = Parameters<ListenV1['connect']>[0];
export type SpeakArgs = Parameters<SpeakV1['connect']>[0];

/** What both SDK sockets have in common, as far as the link uses it. */
interface SdkSocket {
  on(event: 'message', cb: (message: unknown) => void): void;
  on(event: 'close', cb: (event: { code?: number; reason?: string }) => void): void;
  on(event: 'error', cb: (error: Error) => void): void;
  connect(): unknown;
  waitForOpen(): Promise<unknown>;
  close(): void;
  readonly readyState: number;
  readonly socket: { addEventListener(type: 'close', listener: () => void): void; readonly readyState: number };
}

export type Inbound =
  | { kind: 'json'; value: unknown }
  | { kind: 'binary'; bytes: Uint8Array }
  /** A text frame that is not JSON. */
  | { kind: 'text'; raw: string };

export interface LinkHandlers {
  message(message: Inbound): void;
  /** The socket closed or failed without us asking. */
  ended(code: number, reason: string): void;
}

const OPEN = 1;
const CLOSED = 3;

/**
 * A client for one session. Listen and speak both use the `production` environment URL; all four
 * are set so nothing falls back to api.deepgram.com. The SDK's `baseUrl` option would override the
 * environment for every socket, so it is left unset.
 */
export async function createClient(apiKey: string, baseUrl: string | undefined): Promise<DeepgramClient> {
  let sdk: typeof DeepgramSdk;
  try {
    sdk = await deepgramSdk();
  } catch (err) {
    throw new GatewayError('GW_ERR_PROVIDER_CONNECT', `the Deepgram SDK did not load: ${(err as Error).message}`, { cause: err });
  }
  return new sdk.DeepgramClient({ apiKey, environment: environmentFor(baseUrl), reconnect: false });
}

export function environmentFor(baseUrl: string | undefined): DeepgramEnvironmentUrls | undefined {
  if (baseUrl === undefined) return undefined;
  const base = baseUrl.replace(/\/+$/, '');
  const ws = base.replace(/^http(s?):/, 'ws$1:');
  const http = base.replace(/^ws(s?):/, 'http$1:');
  return { base: http, production: ws, agent: ws, agentRest: http };
}

/** Deepgram refuses a bad key with 401/403 and an account out of credit or over its concurrency with 402/429. */
const DEEPGRAM_UPGRADE_CODES: UpgradeStatusCodes = { auth: [401, 403], quota: [402, 429] };

/** Map a failed WebSocket handshake to our error codes. The SDK only exposes ws's error message. */
export function handshakeError(what: string, err: unknown): GatewayError {
  const message = typeof (err as { message?: unknown } | undefined)?.message === 'string' ? (err as { message: string }).message : String(err);
  const cause = new Error(message);
  const { code, status } = classifyUpgradeFailure(message, DEEPGRAM_UPGRADE_CODES);
  if (code !== 'GW_ERR_PROVIDER_CONNECT') return new GatewayError(code, `deepgram ${what}: HTTP ${String(status)}`, { cause });
  if (message === 'TIMEOUT') return new GatewayError('GW_ERR_PROVIDER_TIMEOUT', `deepgram ${what}: no handshake answer`, { cause });
  return new GatewayError('GW_ERR_PROVIDER_CONNECT', `deepgram ${what}: ${message}`, { cause });
}

export class SocketLink {
  readonly #socket: SdkSocket;
  readonly #what: string;
  #handlers: LinkHandlers | undefined;
  #early: Inbound[] = [];
  /** Messages whose delivery waits on a Blob read ahead of them. */
  #pending = 0;
  #chain: Promise<void> = Promise.resolve();
  #closing = false;
  #ended = false;
  #onRemoteClose: (() => void) | undefined;

  constructor(socket: SdkSocket, what: string) {
    this.#socket = socket;
    this.#what = what;
    socket.on('message', (m) => this.#onMessage(m));
    socket.on('close', (e) => this.#inOrder(() => this.#onEnd(e.code ?? 1006, e.reason ?? '')));
    socket.on('error', (e) => this.#inOrder(() => this.#onEnd(1006, e.message)));
  }

  get isOpen(): boolean {
    return !this.#closing && !this.#ended && this.#socket.readyState === OPEN;
  }

  /** Open the socket. Rejects with a typed error; on failure or abort the socket is closed. */
  async open(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    this.#socket.connect();
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new GatewayError('GW_ERR_PROVIDER_CONNECT', `deepgram ${this.#what}: connect aborted`));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([this.#socket.waitForOpen().catch((err: unknown) => Promise.reject(handshakeError(this.#what, err))), aborted]);
    } catch (err) {
      this.#closing = true;
      this.#socket.close();
      throw err;
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Start delivering; anything that arrived between open and now comes first. */
  start(handlers: LinkHandlers): void {
    this.#handlers = handlers;
    const early = this.#early;
    this.#early = [];
    for (const m of early) handlers.message(m);
  }

  /**
   * Close politely: send the final control message, give the server `waitMs` to close its side
   * (Deepgram sends its last results first), then close ours. Idempotent.
   */
  async close(final: (() => void) | undefined, waitMs: number): Promise<void> {
    if (this.#closing) return;
    const wasOpen = this.isOpen;
    this.#closing = true;
    if (wasOpen && final) {
      const remoteClosed = new Promise<void>((resolve) => (this.#onRemoteClose = resolve));
      try {
        final();
        await waitUpTo(remoteClosed, waitMs);
      } catch {
        // The socket went away between the check and the send: nothing left to be polite to.
      }
    }
    const raw = this.#socket.socket;
    const rawClosed = raw.readyState === CLOSED ? Promise.resolve() : new Promise<void>((resolve) => raw.addEventListener('close', () => resolve()));
    this.#socket.close();
    await waitUpTo(rawClosed, waitMs);
  }

  #onMessage(m: unknown): void {
    if (this.#pending === 0 && !(m instanceof Blob)) {
      this.#deliver(toInbound(m));
      return;
    }
    // Start the read now; deliver after everything that arrived before it.
    const read: Promise<Inbound> = m instanceof Blob ? m.arrayBuffer().then((b) => ({ kind: 'binary', bytes: new Uint8Array(b) })) : Promise.resolve(toInbound(m));
    this.#pending++;
    this.#chain = this.#chain.then(
      () =>
        read.then(
          (inbound) => {
            this.#pending--;
            this.#deliver(inbound);
          },
          () => {
            this.#pending--;
            this.#deliver({ kind: 'text', raw: '<unreadable binary frame>' });
          },
        ),
    );
  }

  #inOrder(fn: () => void): void {
    if (this.#pending === 0) fn();
    else this.#chain = this.#chain.then(fn);
  }

  #deliver(m: Inbound): void {
    if (this.#closing || this.#ended) return;
    if (this.#handlers) this.#handlers.message(m);
    else this.#early.push(m);
  }

  #onEnd(code: number, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#closing) {
      this.#onRemoteClose?.();
      return;
    }
    this.#handlers?.ended(code, reason);
  }
}

function toInbound(m: unknown): Inbound {
  if (typeof m === 'string') return { kind: 'text', raw: m };
  if (m instanceof ArrayBuffer) return { kind: 'binary', bytes: new Uint8Array(m) };
  if (ArrayBuffer.isView(m)) return { kind: 'binary', bytes: new Uint8Array(m.buffer, m.byteOffset, m.byteLength) };
  return { kind: 'json', value: m };
}

function waitUpTo(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
