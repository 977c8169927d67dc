/**
 * A loopback OpenAI-compatible `POST /v1/chat/completions` with `stream: true`, recording requests.
 * Rules from OpenAI's API reference (and the `openai` SDK's ChatCompletionCreateParams / ChatCompletionChunk types):
 * - `Authorization: Bearer KEY`, else 401 `{error: {type: 'invalid_request_error', code: 'invalid_api_key'}}`.
 * - `model` (string) and a non-empty `messages` array of `{role, content}` with a known role are
 *   required, else 400 (https://platform.openai.com/docs/api-reference/chat/create).
 * - Streamed answers are Server-Sent Events: `data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{...}}]}`
 *   and a final `data: [DONE]` (https://platform.openai.com/docs/api-reference/chat-streaming).
 * - Tool calls stream as `delta.tool_calls[{index, id, type:'function', function:{name, arguments}}]`,
 *   finish_reason `tool_calls`.
 * Faults: any status with OpenAI's error body (429 insufficient_quota), a fixed delay before the first token.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ChatFakeOptions {
  apiKey: string;
  /** The reply text for a request, streamed in `chunkChars` pieces. */
  reply?: (messages: { role: string; content: string }[]) => string;
  chunkChars?: number;
  /** Delay before the first chunk (model time to first token) and between chunks. */
  firstTokenMs?: number;
  chunkDelayMs?: number;
  /** Answer with this status and OpenAI's error body. */
  failStatus?: number;
  /** A user message containing this word makes the model call end_call (if offered) after its reply. */
  endCallOn?: string;
}

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool'];

export class ChatCompletionsFake {
  readonly options: ChatFakeOptions;
  readonly requests: Record<string, unknown>[] = [];
  /** Requests whose stream the client aborted before the end. */
  aborted = 0;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #port = 0;

  private constructor(options: ChatFakeOptions) {
    this.options = options;
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
  }

  static async start(options: ChatFakeOptions): Promise<ChatCompletionsFake> {
    const fake = new ChatCompletionsFake(options);
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    const addr = fake.#server.address();
    fake.#port = typeof addr === 'object' && addr ? addr.port : 0;
    return fake;
  }

  /** What LLM_BASE_URL should be. */
  get url(): string {
    return `http://127.0.0.1:${String(this.#port)}/v1`;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const fail = (status: number, code: string, message: string) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message, type: status === 429 ? 'insufficient_quota' : 'invalid_request_error', code } }));
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return void fail(404, 'not_found', 'unknown route');
    if (req.headers.authorization !== `Bearer ${this.options.apiKey}`) return void fail(401, 'invalid_api_key', 'Incorrect API key provided');
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      return void fail(400, 'invalid_json', 'We could not parse the JSON body of your request.');
    }
    this.requests.push(body);
    const messages = body.messages as { role?: unknown; content?: unknown }[] | undefined;
    if (typeof body.model !== 'string' || body.model === '') return void fail(400, 'missing_model', 'you must provide a model parameter');
    if (!Array.isArray(messages) || messages.length === 0) return void fail(400, 'invalid_messages', "'messages' must be a non-empty array");
    for (const m of messages) {
      if (!ROLES.includes(String(m.role)) || typeof m.content !== 'string') return void fail(400, 'invalid_messages', 'bad message');
    }
    if (this.options.failStatus) return void fail(this.options.failStatus, this.options.failStatus === 429 ? 'insufficient_quota' : 'server_error', 'fake failure');
    if (body.stream !== true) return void fail(400, 'stream_required', 'this fake only streams');
    const msgs = messages as { role: string; content: string }[];
    const text = this.options.reply ? this.options.reply(msgs) : 'Hello there. How can I help?';
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let closed = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        closed = true;
        this.aborted++;
      }
    });
    const sse = (delta: Record<string, unknown>, finish: string | null = null) =>
      res.write(`data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 0, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    if (this.options.firstTokenMs) await sleep(this.options.firstTokenMs);
    sse({ role: 'assistant', content: '' });
    const step = this.options.chunkChars ?? 6;
    for (let i = 0; i < text.length && !closed; i += step) {
      sse({ content: text.slice(i, i + step) });
      if (this.options.chunkDelayMs) await sleep(this.options.chunkDelayMs);
    }
    if (closed) return;
    const lastUser = msgs.filter((m) => m.role === 'user').at(-1)?.content ?? '';
    const tools = (body.tools as { function?: { name?: string } }[] | undefined) ?? [];
    if (this.options.endCallOn && lastUser.includes(this.options.endCallOn) && tools.some((t) => t.function?.name === 'end_call')) {
      sse({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'end_call', arguments: '' } }] });
      sse({ tool_calls: [{ index: 0, function: { arguments: '{"reason":"bye"}' } }] });
      sse({}, 'tool_calls');
    } else sse({}, 'stop');
    res.end('data: [DONE]\n\n');
  }
}
