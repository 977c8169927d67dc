/**
 * The cascade's language model: streaming chat completions through the official `openai` SDK, so
 * OpenAI and any OpenAI-compatible server (LLM_BASE_URL) work alike. The conversation is sent as
 * messages (ASSISTANT_INSTRUCTIONS as the system message, then the history, then the caller's turn)
 * and the reply comes back as text deltas while the model writes. With END_CALL_TOOL the model gets
 * the same `end_call` function the realtime adapters declare; its call arrives as streamed tool-call
 * deltas and is passed on once the stream ends.
 *
 * No retries here (maxRetries 0): failover is the program's one retry layer.
 */
import type { OpenAI } from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { GatewayError, isGatewayError } from '../../errors.js';
import { lazyImport } from '../../util/lazy-import.js';
import { openaiSdk, type OpenAISdk } from '../openai-sdk.js';
import type { Responder, ResponderChunk, ResponderInput } from '../deepgram/responder.js';
import { END_CALL_NAME, endCallReason } from '../deepgram/end-call.js';

export interface ChatResponderConfig {
  /** OpenAI when unset. */
  readonly baseUrl?: string;
  readonly apiKey?: string;
  readonly model: string;
  readonly instructions: string;
  readonly endCallTool?: boolean;
  readonly timeoutMs?: number;
}

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

const END_CALL_TOOL: ChatCompletionTool = {
  type: 'function',
  function: {
    name: END_CALL_NAME,
    description: 'End the phone call. Call this only after you have said goodbye, when the caller is done or asks to hang up.',
    parameters: { type: 'object', properties: { reason: { type: 'string', description: 'Why the call ends, in a few words.' } }, additionalProperties: false },
  },
};

export function chatMessages(input: ResponderInput, instructions: string): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = [{ role: 'system', content: input.instructions ?? instructions }];
  for (const turn of input.history) messages.push({ role: turn.role, content: turn.text });
  messages.push({ role: 'user', content: input.transcript });
  return messages;
}

/** The SDK's typed errors (classes of `sdk`), as ours: a refused key and an exhausted quota open the breaker at once. */
export function llmError(err: unknown, sdk: OpenAISdk): GatewayError {
  if (isGatewayError(err)) return err;
  const { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } = sdk;
  if (err instanceof APIUserAbortError) return new GatewayError('GW_ERR_PROVIDER_CONNECT', 'llm request aborted', { cause: err });
  if (err instanceof APIConnectionTimeoutError) return new GatewayError('GW_ERR_PROVIDER_TIMEOUT', 'llm did not answer in time', { cause: err });
  if (err instanceof APIConnectionError) return new GatewayError('GW_ERR_PROVIDER_CONNECT', `llm: ${err.message}`, { cause: err });
  if (err instanceof APIError) {
    const status = err.status;
    if (status === 401 || status === 403) return new GatewayError('GW_ERR_PROVIDER_AUTH', `llm: HTTP ${String(status)}`, { cause: err });
    // 429 is both "rate limited" and "insufficient_quota" (OpenAI error codes guide); neither is fixed by trying again now.
    if (status === 429 || status === 402) return new GatewayError('GW_ERR_PROVIDER_QUOTA', `llm: HTTP ${String(status)}${err.code ? ` ${err.code}` : ''}`, { cause: err });
    return new GatewayError('GW_ERR_PROVIDER_REMOTE', `llm: ${status === undefined ? '' : `HTTP ${String(status)} `}${err.message}`, { cause: err });
  }
  return new GatewayError('GW_ERR_PROVIDER_REMOTE', `llm: ${(err as Error).message}`, { cause: err });
}

export class ChatResponder implements Responder {
  readonly #config: ChatResponderConfig;
  /** Made once the SDK is imported (at the provider's preload, or the first turn). */
  readonly #client: () => Promise<OpenAI>;

  constructor(config: ChatResponderConfig) {
    this.#config = config;
    // The base URL and key are always passed, so the SDK never reads the environment itself. A local
    // OpenAI-compatible server may take no key; the SDK insists on one, so a placeholder is sent.
    this.#client = lazyImport(async () => {
      const { OpenAI } = await openaiSdk();
      return new OpenAI({
        apiKey: config.apiKey ?? 'no-key',
        baseURL: config.baseUrl ?? DEFAULT_BASE_URL,
        organization: null,
        project: null,
        maxRetries: 0,
        timeout: config.timeoutMs ?? 30_000,
      });
    });
  }

  async preload(): Promise<void> {
    await this.#client();
  }

  async *respond(input: ResponderInput, opts: { signal: AbortSignal }): AsyncIterable<ResponderChunk> {
    const tools = this.#config.endCallTool ? [END_CALL_TOOL] : undefined;
    const calls = new Map<number, { name: string; args: string }>();
    const client = await this.#client();
    try {
      const stream = await client.chat.completions.create(
        { model: this.#config.model, messages: chatMessages(input, this.#config.instructions), stream: true, ...(tools ? { tools } : {}) },
        { signal: opts.signal },
      );
      for await (const chunk of stream) {
        // Chunks parsed from the same read as the last one are already buffered: an abort (a barge-in)
        // must stop the text here, not when the socket teardown catches up.
        if (opts.signal.aborted) break;
        const delta = chunk.choices[0]?.delta;
        if (!delta) continue;
        if (typeof delta.content === 'string' && delta.content !== '') yield { type: 'text', text: delta.content };
        for (const tc of delta.tool_calls ?? []) {
          const call = calls.get(tc.index) ?? { name: '', args: '' };
          if (tc.function?.name) call.name += tc.function.name;
          if (tc.function?.arguments) call.args += tc.function.arguments;
          calls.set(tc.index, call);
        }
      }
    } catch (err) {
      if (opts.signal.aborted) throw opts.signal.reason as Error;
      throw llmError(err, await openaiSdk());
    }
    if (opts.signal.aborted) throw opts.signal.reason as Error;
    for (const call of calls.values()) {
      if (call.name === END_CALL_NAME && tools) yield { type: 'endCall', reason: endCallReason(call.args) };
      else throw new GatewayError('GW_ERR_PROVIDER_PROTOCOL', `llm called a function we did not declare: ${call.name.slice(0, 60)}`);
    }
  }
}
