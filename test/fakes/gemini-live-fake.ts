/**
 * A loopback Gemini Live server for tests (plain ws on port 0; point GoogleGenAI's
 * `httpOptions.baseUrl` at `fake.baseUrl`, the SDK turns `http:` into `ws:`). It speaks the wire as the
 * SDK sends and reads it: the `?key=` query, a `{setup}` first message answered by `{setupComplete:{}}`,
 * `realtimeInput` audio bracketed by `activityStart` / `activityEnd` (automatic activity detection
 * off), and `serverContent` replies. Every client message is recorded.
 *
 * The reply to a caller activity is an echo: the activity's 16 kHz PCM, linearly interpolated to
 * 24 kHz, in `inlineData` chunks, with input/output transcriptions, generationComplete and
 * turnComplete. An activityStart while a reply is pending or streaming interrupts it
 * (`interrupted`, then `turnComplete`), as START_OF_ACTIVITY_INTERRUPTS does. Resumption handles
 * are issued after setup and after each turn; a later connection may resume with one.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';

export const GEMINI_LIVE_PATH = '/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent';
export const INVALID_KEY_REASON = 'API key not valid. Please pass a valid API key.';

export interface GeminiFakeFaults {
  /** Answer the WebSocket upgrade with this HTTP status instead of accepting it. */
  refuseStatus?: number;
  /** Never send setupComplete, or never answer a caller activity. */
  hang?: 'setup' | 'reply';
  /** Close the connection after `afterChunks` audio chunks of a reply. */
  closeMidReply?: { afterChunks: number; code: number; reason: string };
  /** Before each reply: frames that are not JSON objects. */
  garbage?: boolean;
  /** Before each reply: a message with a top-level field, and one with a serverContent field, nobody knows. */
  unknownFields?: boolean;
  /** Before each reply: one unusable inlineData chunk. */
  badAudio?: 'base64' | 'odd';
  /** mimeType of the reply's audio chunks (default `audio/pcm;rate=24000`). */
  audioMimeType?: string;
  /** Send `interrupted` after this many chunks, then (misbehaving) the rest of the reply, then turnComplete. */
  interruptAfterChunks?: number;
}

export interface GeminiFakeOptions {
  readonly apiKey?: string;
  /** How a wrong key is refused: a close after the setup message (the service's way) or an HTTP status. */
  readonly keyRejection?: { closeCode: number } | { httpStatus: number };
  readonly replyDelayMs?: number;
  /** Audio per reply chunk. */
  readonly chunkMs?: number;
  /** Pause between reply chunks (0: the whole reply at once). */
  readonly chunkIntervalMs?: number;
  /** Send every server frame as a binary WebSocket frame (the service does both). */
  readonly binaryFrames?: boolean;
  /** How long the server takes to act on an activityStart that interrupts a reply (chunks keep coming meanwhile). */
  readonly interruptDelayMs?: number;
  /** Issue resumable handles (default true). */
  readonly resumable?: boolean;
  readonly faults?: GeminiFakeFaults;
}

export interface FakeConnection {
  readonly index: number;
  readonly path: string;
  readonly key: string | null;
  setup: Record<string, unknown> | undefined;
  /** The resumption handle this connection's setup carried. */
  resumedFrom: string | undefined;
  closed: boolean;
  closeCode: number | undefined;
}

export interface RecordedMessage {
  readonly conn: number;
  readonly msg: Record<string, unknown>;
}

interface ConnState {
  readonly info: FakeConnection;
  readonly ws: WebSocket;
  activity: Int16Array[];
  reply: { steps: (() => void)[]; timer: NodeJS.Timeout | undefined } | undefined;
  handles: number;
}

type Waiter = { check: () => boolean; resolve: () => void };

export class GeminiLiveFake {
  readonly messages: RecordedMessage[] = [];
  /** What the fake sent, in order (objects as sent; raw strings for injected garbage). */
  readonly sent: { readonly conn: number; readonly frame: string | Record<string, unknown> }[] = [];
  readonly connections: FakeConnection[] = [];
  /** Resumption handles issued, oldest first. */
  readonly handles: string[] = [];
  faults: GeminiFakeFaults;
  readonly #opts: GeminiFakeOptions;
  readonly #http = createServer((_req, res) => res.writeHead(404).end());
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #conns = new Set<ConnState>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #waiters: Waiter[] = [];
  #port = 0;

  private constructor(opts: GeminiFakeOptions) {
    this.#opts = opts;
    this.faults = { ...opts.faults };
    this.#http.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
  }

  static async start(opts: GeminiFakeOptions = {}): Promise<GeminiLiveFake> {
    const fake = new GeminiLiveFake(opts);
    await new Promise<void>((resolve) => fake.#http.listen(0, '127.0.0.1', resolve));
    fake.#port = (fake.#http.address() as AddressInfo).port;
    return fake;
  }

  get apiKey(): string {
    return this.#opts.apiKey ?? 'fake-gemini-key';
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${String(this.#port)}`;
  }

  /** Client messages of one kind (`setup`, `realtimeInput`, `clientContent`), optionally of one connection. */
  of(kind: string, conn?: number): Record<string, unknown>[] {
    return this.messages.filter((m) => (conn === undefined || m.conn === conn) && kind in m.msg).map((m) => m.msg[kind] as Record<string, unknown>);
  }

  /** The realtimeInput stream of a connection as a list of 'start' | 'end' | audio samples. */
  inputStream(conn?: number): ('start' | 'end' | Int16Array)[] {
    const out: ('start' | 'end' | Int16Array)[] = [];
    for (const r of this.of('realtimeInput', conn)) {
      const audio = r.audio as { data?: string } | undefined;
      if (r.activityStart) out.push('start');
      else if (r.activityEnd) out.push('end');
      else if (audio?.data !== undefined) out.push(decodePcm(audio.data));
    }
    return out;
  }

  /** Sends goAway on every open connection and closes each `timeLeft` later, as the service does. */
  goAway(timeLeft = '1s'): void {
    const ms = Math.round(Number(timeLeft.replace(/s$/, '')) * 1000);
    for (const c of this.#conns) {
      this.#send(c, { goAway: { timeLeft } });
      this.#later(() => c.ws.close(1000, 'session expired'), ms);
    }
  }

  /** Sends a raw frame (string as is, object as JSON) on the newest open connection. */
  inject(frame: string | Record<string, unknown>): void {
    const c = [...this.#conns].pop();
    if (c) this.#send(c, frame);
  }

  /** Resolves when `check()` holds (re-checked on every wire event); rejects after `timeoutMs`. */
  waitFor(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { check, resolve };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`gemini fake: timed out waiting for ${what}`));
      }, timeoutMs);
      waiter.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiters.push(waiter);
    });
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const c of this.#conns) {
      if (c.reply?.timer) clearTimeout(c.reply.timer);
      c.ws.terminate();
    }
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const [rawPath, query = ''] = (req.url ?? '').split('?');
    const path = rawPath.replace(/^\/+/, '/');
    const key = new URLSearchParams(query).get('key');
    const refuse = (status: number) => {
      socket.end(`HTTP/1.1 ${String(status)} Refused\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (path !== GEMINI_LIVE_PATH) return refuse(404);
    if (this.faults.refuseStatus) return refuse(this.faults.refuseStatus);
    const rejection = this.#opts.keyRejection ?? { closeCode: 1008 };
    if (key !== this.apiKey && 'httpStatus' in rejection) return refuse(rejection.httpStatus);
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const info: FakeConnection = { index: this.connections.length, path: rawPath, key, setup: undefined, resumedFrom: undefined, closed: false, closeCode: undefined };
      this.connections.push(info);
      const c: ConnState = { info, ws, activity: [], reply: undefined, handles: 0 };
      this.#conns.add(c);
      const closeWith = key === this.apiKey || 'httpStatus' in rejection ? undefined : rejection;
      ws.on('message', (data: Buffer) => this.#onMessage(c, data.toString('utf8'), closeWith));
      ws.on('close', (code) => {
        info.closed = true;
        info.closeCode = code;
        if (c.reply?.timer) clearTimeout(c.reply.timer);
        c.reply = undefined;
        this.#conns.delete(c);
        this.#notify();
      });
      this.#notify();
    });
  }

  #onMessage(c: ConnState, text: string, rejection: { closeCode: number } | undefined): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text) as Record<string, unknown>;
    } catch {
      msg = { unparseable: text };
    }
    this.messages.push({ conn: c.info.index, msg });
    if (!c.info.setup) this.#onSetup(c, msg, rejection);
    else if (msg.realtimeInput) this.#onRealtimeInput(c, msg.realtimeInput as Record<string, unknown>);
    this.#notify();
  }

  #onSetup(c: ConnState, msg: Record<string, unknown>, rejection: { closeCode: number } | undefined): void {
    const setup = msg.setup as Record<string, unknown> | undefined;
    if (rejection) return c.ws.close(rejection.closeCode, INVALID_KEY_REASON);
    if (!setup || typeof setup.model !== 'string') return c.ws.close(1007, 'Request contains an invalid argument.');
    c.info.setup = setup;
    const resumption = setup.sessionResumption as { handle?: string } | undefined;
    if (resumption?.handle !== undefined) {
      if (!this.handles.includes(resumption.handle)) return c.ws.close(1008, 'Invalid session handle.');
      c.info.resumedFrom = resumption.handle;
    }
    if (this.faults.hang === 'setup') return;
    this.#send(c, { setupComplete: {} });
    if (resumption) this.#issueHandle(c);
  }

  #issueHandle(c: ConnState): void {
    if (this.#opts.resumable === false) {
      this.#send(c, { sessionResumptionUpdate: { resumable: false } });
      return;
    }
    const handle = `handle-${String(c.info.index)}-${String(++c.handles)}`;
    this.handles.push(handle);
    this.#send(c, { sessionResumptionUpdate: { newHandle: handle, resumable: true } });
  }

  #onRealtimeInput(c: ConnState, input: Record<string, unknown>): void {
    if (input.activityStart) {
      c.activity = [];
      const reply = c.reply;
      if (!reply) return;
      // START_OF_ACTIVITY_INTERRUPTS: the reply in progress is cut (after the server's reaction time).
      const delay = this.#opts.interruptDelayMs ?? 0;
      if (delay > 0) this.#later(() => this.#cut(c, reply), delay);
      else this.#cut(c, reply);
      return;
    }
    const audio = input.audio as { data?: string } | undefined;
    if (audio?.data !== undefined) c.activity.push(decodePcm(audio.data));
    if (input.activityEnd) {
      const heard = concat(c.activity);
      c.activity = [];
      // A cut still pending is done first: the server handles our messages in order.
      if (c.reply) this.#cut(c, c.reply);
      if (this.faults.hang === 'reply') return;
      this.#reply(c, heard);
    }
  }

  #cut(c: ConnState, reply: NonNullable<ConnState['reply']>): void {
    if (c.reply !== reply) return;
    if (reply.timer) clearTimeout(reply.timer);
    c.reply = undefined;
    this.#send(c, { serverContent: { interrupted: true } });
    this.#send(c, { serverContent: { turnComplete: true } });
  }

  #reply(c: ConnState, heard: Int16Array): void {
    const f = this.faults;
    const steps: (() => void)[] = [];
    const content = (sc: Record<string, unknown>) => () => this.#send(c, { serverContent: sc });
    if (f.garbage) for (const g of ['this is not json', '{"serverContent":', '[1,2,3]', '42', 'null']) steps.push(() => this.#send(c, g));
    if (f.unknownFields) {
      steps.push(() => this.#send(c, { mysteryField: { a: 1 } }));
      steps.push(content({ sparkles: true }));
    }
    if (f.badAudio) {
      const data = f.badAudio === 'base64' ? '%%%not base64%%%' : Buffer.from([1, 2, 3]).toString('base64');
      steps.push(content({ modelTurn: { parts: [{ inlineData: { mimeType: 'audio/pcm;rate=24000', data } }] } }));
    }
    const heardMs = Math.round(heard.length / 16);
    steps.push(content({ inputTranscription: { text: `heard ${String(heardMs)} ms` } }));
    const out = upsample16to24(heard);
    const chunk = Math.max(1, Math.round((this.#opts.chunkMs ?? 100) * 24));
    const mimeType = f.audioMimeType ?? 'audio/pcm;rate=24000';
    let n = 0;
    for (let off = 0; off < out.length; off += chunk) {
      const data = Buffer.from(out.buffer, out.byteOffset + off * 2, Math.min(chunk, out.length - off) * 2).toString('base64');
      steps.push(content({ modelTurn: { parts: [{ inlineData: { mimeType, data } }] } }));
      n++;
      if (n === 1) steps.push(content({ outputTranscription: { text: `echo of ${String(heardMs)} ms` } }));
      if (f.interruptAfterChunks === n) steps.push(content({ interrupted: true }));
      if (f.closeMidReply?.afterChunks === n) {
        const { code, reason } = f.closeMidReply;
        steps.push(() => c.ws.close(code, reason));
      }
    }
    steps.push(content({ generationComplete: true }));
    steps.push(() => {
      c.reply = undefined;
      this.#send(c, { serverContent: { turnComplete: true } });
      this.#send(c, { usageMetadata: { totalTokenCount: n } });
      this.#issueHandle(c);
    });
    c.reply = { steps, timer: undefined };
    this.#runReply(c, this.#opts.replyDelayMs ?? 0);
  }

  #runReply(c: ConnState, delayMs: number): void {
    const reply = c.reply;
    if (!reply) return;
    const interval = this.#opts.chunkIntervalMs ?? 0;
    const run = () => {
      reply.timer = undefined;
      while (c.reply === reply && reply.steps.length > 0) {
        reply.steps.shift()!();
        if (interval > 0 && c.reply === reply && reply.steps.length > 0) {
          reply.timer = setTimeout(run, interval);
          return;
        }
      }
    };
    if (delayMs > 0) reply.timer = setTimeout(run, delayMs);
    else run();
  }

  #send(c: ConnState, frame: string | Record<string, unknown>): void {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    c.ws.send(this.#opts.binaryFrames ? Buffer.from(text) : text);
    this.sent.push({ conn: c.info.index, frame });
    this.#notify();
  }

  /** How many serverContent messages with `field` the fake has sent. */
  sentCount(field: string): number {
    return this.sent.filter((s) => typeof s.frame === 'object' && field in ((s.frame.serverContent as object | undefined) ?? {})).length;
  }

  #later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #notify(): void {
    const ready = this.#waiters.filter((w) => w.check());
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }
}

function decodePcm(base64: string): Int16Array {
  const bytes = Buffer.from(base64, 'base64');
  return new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.length & ~1)));
}

function concat(chunks: Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** 16 kHz -> 24 kHz by linear interpolation: good enough for an echo that tests correlate. */
export function upsample16to24(pcm: Int16Array): Int16Array {
  const out = new Int16Array(Math.floor((pcm.length * 3) / 2));
  for (let i = 0; i < out.length; i++) {
    const x = (i * 2) / 3;
    const j = Math.floor(x);
    const frac = x - j;
    const a = pcm[j];
    const b = j + 1 < pcm.length ? pcm[j + 1] : a;
    out[i] = Math.round(a + (b - a) * frac);
  }
  return out;
}
