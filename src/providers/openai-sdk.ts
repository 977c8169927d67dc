/**
 * The official `openai` SDK, which two providers use: `openai` (Realtime over its WebSocket client)
 * and `deepgram-cascade` (its language model's chat completions). Imported at start-up when PROVIDERS
 * names one of them (Provider.preload), never otherwise: about 0.15 s of CPU that a gateway on other
 * providers does not spend (src/util/lazy-import.ts says why it matters).
 */
import { lazyImport } from '../util/lazy-import.js';

export const openaiSdk = lazyImport(() => import('openai'));
export const openaiRealtimeWs = lazyImport(() => import('openai/realtime/ws'));

export type OpenAISdk = Awaited<ReturnType<typeof openaiSdk>>;
