/**
 * A loopback OpenAI Realtime server (GA protocol) for tests and benchmarks: HTTPS + WebSocket on port 0
 * at `/v1/realtime`, with a certificate made at start-up (the SDK always dials wss). It checks the
 * bearer key, answers the session handshake, records every client message, keeps the appended audio,
 * and answers a committed turn (or, in server-VAD mode, a burst of audio energy followed by silence)
 * with a reply in the session's output format: by default the committed audio itself, so an end-to-end
 * test can check that what came back is what was said. Faults are switched on per test, at any time.
 * Test tool only: nothing under src imports it.
 *
 * What it accepts is what the real service accepts, each rule cited next to it (openai-node 6.x
 * `resources/realtime/realtime.d.ts` is "the SDK types" below): a fake that accepts anything proves
 * nothing about the adapter.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { createTestCertificate, type TestCertificate } from './tls.js';

export interface RealtimeFakeFaults {
  /** Drop every TCP connection as soon as it is made. */
  refuse?: boolean;
  /** Answer the WebSocket upgrade with this HTTP status (401, 429, 500, ...). */
  upgradeStatus?: number;
  /** Never answer: the upgrade, the session handshake (no session.created), or response.create. */
  hang?: 'upgrade' | 'session' | 'response';
  /** Close the socket (1011) after this many audio deltas of a reply. */
  closeAfterDeltas?: number;
  /** Before each reply: a text frame that is not JSON and a binary garbage frame. */
  garbage?: boolean;
  /** Before each reply: an event type the protocol does not have. */
  unknownEvent?: boolean;
  /** Before each reply: an audio delta for a response that was never created. */
  strayDelta?: boolean;
  /** Answer response.create with this `error` event instead of a reply. */
  errorEvent?: { type: string; code?: string; message: string };
  /** Corrupt the first audio delta of each reply. */
  badAudio?: 'not-base64' | 'odd-bytes';
  /** Report this output format in session.updated instead of the one asked for. */
  sessionOutputFormat?: { type: string; rate?: number };
  /** Keep streaming a reply after response.cancel (deltas that were already in flight). */
  ignoreCancel?: boolean;
}

export interface RealtimeFakeOptions {
  /** The key the fake accepts. */
  apiKey?: string;
  /**
   * How a wrong key is refused: HTTP 401 on the upgrade (default), an `error` event then close, or a bare
   * close 3000 `invalid_api_key` with no error event first (seen in production).
   */
  rejectKeyWith?: 'http' | 'event' | 'close3000';
  /** How long the server takes to finish a cancelled response (its response.done); default 20 ms. */
  cancelDoneDelayMs?: number;
  /** Wait before a reply starts (model thinking time). */
  replyDelayMs?: number;
  /** Audio per delta. */
  chunkMs?: number;
  /** Wait between response.created and the first audio delta. */
  audioDelayMs?: number;
  /** Wait between deltas (0: all at once). */
  chunkIntervalMs?: number;
  /** Reply audio: the committed turn itself (default) or a tone of this length. */
  reply?: 'echo' | { toneMs: number };
  replyTranscript?: string;
  userTranscript?: string;
  /** After each reply's audio, call this function, as a model does, if the session declared it. */
  callFunction?: { name: string; arguments: string; beforeAudio?: boolean };
  faults?: RealtimeFakeFaults;
}

export interface ClientMessage {
  readonly type: string;
  readonly [key: string]: unknown;
}

interface WireFormat {
  type: string;
  rate?: number;
}

interface Reply {
  readonly id: string;
  readonly itemId: string;
  cancelled: boolean;
  /** response.done sent: the response is no longer active. */
  done: boolean;
}

/**
 * Models the API no longer serves: "At the time of the shut down, the model or endpoint will no longer
 * be accessible" (developers.openai.com/api/docs/deprecations; gpt-4o-realtime-preview-2024-10-01 is
 * listed there as shut down).
 */
export const RETIRED_REALTIME_MODELS: ReadonlySet<string> = new Set(['gpt-4o-realtime-preview-2024-10-01']);

/**
 * The fields `session.update` may carry, from the SDK types (RealtimeSessionCreateRequest,
 * RealtimeAudioConfig, RealtimeAudioConfigInput, RealtimeAudioConfigOutput). The server rejects an
 * unknown parameter with an invalid_request_error (`unknown_parameter`) and keeps the session as it was.
 */
const SESSION_FIELDS = new Set(['type', 'audio', 'include', 'instructions', 'max_output_tokens', 'model', 'output_modalities', 'parallel_tool_calls', 'prompt', 'reasoning', 'tool_choice', 'tools', 'tracing', 'truncation']);
const AUDIO_FIELDS = new Set(['input', 'output']);
const AUDIO_INPUT_FIELDS = new Set(['format', 'noise_reduction', 'transcription', 'turn_detection']);
const AUDIO_OUTPUT_FIELDS = new Set(['format', 'speed', 'voice']);

function unknownSessionField(session: Record<string, unknown>): string | undefined {
  const check = (obj: unknown, allowed: Set<string>, path: string): string | undefined => {
    if (typeof obj !== 'object' || obj === null) return undefined;
    for (const k of Object.keys(obj)) if (!allowed.has(k)) return `${path}.${k}`;
    return undefined;
  };
  const audio = session.audio as { input?: unknown; output?: unknown } | undefined;
  return check(session, SESSION_FIELDS, 'session') ?? check(audio, AUDIO_FIELDS, 'session.audio') ?? check(audio?.input, AUDIO_INPUT_FIELDS, 'session.audio.input') ?? check(audio?.output, AUDIO_OUTPUT_FIELDS, 'session.audio.output');
}

type Send = (event: Record<string, unknown>) => void;

export const FAKE_OPENAI_KEY = 'sk-test-fake-openai-0123456789abcdef';

export class OpenAIRealtimeFake {
  readonly messages: ClientMessage[] = [];
  /** Every JSON event the fake sent, over all connections. */
  readonly sent: Record<string, unknown>[] = [];
  readonly connections: FakeConnection[] = [];
  /**
   * Every upgrade attempt: path, model, whether the key was right, and the WebSocket extensions the
   * client offered (its Sec-WebSocket-Extensions header, RFC 6455 section 9.1), e.g. permessage-deflate.
   */
  readonly handshakes: { path: string; model: string | null; authorized: boolean; extensions?: string }[] = [];
  readonly options: RealtimeFakeOptions;
  faults: RealtimeFakeFaults;
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #cert: TestCertificate;
  readonly #sockets = new Set<Socket>();
  readonly #waiters = new Set<() => void>();
  #port = 0;

  private constructor(server: Server, cert: TestCertificate, options: RealtimeFakeOptions) {
    this.#server = server;
    this.#cert = cert;
    this.options = options;
    this.faults = { ...options.faults };
  }

  static async start(options: RealtimeFakeOptions = {}): Promise<OpenAIRealtimeFake> {
    const cert = await createTestCertificate();
    const server = createServer({ key: cert.key, cert: cert.cert }, (_req, res) => res.writeHead(404).end());
    const fake = new OpenAIRealtimeFake(server, cert, options);
    server.on('connection', (socket: Socket) => fake.#onTcp(socket));
    server.on('upgrade', (req, socket, head) => fake.#onUpgrade(req, socket as Socket, head));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    fake.#port = typeof addr === 'object' && addr ? addr.port : 0;
    return fake;
  }

  get port(): number {
    return this.#port;
  }

  /** What OPENAI_BASE_URL should be: the SDK appends `/realtime` and switches the scheme to wss. */
  get baseUrl(): string {
    return `https://127.0.0.1:${String(this.#port)}/v1`;
  }

  /** The certificate to trust (OPENAI_CA_FILE). */
  get caFile(): string {
    return this.#cert.certFile;
  }

  get apiKey(): string {
    return this.options.apiKey ?? FAKE_OPENAI_KEY;
  }

  received(type: string): ClientMessage[] {
    return this.messages.filter((m) => m.type === type);
  }

  /** Resolves once `count` client messages of `type` have arrived. */
  waitFor(type: string, count = 1, timeoutMs = 5000): Promise<ClientMessage[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const got = this.received(type);
        if (got.length < count) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(got);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`fake: ${String(count)} x '${type}' not received within ${String(timeoutMs)} ms (got ${String(this.received(type).length)})`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** Every byte of audio the client appended, over all connections. */
  appendedAudio(): Buffer {
    return Buffer.concat(this.connections.flatMap((c) => c.appended));
  }

  /** Send an event (or a raw frame) to every open connection. */
  sendEvent(event: Record<string, unknown>): void {
    for (const c of this.connections) c.send(event);
  }

  sendRaw(data: string | Buffer): void {
    for (const c of this.connections) if (c.ws.readyState === WebSocket.OPEN) c.ws.send(data);
  }

  /** Close every client connection from the server side. */
  closeClients(code = 1011, reason = 'fake: closed by the server'): void {
    for (const c of this.connections) if (c.ws.readyState === WebSocket.OPEN) c.ws.close(code, reason);
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.dispose();
    for (const ws of this.#wss.clients) ws.terminate();
    this.#wss.close();
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await this.#cert.dispose();
  }

  #record(msg: ClientMessage, conn: FakeConnection): void {
    this.messages.push(msg);
    conn.messages.push(msg);
    for (const w of [...this.#waiters]) w();
  }

  #onTcp(socket: Socket): void {
    if (this.faults.refuse) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'https://fake');
    const authorized = req.headers.authorization === `Bearer ${this.apiKey}`;
    const extensions = req.headers['sec-websocket-extensions'];
    this.handshakes.push({ path: url.pathname, model: url.searchParams.get('model'), authorized, ...(extensions === undefined ? {} : { extensions }) });
    if (this.faults.hang === 'upgrade') return;
    const refuse = (status: number, message: string) => {
      const body = JSON.stringify({ error: { message, type: 'invalid_request_error', code: status === 401 ? 'invalid_api_key' : null } });
      socket.end(`HTTP/1.1 ${String(status)} Refused\r\nContent-Type: application/json\r\nContent-Length: ${String(Buffer.byteLength(body))}\r\nConnection: close\r\n\r\n${body}`);
    };
    if (url.pathname !== '/v1/realtime') return refuse(404, `no route ${url.pathname}`);
    if (!url.searchParams.get('model')) return refuse(400, 'missing model');
    if (RETIRED_REALTIME_MODELS.has(url.searchParams.get('model') ?? '')) return refuse(404, `The model '${String(url.searchParams.get('model'))}' does not exist or you do not have access to it.`);
    if (this.faults.upgradeStatus) return refuse(this.faults.upgradeStatus, 'fault injected');
    if (!authorized && (this.options.rejectKeyWith ?? 'http') === 'http') return refuse(401, `Incorrect API key provided: ${String(req.headers.authorization)}`);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new FakeConnection(ws, this, (msg) => this.#record(msg, conn));
      this.connections.push(conn);
      if (!authorized && this.options.rejectKeyWith === 'close3000') {
        ws.close(3000, 'invalid_api_key');
        return;
      }
      if (!authorized) {
        conn.send({ type: 'error', event_id: randomUUID(), error: { type: 'invalid_request_error', code: 'invalid_api_key', message: `Incorrect API key provided: ${String(req.headers.authorization)}` } });
        ws.close(1008, 'invalid_api_key');
        return;
      }
      if (this.faults.hang !== 'session') conn.send({ type: 'session.created', event_id: randomUUID(), session: { type: 'realtime', id: `sess_${randomUUID()}`, object: 'realtime.session' } });
    });
  }
}

/** One client connection's state: session config, input buffer, replies in progress. */
class FakeConnection {
  readonly messages: ClientMessage[] = [];
  readonly appended: Buffer[] = [];
  readonly ws: WebSocket;
  session: Record<string, unknown> = { type: 'realtime' };
  readonly #fake: OpenAIRealtimeFake;
  readonly #record: (msg: ClientMessage) => void;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Audio sent per assistant item, in ms: what truncate may cut. */
  readonly #itemAudioMs = new Map<string, number>();
  #buffer: Buffer[] = [];
  #lastTurn: Buffer | undefined;
  #reply: Reply | undefined;
  #lastItemId: string | null = null;
  #n = 0;
  #vad = { speaking: false, quietMs: 0, clockMs: 0, itemId: '' };

  constructor(ws: WebSocket, fake: OpenAIRealtimeFake, record: (msg: ClientMessage) => void) {
    this.ws = ws;
    this.#fake = fake;
    this.#record = record;
    ws.on('message', (data: RawData, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on('close', () => this.dispose());
  }

  send: Send = (event) => {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.#fake.sent.push(event);
    this.ws.send(JSON.stringify(event));
  };

  dispose(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    if (this.#reply) this.#reply.cancelled = true;
  }

  get #inFormat(): WireFormat {
    return ((this.session.audio as { input?: { format?: WireFormat } } | undefined)?.input?.format) ?? { type: 'audio/pcm', rate: 24000 };
  }

  get #outFormat(): WireFormat {
    return ((this.session.audio as { output?: { format?: WireFormat } } | undefined)?.output?.format) ?? { type: 'audio/pcm', rate: 24000 };
  }

  get #turnDetection(): { type: string; silence_duration_ms?: number; create_response?: boolean; interrupt_response?: boolean } | null {
    return ((this.session.audio as { input?: { turn_detection?: null | { type: string } } } | undefined)?.input?.turn_detection) ?? null;
  }

  #error(code: string, message: string): void {
    this.send({ type: 'error', event_id: randomUUID(), error: { type: 'invalid_request_error', code, message } });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, ms);
      this.#timers.add(t);
    });
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    let msg: ClientMessage;
    try {
      if (isBinary) throw new Error('binary');
      msg = JSON.parse(data.toString()) as ClientMessage;
    } catch {
      this.#error('invalid_json', 'client sent a frame that is not JSON');
      return;
    }
    this.#record(msg);
    switch (msg.type) {
      case 'session.update':
        return this.#onSessionUpdate(msg.session as Record<string, unknown> | undefined);
      case 'input_audio_buffer.append':
        return this.#onAppend(Buffer.from(String(msg.audio), 'base64'));
      case 'input_audio_buffer.commit':
        if (this.#buffer.length === 0) return this.#error('input_audio_buffer_commit_empty', 'buffer is empty');
        return this.#commit();
      case 'input_audio_buffer.clear':
        this.#buffer = [];
        return this.send({ type: 'input_audio_buffer.cleared', event_id: randomUUID() });
      case 'conversation.item.create': {
        const item = { ...(msg.item as Record<string, unknown>), id: `item_${randomUUID()}`, status: 'completed' };
        this.send({ type: 'conversation.item.added', event_id: randomUUID(), previous_item_id: this.#lastItemId, item });
        this.send({ type: 'conversation.item.done', event_id: randomUUID(), previous_item_id: this.#lastItemId, item });
        this.#lastItemId = item.id;
        return;
      }
      case 'response.create':
        // "Only one Response can write to the default Conversation at a time" (SDK types,
        // ResponseCreateEvent): until the active one's response.done, even after its cancel.
        if (this.#reply && !this.#reply.done) return this.#error('conversation_already_has_active_response', 'Conversation already has an active response in progress');
        void this.#respond();
        return;
      case 'response.cancel':
        return this.#onCancel(msg.response_id as string | undefined);
      case 'conversation.item.truncate':
        return this.#onTruncate(msg);
      default:
        this.#error('invalid_value', `Invalid value: '${String(msg.type)}'`);
    }
  }

  /** The model calls the configured function, if the session declared it (a real server calls only those). */
  #callFunction(responseId: string): void {
    const fn = this.#fake.options.callFunction;
    const declared = (this.session as { tools?: { name?: string }[] }).tools ?? [];
    if (!fn || !declared.some((t) => t.name === fn.name)) return;
    this.send({ type: 'response.function_call_arguments.done', event_id: randomUUID(), response_id: responseId, item_id: `item_${randomUUID()}`, output_index: 1, call_id: `call_${randomUUID()}`, name: fn.name, arguments: fn.arguments });
  }

  #onSessionUpdate(session: Record<string, unknown> | undefined): void {
    if (!session || session.type !== 'realtime') return this.#error('missing_required_parameter', "Missing required parameter: 'session.type'.");
    const unknown = unknownSessionField(session);
    if (unknown) return this.#error('unknown_parameter', `Unknown parameter: '${unknown}'.`);
    this.session = { ...this.session, ...session };
    const echoed = structuredClone(this.session) as { audio?: { output?: { format?: unknown } } };
    const forced = this.#fake.faults.sessionOutputFormat;
    if (forced) echoed.audio = { ...echoed.audio, output: { ...echoed.audio?.output, format: forced } };
    this.send({ type: 'session.updated', event_id: randomUUID(), session: echoed });
  }

  #onAppend(bytes: Buffer): void {
    this.appended.push(bytes);
    this.#buffer.push(bytes);
    const td = this.#turnDetection;
    if (!td) return;
    // Server VAD: loud audio starts speech; this much quiet after it ends the turn.
    const { pcm, rate } = toPcm(bytes, this.#inFormat);
    const ms = (pcm.length * 1000) / rate;
    const loud = rmsOf(pcm) > 500;
    const v = this.#vad;
    v.clockMs += ms;
    if (!v.speaking && loud) {
      v.speaking = true;
      v.quietMs = 0;
      v.itemId = `item_${randomUUID()}`;
      this.send({ type: 'input_audio_buffer.speech_started', event_id: randomUUID(), audio_start_ms: Math.round(v.clockMs - ms), item_id: v.itemId });
      if (this.#reply && !this.#reply.cancelled && td.interrupt_response !== false) this.#onCancel(this.#reply.id);
    } else if (v.speaking) {
      v.quietMs = loud ? 0 : v.quietMs + ms;
      if (v.quietMs >= (td.silence_duration_ms ?? 500)) {
        v.speaking = false;
        this.send({ type: 'input_audio_buffer.speech_stopped', event_id: randomUUID(), audio_end_ms: Math.round(v.clockMs), item_id: v.itemId });
        this.#commit(v.itemId);
        if (td.create_response !== false) void this.#respond();
      }
    }
  }

  #commit(itemId = `item_${randomUUID()}`): void {
    this.#lastTurn = Buffer.concat(this.#buffer);
    this.#buffer = [];
    this.send({ type: 'input_audio_buffer.committed', event_id: randomUUID(), previous_item_id: this.#lastItemId, item_id: itemId });
    this.#lastItemId = itemId;
    const transcription = (this.session.audio as { input?: { transcription?: unknown } } | undefined)?.input?.transcription;
    if (transcription) {
      const transcript = this.#fake.options.userTranscript ?? 'hello from the caller';
      this.send({ type: 'conversation.item.input_audio_transcription.completed', event_id: randomUUID(), item_id: itemId, content_index: 0, transcript });
    }
  }

  #onCancel(responseId: string | undefined): void {
    const reply = this.#reply;
    if (!reply || reply.cancelled || reply.done || (responseId !== undefined && responseId !== reply.id)) {
      return this.#error('response_cancel_not_active', 'Cancellation failed: no active response found');
    }
    if (this.#fake.faults.ignoreCancel) return;
    reply.cancelled = true;
    // "The server will respond with a response.done event with a status of cancelled" (SDK types,
    // ResponseCancelEvent); until then the response is still the active one.
    void this.#sleep(this.#fake.options.cancelDoneDelayMs ?? 20).then(() => {
      if (reply.done) return;
      reply.done = true;
      this.send({ type: 'response.done', event_id: randomUUID(), response: { id: reply.id, object: 'realtime.response', status: 'cancelled', status_details: { type: 'cancelled', reason: 'client_cancelled' }, output: [] } });
    });
  }

  #onTruncate(msg: ClientMessage): void {
    const itemId = String(msg.item_id);
    const sent = this.#itemAudioMs.get(itemId);
    if (sent === undefined) return this.#error('item_truncate_invalid_item_id', `Item ${itemId} has no audio to truncate`);
    const end = Number(msg.audio_end_ms);
    if (!Number.isInteger(end) || end < 0 || end > sent) return this.#error('invalid_value', `audio_end_ms ${String(msg.audio_end_ms)} is beyond the ${String(sent)} ms of audio`);
    this.send({ type: 'conversation.item.truncated', event_id: randomUUID(), item_id: itemId, content_index: msg.content_index, audio_end_ms: end });
  }

  async #respond(): Promise<void> {
    const { faults, options } = { faults: this.#fake.faults, options: this.#fake.options };
    if (faults.hang === 'response') return;
    if (faults.errorEvent) return this.send({ type: 'error', event_id: randomUUID(), error: faults.errorEvent });
    // A server-VAD turn may start a response while an older one is still finishing its cancel.
    if (this.#reply && !this.#reply.done) this.#reply.done = true;
    const n = ++this.#n;
    const reply: Reply = { id: `resp_${String(n)}_${randomUUID().slice(0, 8)}`, itemId: `item_out_${String(n)}`, cancelled: false, done: false };
    this.#reply = reply;
    if (options.replyDelayMs) await this.#sleep(options.replyDelayMs);
    if (reply.cancelled) return;
    if (faults.garbage) {
      this.ws.send('{"type": "response.output_audio.delta", oops');
      this.ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    }
    if (faults.unknownEvent) this.send({ type: 'response.teleported', event_id: randomUUID() });
    const out = this.#outFormat;
    const bytesPerMs = (out.type === 'audio/pcm' ? 2 * (out.rate ?? 24000) : 8000) / 1000;
    if (faults.strayDelta) this.send({ type: 'response.output_audio.delta', event_id: randomUUID(), response_id: 'resp_never_created', item_id: 'item_stray', output_index: 0, content_index: 0, delta: Buffer.alloc(bytesPerMs * 20).toString('base64') });
    const item = { id: reply.itemId, object: 'realtime.item', type: 'message', role: 'assistant', status: 'in_progress', content: [] };
    const common = { response_id: reply.id, item_id: reply.itemId, output_index: 0, content_index: 0 };
    this.send({ type: 'response.created', event_id: randomUUID(), response: { id: reply.id, object: 'realtime.response', status: 'in_progress', output: [] } });
    this.send({ type: 'response.output_item.added', event_id: randomUUID(), response_id: reply.id, output_index: 0, item });
    this.send({ type: 'conversation.item.added', event_id: randomUUID(), previous_item_id: this.#lastItemId, item });
    this.#lastItemId = reply.itemId;
    this.send({ type: 'response.content_part.added', event_id: randomUUID(), ...common, part: { type: 'audio', transcript: '' } });
    if (options.callFunction?.beforeAudio) this.#callFunction(reply.id);
    if (options.audioDelayMs) await this.#sleep(options.audioDelayMs);
    const audio = options.reply && options.reply !== 'echo' ? tone(options.reply.toneMs, out) : convert(this.#lastTurn ?? Buffer.alloc(0), this.#inFormat, out);
    const chunkBytes = Math.max(2, Math.round((options.chunkMs ?? 100) * bytesPerMs) & ~1);
    const transcript = options.replyTranscript ?? 'you said something';
    this.#itemAudioMs.set(reply.itemId, 0);
    let deltas = 0;
    for (let at = 0; at < audio.length; at += chunkBytes) {
      if (reply.cancelled && !faults.ignoreCancel) return;
      if (this.ws.readyState !== WebSocket.OPEN) return;
      const chunk = audio.subarray(at, at + chunkBytes);
      let delta = chunk.toString('base64');
      if (deltas === 0 && faults.badAudio === 'not-base64') delta = '%%% not base64 %%%';
      if (deltas === 0 && faults.badAudio === 'odd-bytes') delta = chunk.subarray(0, 3).toString('base64');
      this.send({ type: 'response.output_audio.delta', event_id: randomUUID(), ...common, delta });
      this.#itemAudioMs.set(reply.itemId, (this.#itemAudioMs.get(reply.itemId) ?? 0) + chunk.length / bytesPerMs);
      deltas++;
      if (deltas === 1) this.send({ type: 'response.output_audio_transcript.delta', event_id: randomUUID(), ...common, delta: transcript.slice(0, Math.ceil(transcript.length / 2)) });
      if (faults.closeAfterDeltas !== undefined && deltas >= faults.closeAfterDeltas) {
        this.ws.close(1011, 'fake: closed mid-stream');
        return;
      }
      if (options.chunkIntervalMs) await this.#sleep(options.chunkIntervalMs);
    }
    if (reply.cancelled && !faults.ignoreCancel) return;
    this.send({ type: 'response.output_audio.done', event_id: randomUUID(), ...common });
    this.send({ type: 'response.output_audio_transcript.done', event_id: randomUUID(), ...common, transcript });
    this.send({ type: 'response.content_part.done', event_id: randomUUID(), ...common, part: { type: 'audio', transcript } });
    if (!options.callFunction?.beforeAudio) this.#callFunction(reply.id);
    this.send({ type: 'response.output_item.done', event_id: randomUUID(), response_id: reply.id, output_index: 0, item: { ...item, status: 'completed' } });
    if (reply.done) return;
    reply.done = true;
    this.send({ type: 'response.done', event_id: randomUUID(), response: { id: reply.id, object: 'realtime.response', status: reply.cancelled ? 'cancelled' : 'completed', output: [{ ...item, status: 'completed' }] } });
  }
}

function toPcm(bytes: Uint8Array, format: WireFormat): { pcm: Int16Array; rate: number } {
  if (format.type === 'audio/pcmu') return { pcm: decodeMulaw(bytes), rate: 8000 };
  if (format.type === 'audio/pcma') return { pcm: decodeAlaw(bytes), rate: 8000 };
  // Copied: a Buffer's slice is a view into a shared pool, possibly at an odd offset.
  return { pcm: new Int16Array(Uint8Array.prototype.slice.call(bytes, 0, bytes.length & ~1).buffer), rate: format.rate ?? 24000 };
}

function fromPcm(pcm: Int16Array, rate: number, format: WireFormat): Buffer {
  const outRate = format.type === 'audio/pcm' ? (format.rate ?? 24000) : 8000;
  // Nearest-sample rate change: crude, but the fake only needs audio that is recognisably the same.
  const n = Math.floor((pcm.length * outRate) / rate);
  const resampled = outRate === rate ? pcm : Int16Array.from({ length: n }, (_, i) => pcm[Math.floor((i * rate) / outRate)]);
  if (format.type === 'audio/pcmu') return Buffer.from(encodeMulaw(resampled));
  if (format.type === 'audio/pcma') return Buffer.from(encodeAlaw(resampled));
  return Buffer.from(resampled.buffer, resampled.byteOffset, resampled.byteLength);
}

function convert(bytes: Uint8Array, from: WireFormat, to: WireFormat): Buffer {
  if (from.type === to.type && (from.rate ?? 24000) === (to.rate ?? 24000)) return Buffer.from(bytes);
  const { pcm, rate } = toPcm(bytes, from);
  return fromPcm(pcm, rate, to);
}

function tone(ms: number, format: WireFormat): Buffer {
  const rate = 8000;
  const pcm = Int16Array.from({ length: Math.round((ms * rate) / 1000) }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)));
  return fromPcm(pcm, rate, format);
}

function rmsOf(pcm: Int16Array): number {
  let s = 0;
  for (let i = 0; i < pcm.length; i++) s += pcm[i] * pcm[i];
  return pcm.length ? Math.sqrt(s / pcm.length) : 0;
}
