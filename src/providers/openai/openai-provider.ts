/**
 * The OpenAI Realtime adapter (GA protocol) over the official SDK's WebSocket client. It connects,
 * encodes and decodes; breaker, metrics and retries live in the guard. G.711 callers talk to the
 * model in their own codec both ways, so their audio is never transcoded on our side.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import type { OpenAI } from 'openai';
import type { ClientOptions } from 'ws';
import { GatewayError } from '../../errors.js';
import type { AudioFormat } from '../../pipeline/frame.js';
import { openaiRealtimeWs, openaiSdk } from '../openai-sdk.js';
import type { Provider, ProviderConnectOptions, ProviderSession } from '../types.js';
import { OpenAIRealtimeSession } from './session.js';
import type { OpenAISettings } from './settings.js';
import { INPUT_FORMATS, chooseFormats } from './session-config.js';

export type OpenAIProviderConfig = OpenAISettings & { readonly instructions: string };

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

export class OpenAIRealtimeProvider implements Provider {
  readonly name = 'openai';
  readonly inputFormats: readonly AudioFormat[] = INPUT_FORMATS;
  readonly #config: OpenAIProviderConfig;
  #client: OpenAI | undefined;
  #tls: Promise<SecureContext> | undefined;

  constructor(config: OpenAIProviderConfig) {
    this.#config = config;
  }

  async preload(): Promise<void> {
    await Promise.all([openaiSdk(), openaiRealtimeWs()]);
  }

  async connect(options: ProviderConnectOptions): Promise<ProviderSession> {
    if (options.signal?.aborted) throw new GatewayError('GW_ERR_PROVIDER_CONNECT', 'openai connect aborted');
    const apiKey = this.#config.apiKey;
    if (!apiKey) throw new GatewayError('GW_ERR_PROVIDER_AUTH', 'OPENAI_API_KEY is not set');
    const formats = chooseFormats(options.inputFormat, options.callerFormat);
    const [secureContext, { OpenAI }, { OpenAIRealtimeWS }] = await Promise.all([this.#secureContext(), openaiSdk(), openaiRealtimeWs()]);
    if (options.signal?.aborted) throw new GatewayError('GW_ERR_PROVIDER_CONNECT', 'openai connect aborted');
    // The base URL is always passed so the SDK never falls back to reading the environment itself.
    this.#client ??= new OpenAI({ apiKey, baseURL: this.#config.baseUrl ?? DEFAULT_BASE_URL, organization: null, project: null, maxRetries: 0 });
    // The SDK dials as soon as it is constructed; the session attaches its listeners before any I/O.
    // ws hands its options on to tls.connect, which honours a ready secureContext; a bare `ca` would
    // parse the whole root store again on every connect (about 2 MB and a few ms per call).
    // No permessage-deflate offer (ws offers it by default): were a server to accept it, each socket
    // would keep a zlib deflate and inflate context (~300 KiB per call, issue 16) to squeeze base64
    // audio that barely compresses, and spend CPU on every frame both ways.
    const wsOptions: ClientOptions & { secureContext?: SecureContext } = { perMessageDeflate: false, ...(secureContext ? { secureContext } : {}) };
    const rt = new OpenAIRealtimeWS({ model: this.#config.model, options: wsOptions }, this.#client);
    const session = new OpenAIRealtimeSession(rt, {
      apiKey,
      input: formats.input,
      output: formats.output,
      instructions: options.instructions ?? this.#config.instructions,
      voice: this.#config.voice,
      turnDetection: this.#config.turnDetection,
      endCallTool: this.#config.endCallTool,
      history: options.history,
      logger: options.logger.child({ provider: this.name }),
    });
    await session.opened(options.signal);
    return session;
  }

  /** The default roots plus OPENAI_CA_FILE (a TLS-inspecting proxy, or a test server), built once. */
  #secureContext(): Promise<SecureContext> | undefined {
    const file = this.#config.caFile;
    if (!file) return undefined;
    this.#tls ??= readFile(file, 'utf8').then(
      (pem) => createSecureContext({ ca: [...rootCertificates, pem] }),
      (err: unknown) => {
        this.#tls = undefined;
        throw new GatewayError('GW_ERR_CONFIG_INVALID', `OPENAI_CA_FILE cannot be read: ${(err as Error).message}`, { cause: err });
      },
    );
    return this.#tls;
  }
}
