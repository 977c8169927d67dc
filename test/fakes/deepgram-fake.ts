/**
 * A loopback Deepgram for tests and benchmarks: one WebSocket server on port 0 serving `/v1/listen`
 * (STT) and `/v1/speak` (TTS) the way the real service does, recording every message it gets.
 *
 * Listen: takes binary audio (bytes counted and kept per socket); on `Finalize` answers with Results
 * (an interim, then the final marked `from_finalize` and `speech_final`) and an `UtteranceEnd`;
 * `KeepAlive` is silent; `CloseStream` gets `Metadata` and a close. Speak: `Speak` text is kept; on
 * `Flush` it streams a tone in the requested encoding and rate (length proportional to the text),
 * then `Flushed`; `Clear` stops the stream and answers `Cleared`.
 *
 * Faults: refuse or hang the handshake, reject with any HTTP status, a wrong key gets 401, slow
 * results, slow audio, audio that keeps coming after `Clear`, odd-length audio frames, and direct
 * access to each socket to send garbage, unknown types or close it mid-stream.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { encodeAlaw, encodeMulaw } from '../../src/pipeline/codecs/g711.js';

export type HandshakeFault = { status: number } | 'hang' | 'refuse';

export interface DeepgramFakeOptions {
  apiKey: string;
  /** What the caller "said" in each turn. */
  transcript?: string;
  /** Send an interim Results before the final one (default true). */
  interim?: boolean;
  /** Delay before answering a Finalize. */
  resultsDelayMs?: number;
  /** Also send an interim Results each time this many more audio bytes have arrived. */
  resultsEveryBytes?: number;
  /**
   * Deepgram's own endpointing: after this many audio bytes since the last Finalize, send the turn's
   * final Results with `speech_final: true` (https://developers.deepgram.com/docs/understand-endpointing-interim-results).
   */
  endpointAfterBytes?: number;
  speak?: {
    /** Audio length per character of text (default 30 ms). */
    msPerChar?: number;
    /** Audio per binary frame (default 100 ms). */
    chunkMs?: number;
    /** Pause between frames (default 0: a reply goes out at once). */
    chunkDelayMs?: number;
    /** Synthesis time before the first frame of each flushed reply (benchmarks: TTS first byte). */
    firstByteMs?: number;
    /** Misbehave: keep streaming this long after a Clear before stopping and answering Cleared. */
    clearedDelayMs?: number;
    /** Misbehave: frames one byte longer than they should be (odd for linear16). */
    oddBytes?: boolean;
  };
  handshake?: { listen?: HandshakeFault; speak?: HandshakeFault };
  /** Delay every accepted WebSocket upgrade by this long (a slow handshake, for switch benchmarks). */
  handshakeDelayMs?: number;
}

abstract class FakeConn {
  readonly url: URL;
  readonly headers: IncomingMessage['headers'];
  /** Every JSON text message received, parsed. */
  readonly texts: Record<string, unknown>[] = [];
  /** Text messages that were not JSON. */
  readonly rawTexts: string[] = [];
  closeCode: number | undefined;
  readonly closed: Promise<void>;
  protected readonly ws: WebSocket;

  constructor(ws: WebSocket, req: IncomingMessage) {
    this.ws = ws;
    this.url = new URL(req.url ?? '/', 'ws://fake');
    this.headers = req.headers;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code) => {
        this.closeCode = code;
        resolve();
      });
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        this.onBinary(toBuffer(data));
        return;
      }
      const text = toBuffer(data).toString('utf8');
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(text) as Record<string, unknown>;
      } catch {
        this.rawTexts.push(text);
        return;
      }
      this.texts.push(msg);
      this.onJson(msg);
    });
  }

  get query(): Record<string, string> {
    return Object.fromEntries(this.url.searchParams);
  }

  /** The `type`s received, in order. */
  get types(): string[] {
    return this.texts.map((t) => String(t.type));
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Send anything: an object as JSON, a string as a text frame, bytes as a binary frame. */
  send(data: object | string | Uint8Array): void {
    if (!this.isOpen) return;
    if (typeof data === 'string') this.ws.send(data);
    else if (data instanceof Uint8Array) this.ws.send(data, { binary: true });
    else this.ws.send(JSON.stringify(data));
  }

  close(code = 1000, reason = ''): void {
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }

  protected abstract onBinary(bytes: Buffer): void;
  protected abstract onJson(msg: Record<string, unknown>): void;
}

export class FakeListen extends FakeConn {
  readonly audio: Buffer[] = [];
  audioBytes = 0;
  #bytesSinceFinalize = 0;
  #bytesSinceInterim = 0;
  #cursorSec = 0;
  readonly #fake: DeepgramFake;

  constructor(ws: WebSocket, req: IncomingMessage, fake: DeepgramFake) {
    super(ws, req);
    this.#fake = fake;
  }

  /** All audio received, in order. */
  get audioBuffer(): Buffer {
    return Buffer.concat(this.audio);
  }

  results(transcript: string, flags: { is_final: boolean; speech_final: boolean; from_finalize?: boolean }): Record<string, unknown> {
    const duration = 0.5;
    const start = this.#cursorSec;
    if (flags.is_final) this.#cursorSec += duration;
    return {
      type: 'Results',
      channel_index: [0, 1],
      duration,
      start,
      ...flags,
      channel: { alternatives: [{ transcript, confidence: 0.98, words: transcript.split(/\s+/).filter(Boolean).map((word, i) => ({ word, start: start + i * 0.1, end: start + i * 0.1 + 0.1, confidence: 0.98 })) }] },
      metadata: { request_id: 'fake-request', model_info: { name: 'fake', version: '1', arch: 'fake' }, model_uuid: 'fake-model' },
    };
  }

  protected onBinary(bytes: Buffer): void {
    this.audio.push(bytes);
    this.audioBytes += bytes.length;
    this.#bytesSinceFinalize += bytes.length;
    this.#bytesSinceInterim += bytes.length;
    const every = this.#fake.options.resultsEveryBytes;
    if (every !== undefined && every > 0 && this.#bytesSinceInterim >= every) {
      this.#bytesSinceInterim = 0;
      this.send(this.results(firstWords(this.#fake.transcript), { is_final: false, speech_final: false }));
    }
    const endpoint = this.#fake.options.endpointAfterBytes;
    if (endpoint !== undefined && this.#bytesSinceFinalize >= endpoint) {
      this.#bytesSinceFinalize = 0;
      this.send(this.results(this.#fake.transcript, { is_final: true, speech_final: true }));
    }
  }

  protected onJson(msg: Record<string, unknown>): void {
    switch (msg.type) {
      case 'Finalize': {
        const heard = this.#bytesSinceFinalize > 0;
        this.#bytesSinceFinalize = 0;
        const answer = () => {
          const transcript = heard ? this.#fake.transcript : '';
          if (heard && this.#fake.options.interim !== false) this.send(this.results(firstWords(transcript), { is_final: false, speech_final: false }));
          this.send(this.results(transcript, { is_final: true, speech_final: true, from_finalize: true }));
          this.send({ type: 'UtteranceEnd', channel: [0, 1], last_word_end: this.#cursorSec });
        };
        const delay = this.#fake.options.resultsDelayMs ?? 0;
        if (delay > 0) this.#fake.later(answer, delay);
        else answer();
        return;
      }
      case 'CloseStream':
        this.send({ type: 'Metadata', transaction_key: 'deprecated', request_id: 'fake-request', sha256: '', created: new Date().toISOString(), duration: this.#cursorSec, channels: 1 });
        this.close(1000);
        return;
      default:
        return; // KeepAlive and anything else: recorded, no answer.
    }
  }
}

interface SpeakJob {
  readonly text: string;
  readonly audio: Buffer;
  sentBytes: number;
  cancelled: boolean;
}

export class FakeSpeak extends FakeConn {
  /** Text of each Speak message. */
  readonly spoken: string[] = [];
  /** One per Flush: the text it covered and the audio made for it. */
  readonly replies: SpeakJob[] = [];
  #pendingText = '';
  #queue: SpeakJob[] = [];
  #running = false;
  #sequence = 0;
  readonly #fake: DeepgramFake;

  constructor(ws: WebSocket, req: IncomingMessage, fake: DeepgramFake) {
    super(ws, req);
    this.#fake = fake;
  }

  get encoding(): string {
    return this.url.searchParams.get('encoding') ?? 'linear16';
  }

  get sampleRate(): number {
    const rate = this.url.searchParams.get('sample_rate');
    return rate ? Number(rate) : this.encoding === 'linear16' ? 24000 : 8000;
  }

  protected onBinary(): void {
    // Deepgram ignores nothing silently; neither does a test: keep it visible.
    this.rawTexts.push('<binary>');
  }

  protected onJson(msg: Record<string, unknown>): void {
    switch (msg.type) {
      case 'Speak':
        this.spoken.push(String(msg.text));
        this.#pendingText += String(msg.text);
        return;
      case 'Flush': {
        const job: SpeakJob = { text: this.#pendingText, audio: this.#render(this.#pendingText), sentBytes: 0, cancelled: false };
        this.#pendingText = '';
        this.replies.push(job);
        this.#queue.push(job);
        void this.#run();
        return;
      }
      case 'Clear': {
        const jobs = this.#queue.splice(0);
        this.#pendingText = '';
        const stop = () => {
          for (const j of jobs) j.cancelled = true;
          this.send({ type: 'Cleared', sequence_id: this.#sequence });
        };
        const delay = this.#fake.options.speak?.clearedDelayMs;
        if (delay === undefined) stop();
        else {
          // Misbehaving server: the cleared jobs keep streaming for a while.
          this.#queue.unshift(...jobs);
          this.#fake.later(() => {
            this.#queue = this.#queue.filter((j) => !jobs.includes(j));
            stop();
          }, delay);
        }
        return;
      }
      case 'Close':
        this.close(1000);
        return;
      default:
        return;
    }
  }

  async #run(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    const opts = this.#fake.options.speak ?? {};
    const bytesPerSample = this.encoding === 'linear16' ? 2 : 1;
    const chunk = Math.max(2, Math.round((this.sampleRate * (opts.chunkMs ?? 100)) / 1000) * bytesPerSample) + (opts.oddBytes ? 1 : 0);
    while (this.#queue.length > 0 && this.isOpen) {
      const job = this.#queue[0];
      if (opts.firstByteMs) await new Promise((r) => setTimeout(r, opts.firstByteMs));
      while (!job.cancelled && job.sentBytes < job.audio.length && this.isOpen) {
        const piece = job.audio.subarray(job.sentBytes, job.sentBytes + chunk);
        job.sentBytes += piece.length;
        this.send(piece);
        if (opts.chunkDelayMs) await new Promise((r) => setTimeout(r, opts.chunkDelayMs));
      }
      if (this.#queue[0] === job) this.#queue.shift();
      if (!job.cancelled) this.send({ type: 'Flushed', sequence_id: this.#sequence++ });
    }
    this.#running = false;
  }

  /** A 440 Hz tone, as long as the text deserves, in the socket's encoding. */
  #render(text: string): Buffer {
    const rate = this.sampleRate;
    const n = Math.round((rate * (this.#fake.options.speak?.msPerChar ?? 30) * text.length) / 1000);
    const pcm = new Int16Array(n);
    for (let i = 0; i < n; i++) pcm[i] = Math.round(6000 * Math.sin((2 * Math.PI * 440 * i) / rate));
    if (this.encoding === 'mulaw') return Buffer.from(encodeMulaw(pcm, new Uint8Array(n)));
    if (this.encoding === 'alaw') return Buffer.from(encodeAlaw(pcm, new Uint8Array(n)));
    return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  }
}

export class DeepgramFake {
  readonly options: DeepgramFakeOptions;
  readonly listens: FakeListen[] = [];
  readonly speaks: FakeSpeak[] = [];
  /** Every upgrade attempt: path and the HTTP status it got (101 when accepted, 0 when hung or refused). */
  readonly upgrades: { path: string; status: number }[] = [];
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #port = 0;

  private constructor(options: DeepgramFakeOptions) {
    this.options = options;
    this.#server = createServer((_req, res) => res.writeHead(404).end());
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#upgrade(req, socket, head));
  }

  static async start(options: DeepgramFakeOptions): Promise<DeepgramFake> {
    const fake = new DeepgramFake(options);
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    const addr = fake.#server.address();
    fake.#port = typeof addr === 'object' && addr ? addr.port : 0;
    return fake;
  }

  /** What DEEPGRAM_BASE_URL should be. */
  get url(): string {
    return `ws://127.0.0.1:${String(this.#port)}`;
  }

  get transcript(): string {
    return this.options.transcript ?? 'hello from the fake';
  }

  get lastListen(): FakeListen {
    const l = this.listens.at(-1);
    if (!l) throw new Error('no listen socket yet');
    return l;
  }

  get lastSpeak(): FakeSpeak {
    const s = this.speaks.at(-1);
    if (!s) throw new Error('no speak socket yet');
    return s;
  }

  /** TCP connections still open, hung handshakes included. */
  get openConnections(): number {
    return this.#sockets.size;
  }

  /** A timer the fake owns, cleared on close. */
  later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const ws of this.#wss.clients) ws.terminate();
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    // After an upgrade nothing else watches this socket: a reset must not crash the test process.
    socket.on('error', () => undefined);
    const path = new URL(req.url ?? '/', 'ws://fake').pathname;
    const kind = path === '/v1/listen' ? 'listen' : path === '/v1/speak' ? 'speak' : undefined;
    const reject = (status: number) => {
      this.upgrades.push({ path, status });
      socket.end(`HTTP/1.1 ${String(status)} Rejected\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"err_code":"FAKE","err_msg":"rejected"}`);
    };
    if (!kind) return reject(404);
    if (!this.#authorised(req)) return reject(401);
    const fault = this.options.handshake?.[kind];
    if (fault === 'hang') {
      this.upgrades.push({ path, status: 0 });
      // Answer nothing; the HTTP server is half-open by design, so finish our side when the client leaves.
      socket.on('end', () => socket.destroy());
      return;
    }
    if (fault === 'refuse') {
      this.upgrades.push({ path, status: 0 });
      socket.destroy();
      return;
    }
    if (fault) return reject(fault.status);
    const accept = () =>
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        this.upgrades.push({ path, status: 101 });
        if (kind === 'listen') this.listens.push(new FakeListen(ws, req, this));
        else this.speaks.push(new FakeSpeak(ws, req, this));
      });
    if (this.options.handshakeDelayMs) setTimeout(accept, this.options.handshakeDelayMs);
    else accept();
  }

  /** Node clients send `Authorization: Token KEY`; browsers offer the `token, KEY` subprotocols. */
  #authorised(req: IncomingMessage): boolean {
    if (req.headers.authorization === `Token ${this.options.apiKey}`) return true;
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const i = protocols.indexOf('token');
    return i >= 0 && protocols[i + 1] === this.options.apiKey;
  }
}

function firstWords(transcript: string): string {
  const words = transcript.split(/\s+/).filter(Boolean);
  return words.slice(0, Math.max(1, Math.ceil(words.length / 2))).join(' ');
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
