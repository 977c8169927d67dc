/**
 * One Gemini Live connection through @google/genai's `ai.live.connect`. The SDK builds the URL (from
 * the documented `httpOptions.baseUrl` and `apiVersion`), sends the setup message, waits for
 * setupComplete and encodes every client message; this file owns the WebSocket underneath it, through
 * the SDK's socket factory seam (./sdk-socket-hook.ts, the one place that touches it), for three
 * reasons found in the SDK source (2.32.0, dist/node/index.mjs):
 *
 * - Its message handler is `void handleWebSocketMessage(...)`, which runs JSON.parse on every frame: one
 *   unparseable frame from the server is an unhandled promise rejection, which ends a Node process.
 *   Here each frame is parsed once, garbage is reported as a protocol problem, and the SDK only sees
 *   the setupComplete it waits for.
 * - `connect()` awaits `onopen` and then setupComplete with no error path: a refused upgrade or a
 *   close before setupComplete leaves it pending forever. Here those reject the connect, typed.
 * - The API key is in the URL's query string (`?key=`), so neither the URL nor anything holding it
 *   (the socket, its events) is ever logged; error texts are scrubbed of the key before they leave.
 */
import { GoogleGenAI, type FunctionResponseScheduling, type LiveClientSetup, type LiveConnectConfig, type Session } from '@google/genai';
import WebSocket from 'ws';
import { GatewayError, type ErrorCode } from '../../errors.js';
import { redactKeyParams, redactSecret } from '../../util/redact.js';
import { codeOfUpgradeStatus, upgradeStatusOf, type UpgradeStatusCodes } from '../ws-errors.js';
import { hookLiveSocket, type SdkSocketCallbacks } from './sdk-socket-hook.js';

/** The Gemini API version the Live endpoint is reached at, said explicitly so an SDK default cannot move it. */
export const GEMINI_API_VERSION = 'v1beta';

/** One answer to a model's function call (FunctionResponse); `scheduling` as the SDK names its values. */
export interface ToolResponse {
  readonly id: string | undefined;
  readonly name: string;
  readonly response: Record<string, unknown>;
  readonly scheduling?: 'SILENT' | 'WHEN_IDLE' | 'INTERRUPT';
}

export interface LinkHandlers {
  /** A parsed server message (a JSON object), in wire order. */
  onMessage(link: LiveLink, msg: Record<string, unknown>): void;
  /** A frame that is not a JSON object. */
  onBadFrame(link: LiveLink, detail: string): void;
  /** The server or the network closed an open link (not called after `close()`). */
  onClose(link: LiveLink, error: GatewayError, reason: string): void;
}

export interface LinkOptions {
  readonly apiKey: string;
  readonly baseUrl?: string;
  readonly model: string;
  readonly config: LiveConnectConfig;
  /**
   * Setup fields of the wire type (LiveClientSetup) that the SDK's LiveConnectConfig does not carry in
   * 2.32.0 (`historyConfig`): merged into the setup message as it goes out.
   */
  readonly setupExtras?: Pick<LiveClientSetup, 'historyConfig'>;
  readonly handlers: LinkHandlers;
  readonly signal?: AbortSignal;
}

const CLOSE_TIMEOUT_MS = 2000;
const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
const AUTH_REASON = /api[ _-]?key|credential|permission[ _]denied|unauthenticated|unauthori[sz]ed/i;
const QUOTA_REASON = /quota|resource[ _]exhausted|rate[ _-]?limit|too many requests/i;

let nextLinkId = 1;

export class LiveLink {
  readonly id = nextLinkId++;
  readonly #handlers: LinkHandlers;
  readonly #scrub: (text: string) => string;
  #ws: WebSocket | undefined;
  #session: Session | undefined;
  #open = false;
  #closing = false;
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;
  #failConnect: ((err: GatewayError) => void) | undefined;
  #setupExtras: LinkOptions['setupExtras'];
  #lastError = '';

  private constructor(handlers: LinkHandlers, apiKey: string) {
    this.#handlers = handlers;
    this.#scrub = (text) => redactKeyParams(redactSecret(text, apiKey));
  }

  /** Opens a link; resolves once the server sent setupComplete. Rejects with a GatewayError. */
  static async open(opts: LinkOptions): Promise<LiveLink> {
    const link = new LiveLink(opts.handlers, opts.apiKey);
    await link.#connect(opts);
    return link;
  }

  get isOpen(): boolean {
    return this.#open && !this.#closing;
  }

  async #connect(opts: LinkOptions): Promise<void> {
    if (opts.signal?.aborted) throw abortError(opts.signal);
    this.#setupExtras = opts.setupExtras;
    const ai = new GoogleGenAI({ apiKey: opts.apiKey, vertexai: false, httpOptions: { apiVersion: GEMINI_API_VERSION, ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}) } });
    hookLiveSocket(ai, {
      create: (url, headers, callbacks) => ({
        connect: () => this.#openSocket(url, headers, callbacks),
        send: (message: string) => this.#send(message),
        close: () => void this.close(),
      }),
    });
    const failed = new Promise<never>((_resolve, reject) => {
      this.#failConnect = reject;
    });
    const onAbort = () => this.#failConnect?.(abortError(opts.signal!));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const connecting = ai.live.connect({
      model: opts.model,
      config: opts.config,
      // Messages reach the session through #onFrame, parsed once; the SDK's copy is not needed.
      callbacks: { onmessage: () => undefined },
    });
    // If we give up first, the SDK's promise may settle later (or never): it must not go unhandled.
    connecting.catch(() => undefined);
    try {
      this.#session = await Promise.race([connecting, failed]);
      this.#open = true;
    } catch (err) {
      this.#terminate();
      throw err instanceof GatewayError ? err : new GatewayError('GW_ERR_PROVIDER_CONNECT', `gemini: ${this.#scrub((err as Error).message)}`);
    } finally {
      this.#failConnect = undefined;
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  #openSocket(url: string, headers: Record<string, string>, callbacks: SdkSocketCallbacks): void {
    // closeTimeout (ws >= 8.19) bounds close(); @types/ws does not list it yet.
    // No permessage-deflate offer (ws offers it by default): a zlib context pair per socket (~300 KiB
    // a call, issue 16) and CPU on every frame for base64 audio that barely compresses.
    const options: WebSocket.ClientOptions & { closeTimeout: number } = { headers, closeTimeout: CLOSE_TIMEOUT_MS, maxPayload: MAX_PAYLOAD_BYTES, perMessageDeflate: false };
    const ws = new WebSocket(url, options);
    this.#ws = ws;
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    ws.on('open', () => callbacks.onopen());
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.#onFrame(data, isBinary, callbacks));
    ws.on('error', (err: Error) => {
      // Followed by 'close'; keep the text (scrubbed) to explain it. Never log `err`: ws errors can carry the URL.
      this.#lastError = this.#scrub(err.message);
    });
    ws.on('close', (code: number, reasonBuf: Buffer) => this.#onSocketClose(code, this.#scrub(reasonBuf.toString('utf8')).slice(0, 200)));
  }

  #onFrame(data: WebSocket.RawData, isBinary: boolean, callbacks: SdkSocketCallbacks): void {
    if (this.#closing) return;
    // ws hands over a Buffer (binaryType 'nodebuffer'); decode it in place, without a copy.
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      this.#handlers.onBadFrame(this, `unparseable ${isBinary ? 'binary' : 'text'} frame (${String(text.length)} chars)`);
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.#handlers.onBadFrame(this, `frame is JSON but not an object (${Array.isArray(msg) ? 'array' : typeof msg})`);
      return;
    }
    const obj = msg as Record<string, unknown>;
    if (!this.#open && obj.setupComplete !== undefined) callbacks.onmessage({ data: text });
    this.#handlers.onMessage(this, obj);
  }

  #onSocketClose(code: number, reason: string): void {
    this.#resolveClosed?.();
    if (this.#closing) return;
    const error = classifyClose(code, reason, this.#lastError, this.#open);
    if (!this.#open) {
      this.#failConnect?.(error);
      return;
    }
    this.#closing = true;
    this.#handlers.onClose(this, error, `code ${String(code)}${reason ? ` ${reason}` : ''}`);
  }

  #send(message: string): void {
    // ws drops sends on a closing socket; a send before open cannot happen (the SDK awaits onopen).
    if (this.#ws?.readyState !== WebSocket.OPEN) return;
    const extras = this.#setupExtras;
    if (extras && !this.#open) {
      // The setup message (the SDK's first): add the fields its config type cannot carry.
      const msg = JSON.parse(message) as { setup?: Record<string, unknown> };
      if (msg.setup) {
        Object.assign(msg.setup, extras);
        this.#setupExtras = undefined;
        message = JSON.stringify(msg);
      }
    }
    this.#ws.send(message);
  }

  sendAudio(base64: string, mimeType: string): void {
    if (this.isOpen) this.#session!.sendRealtimeInput({ audio: { data: base64, mimeType } });
  }

  sendActivityStart(): void {
    if (this.isOpen) this.#session!.sendRealtimeInput({ activityStart: {} });
  }

  sendActivityEnd(): void {
    if (this.isOpen) this.#session!.sendRealtimeInput({ activityEnd: {} });
  }

  /**
   * The conversation so far, on a link opened with historyConfig.initialHistoryInClientContent: one
   * clientContent of role-tagged turns with turnComplete true, before any realtime input. The server
   * takes it as context without answering it (SDK type HistoryConfig).
   */
  sendInitialHistory(turns: { role: 'user' | 'model'; text: string }[]): void {
    if (!this.isOpen || turns.length === 0) return;
    this.#session!.sendClientContent({ turns: turns.map((t) => ({ role: t.role, parts: [{ text: t.text }] })), turnComplete: true });
  }

  /** Answers the model's function calls, matched by id (LiveClientToolResponse). */
  sendToolResponse(responses: readonly ToolResponse[]): void {
    if (!this.isOpen) return;
    this.#session!.sendToolResponse({
      functionResponses: responses.map((r) => ({
        ...(r.id !== undefined ? { id: r.id } : {}),
        name: r.name,
        response: r.response,
        ...(r.scheduling !== undefined ? { scheduling: r.scheduling as FunctionResponseScheduling } : {}),
      })),
    });
  }

  /** Idempotent; resolves once the socket is closed (the close handshake is bounded by CLOSE_TIMEOUT_MS). */
  close(): Promise<void> {
    this.#closing = true;
    const ws = this.#ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) ws.close(1000);
    return this.#closed ?? Promise.resolve();
  }

  #terminate(): void {
    this.#closing = true;
    this.#ws?.terminate();
  }
}

/** The Gemini API answers a bad key with 400 API_KEY_INVALID or 403 PERMISSION_DENIED. */
const GEMINI_UPGRADE_CODES: UpgradeStatusCodes = { auth: [400, 401, 403], quota: [429] };

/** Maps a close (or a failed upgrade) to our error codes. */
export function classifyClose(code: number, reason: string, lastError: string, wasOpen: boolean): GatewayError {
  const status = upgradeStatusOf(lastError);
  if (status !== undefined) return new GatewayError(codeOfUpgradeStatus(status, GEMINI_UPGRADE_CODES), `gemini upgrade refused: HTTP ${String(status)}`);
  let errCode: ErrorCode;
  if (AUTH_REASON.test(reason)) errCode = 'GW_ERR_PROVIDER_AUTH';
  else if (QUOTA_REASON.test(reason)) errCode = 'GW_ERR_PROVIDER_QUOTA';
  else if (!wasOpen) errCode = 'GW_ERR_PROVIDER_CONNECT';
  else if (code === 1011 || code === 1007 || code === 1008 || code === 1013) errCode = 'GW_ERR_PROVIDER_REMOTE';
  else errCode = 'GW_ERR_PROVIDER_CLOSED';
  return new GatewayError(errCode, `gemini closed: code ${String(code)}${reason ? ` ${reason}` : ''}${lastError ? ` (${lastError})` : ''}`);
}

function abortError(signal: AbortSignal): GatewayError {
  const reason: unknown = signal.reason;
  const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
  return new GatewayError(timedOut ? 'GW_ERR_PROVIDER_TIMEOUT' : 'GW_ERR_PROVIDER_CONNECT', 'gemini connect aborted');
}
