/**
 * The one place that reaches inside @google/genai: its Live client's socket factory, a `private
 * readonly webSocketFactory` field (2.32.0, dist/node/index.mjs, class Live). Reaching the API (or a
 * loopback fake) needs no hook: the documented `httpOptions.baseUrl` and `apiVersion` do that. The hook
 * is kept for what no documented option offers (see live-link.ts): parsing each frame once so a bad
 * frame cannot become an unhandled rejection (the SDK runs `void handleWebSocketMessage(...)`, whose
 * JSON.parse throws into nothing), failing a connect that the SDK would leave pending forever (a close
 * before setupComplete), and keeping the keyed URL out of every log.
 *
 * Because the field is private, the SDK must be pinned exactly (package.json: "@google/genai":
 * "2.32.0"), and test/providers/gemini.test.ts checks the shape below against the installed SDK: if
 * an upgrade renames or reshapes it, that test fails loudly, and so does every connect (never silently).
 */
import type { GoogleGenAI } from '@google/genai';
import { GatewayError } from '../../errors.js';

/** The SDK version this hook was read against. */
export const GENAI_SDK_VERSION_HOOKED = '2.32.0';

/** What the SDK hands its socket factory (its WebSocketCallbacks type is not exported). */
export interface SdkSocketCallbacks {
  onopen: () => void;
  onmessage: (e: { data: string }) => void;
  onerror: (e: unknown) => void;
  onclose: (e: unknown) => void;
}

/** What the SDK expects back (its WebSocket interface: connect, send, close). */
export interface SdkSocket {
  connect(): void;
  send(message: string): void;
  close(): void;
}

export interface SdkSocketFactory {
  create(url: string, headers: Record<string, string>, callbacks: SdkSocketCallbacks): SdkSocket;
}

/** Replace the Live client's socket factory; throws GW_ERR_PROVIDER_CONNECT if the SDK changed shape. */
export function hookLiveSocket(ai: GoogleGenAI, factory: SdkSocketFactory): void {
  const live = ai.live as unknown as { webSocketFactory?: { create?: unknown } };
  if (typeof live.webSocketFactory !== 'object' || live.webSocketFactory === null || typeof live.webSocketFactory.create !== 'function') {
    throw new GatewayError(
      'GW_ERR_PROVIDER_CONNECT',
      `gemini: the installed @google/genai no longer has live.webSocketFactory.create (hooked against ${GENAI_SDK_VERSION_HOOKED}); pin it or update src/providers/gemini/sdk-socket-hook.ts`,
    );
  }
  (live as { webSocketFactory: SdkSocketFactory }).webSocketFactory = factory;
}
