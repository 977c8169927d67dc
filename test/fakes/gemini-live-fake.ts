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
 * are issued after setup and after each turn; a later connection may resume with one. On a 3.8 model a
 * function result not scheduled SILENT prompts another reply (see #onToolResponse).
 *
 * What it accepts is what the Gemini Live API accepts, each rule cited where it is enforced ("SDK
 * types" = @google/genai 2.32.0 dist/genai.d.ts; "live-session docs" =
 * ai.google.dev/gemini-api/docs/live-session; model pages = ai.google.dev/gemini-api/docs/models/...).
 * A rule broken closes the connection as the service does (1007 invalid argument, 1008 policy/not found).
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
  /**
   * Scales the service's clocks (connection lifetime ~10 min, audio session limit 15 min without
   * compression) so a 20-minute call can be run in seconds: 1/600 makes ten minutes one second.
   */
  readonly clockScale?: number;
  /** After each reply's audio, the model calls this function, if the setup declared it. */
  readonly callFunction?: { name: string; args: Record<string, unknown> };
  /** Automatic activity detection: this much quiet after speech ends the caller's turn (default 500 ms). */
  readonly silenceMs?: number;
  readonly faults?: GeminiFakeFaults;
}

/** Shut down on 2025-12-09 (ai.google.dev/gemini-api/docs/deprecations, "Live API models"). */
export const RETIRED_MODELS: ReadonlySet<string> = new Set(['gemini-live-2.5-flash-preview', 'gemini-2.0-flash-live-001']);

/** The fields of a setup message (SDK types: LiveClientSetup); anything else is an invalid argument. */
const SETUP_FIELDS = new Set([
  'model', 'generationConfig', 'systemInstruction', 'tools', 'realtimeInputConfig', 'sessionResumption', 'contextWindowCompression',
  'inputAudioTranscription', 'outputAudioTranscription', 'proactivity', 'historyConfig', 'explicitVadSignal', 'avatarConfig', 'safetySettings', 'labels',
]);

/** Model generations, by the model pages' migration notes (see src/providers/gemini/models.ts). */
/** FunctionResponseScheduling's values (@google/genai). */
const SCHEDULINGS = new Set(['SCHEDULING_UNSPECIFIED', 'SILENT', 'WHEN_IDLE', 'INTERRUPT']);
/** What the model says when a function result prompts it: 200 ms (of the caller-rate audio it echoes). */
const PROMPTED_REPLY = new Int16Array(3200).fill(1000);

function generationOf(model: string): '2.5' | '3.1' | '3.8' {
  const m = model.replace(/^models\//, '');
  if (/^gemini-(2\.|live-2\.)/.test(m)) return '2.5';
  if (/^gemini-3\.1-/.test(m)) return '3.1';
  return '3.8';
}

export interface FakeConnection {
  readonly index: number;
  readonly path: string;
  readonly key: string | null;
  /** The WebSocket extensions the client offered (Sec-WebSocket-Extensions, RFC 6455 section 9.1). */
  readonly extensions: string | undefined;
  setup: Record<string, unknown> | undefined;
  /** The resumption handle this connection's setup carried. */
  resumedFrom: string | undefined;
  /** Why the fake closed it, when a rule was broken. */
  rejected: string | undefined;
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
  /** Initial history still expected (historyConfig.initialHistoryInClientContent) before realtime input. */
  awaitingHistory: boolean;
  realtimeStarted: boolean;
  /** When the session (across resumptions) began, in ms since the fake's epoch. */
  sessionStartedAt: number;
  /** Automatic activity detection: the server's own view of the caller. */
  vad: { speaking: boolean; quietMs: number };
  /** Function calls sent and not yet answered, by id. */
  pendingCalls: Set<string>;
  /** A WHEN_IDLE function result waits for the reply in progress to end, then prompts another. */
  idleGeneration: boolean;
}

type Waiter = { check: () => boolean; resolve: () => void };

export class GeminiLiveFake {
  readonly messages: RecordedMessage[] = [];
  /** What the fake sent, in order (objects as sent; raw strings for injected garbage). */
  readonly sent: { readonly conn: number; readonly frame: string | Record<string, unknown> }[] = [];
  readonly connections: FakeConnection[] = [];
  /** Resumption handles issued, oldest first. */
  readonly handles: string[] = [];
  /** When each issued handle's session began (the session clock survives resumption). */
  readonly #sessionStart = new Map<string, number>();
  /** Every toolResponse received, in order. */
  readonly toolResponses: Record<string, unknown>[] = [];
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
      const info: FakeConnection = { index: this.connections.length, path: rawPath, key, extensions: req.headers['sec-websocket-extensions'], setup: undefined, resumedFrom: undefined, rejected: undefined, closed: false, closeCode: undefined };
      this.connections.push(info);
      const c: ConnState = {
        info, ws, activity: [], reply: undefined, handles: 0, awaitingHistory: false, realtimeStarted: false,
        sessionStartedAt: performance.now(), vad: { speaking: false, quietMs: 0 }, pendingCalls: new Set(), idleGeneration: false,
      };
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
    else if (msg.clientContent) this.#onClientContent(c, msg.clientContent as Record<string, unknown>);
    else if (msg.toolResponse) this.#onToolResponse(c, msg.toolResponse as Record<string, unknown>);
    else if (msg.realtimeInput) {
      // "After turn_complete is true, the client can start the realtime conversation via realtime_input"
      // (SDK types, HistoryConfig.initialHistoryInClientContent): not before.
      if (c.awaitingHistory) return this.#reject(c, 1007, 'Realtime input before the initial history was complete.');
      c.realtimeStarted = true;
      this.#onRealtimeInput(c, msg.realtimeInput as Record<string, unknown>);
    }
    this.#notify();
  }

  /** Closes a connection for a broken rule, as the service does, and remembers why. */
  #reject(c: ConnState, code: number, reason: string): void {
    c.info.rejected = reason;
    c.ws.close(code, reason);
  }

  #onClientContent(c: ConnState, content: Record<string, unknown>): void {
    const turns = content.turns;
    if (!Array.isArray(turns)) return this.#reject(c, 1007, 'clientContent.turns must be a list.');
    // Content.role: "Must be either 'user' or 'model'" (SDK types, Content).
    for (const t of turns as { role?: unknown; parts?: unknown }[]) {
      if (t.role !== 'user' && t.role !== 'model') return this.#reject(c, 1007, `Invalid role '${String(t.role)}': must be user or model.`);
      if (!Array.isArray(t.parts) || t.parts.length === 0) return this.#reject(c, 1007, 'Each turn needs parts.');
    }
    const gen = generationOf(String(c.info.setup!.model));
    if (c.awaitingHistory) {
      // Initial history: taken as context, no model call, until turnComplete true (SDK types, HistoryConfig).
      if (content.turnComplete === true) c.awaitingHistory = false;
      return;
    }
    // 2.5 native audio takes history only as initial history; client content for the whole session is new
    // in 3.1 ("Client content: ... supported throughout the session", 3.1 migration notes).
    if (gen === '2.5') return this.#reject(c, 1007, 'clientContent is only accepted as initial history on this model.');
    // Newer models refuse content that leaves the turn open (issue 13, observed as 1007 in production).
    if (content.turnComplete !== true) return this.#reject(c, 1007, 'Request contains an invalid argument.');
    // turn_complete=true "unconditionally interrupts active model generation" (3.1 / 3.8 migration notes).
    if (c.reply) this.#cut(c, c.reply);
  }

  #onToolResponse(c: ConnState, response: Record<string, unknown>): void {
    this.toolResponses.push(response);
    const frs = response.functionResponses;
    if (!Array.isArray(frs)) return this.#reject(c, 1007, 'toolResponse.functionResponses must be a list.');
    // FunctionResponse.id: "the id of the function call this response is for" (SDK types).
    for (const fr of frs as { id?: unknown; scheduling?: unknown }[]) {
      if (typeof fr.id !== 'string' || !c.pendingCalls.delete(fr.id)) return this.#reject(c, 1007, `toolResponse for an unknown call id '${String(fr.id)}'.`);
      if (fr.scheduling !== undefined && !SCHEDULINGS.has(String(fr.scheduling))) return this.#reject(c, 1007, `Invalid value at 'tool_response.function_responses.scheduling' (${String(fr.scheduling)}).`);
    }
    // 3.8 calls functions NON_BLOCKING by default (its migration notes); for those, a result "prompts to
    // generate output" unless scheduled SILENT: WHEN_IDLE (the default) once the reply in progress is
    // over, INTERRUPT at once (FunctionResponse.scheduling / FunctionResponseScheduling, SDK types).
    if (generationOf(String(c.info.setup!.model)) !== '3.8') return;
    const schedulings = (frs as { scheduling?: string }[]).map((fr) => fr.scheduling ?? 'WHEN_IDLE');
    if (schedulings.every((x) => x === 'SILENT')) return;
    if (schedulings.includes('INTERRUPT') && c.reply) this.#cut(c, c.reply);
    if (c.reply) c.idleGeneration = true;
    else this.#reply(c, PROMPTED_REPLY, false);
  }

  #onSetup(c: ConnState, msg: Record<string, unknown>, rejection: { closeCode: number } | undefined): void {
    const setup = msg.setup as Record<string, unknown> | undefined;
    if (rejection) return c.ws.close(rejection.closeCode, INVALID_KEY_REASON);
    if (!setup || typeof setup.model !== 'string') return this.#reject(c, 1007, 'Request contains an invalid argument.');
    const unknown = Object.keys(setup).find((k) => !SETUP_FIELDS.has(k));
    if (unknown) return this.#reject(c, 1007, `Invalid JSON payload received. Unknown name "${unknown}" at 'setup'.`);
    const model = setup.model.replace(/^models\//, '');
    // "Once a model is shut down ... the endpoint is no longer available" (docs/deprecations).
    if (RETIRED_MODELS.has(model)) return this.#reject(c, 1008, `models/${model} is not found for API version v1beta, or is not supported for bidiGenerateContent.`);
    const gen = generationOf(model);
    const thinking = (setup.generationConfig as { thinkingConfig?: Record<string, unknown> } | undefined)?.thinkingConfig;
    // 3.8: "thinking_level is not supported ... omit thinking_level (or thinking_config)" (gemini-3.8-live page).
    if (thinking !== undefined && gen === '3.8') return this.#reject(c, 1007, 'thinking_config is not supported by this model.');
    // 3.1: "uses thinkingLevel ... instead of thinkingBudget" (gemini-3.1-flash-live-preview page).
    if (thinking?.thinkingBudget !== undefined && gen === '3.1') return this.#reject(c, 1007, 'thinking_budget is not supported by this model; use thinking_level.');
    c.info.setup = setup;
    c.awaitingHistory = (setup.historyConfig as { initialHistoryInClientContent?: boolean } | undefined)?.initialHistoryInClientContent === true;
    const resumption = setup.sessionResumption as { handle?: string } | undefined;
    if (resumption?.handle !== undefined) {
      if (!this.handles.includes(resumption.handle)) return c.ws.close(1008, 'Invalid session handle.');
      c.info.resumedFrom = resumption.handle;
      c.sessionStartedAt = this.#sessionStart.get(resumption.handle) ?? c.sessionStartedAt;
    }
    if (this.faults.hang === 'setup') return;
    this.#send(c, { setupComplete: {} });
    if (resumption) this.#issueHandle(c);
    this.#startClocks(c);
  }

  /**
   * The service's clocks (live-session docs, "Session lifetime" and "Connection lifetime"): a
   * connection lasts about 10 minutes and is warned with goAway before it ends; without context window
   * compression an audio session ends at 15 minutes, resumed or not.
   */
  #startClocks(c: ConnState): void {
    const scale = this.#opts.clockScale ?? 1;
    const lifetimeMs = 10 * 60_000 * scale;
    const warnMs = Math.min(lifetimeMs / 2, Math.max(50, 10_000 * scale)); // goAway ~10 s before the end
    this.#later(() => {
      if (c.ws.readyState !== WebSocket.OPEN) return;
      this.#send(c, { goAway: { timeLeft: `${(warnMs / 1000).toFixed(3)}s` } });
      this.#later(() => c.ws.close(1000, 'connection lifetime reached'), warnMs);
    }, lifetimeMs - warnMs);
    if (c.info.setup!.contextWindowCompression === undefined) {
      const left = 15 * 60_000 * scale - (performance.now() - c.sessionStartedAt);
      this.#later(() => {
        if (c.ws.readyState === WebSocket.OPEN) this.#reject(c, 1011, 'Audio session limit reached (15 minutes without context window compression).');
      }, Math.max(0, left));
    }
  }

  #issueHandle(c: ConnState): void {
    if (this.#opts.resumable === false) {
      this.#send(c, { sessionResumptionUpdate: { resumable: false } });
      return;
    }
    const handle = `handle-${String(c.info.index)}-${String(++c.handles)}`;
    this.handles.push(handle);
    this.#sessionStart.set(handle, c.sessionStartedAt);
    this.#send(c, { sessionResumptionUpdate: { newHandle: handle, resumable: true } });
  }

  #onRealtimeInput(c: ConnState, input: Record<string, unknown>): void {
    const rtc = c.info.setup!.realtimeInputConfig as { automaticActivityDetection?: { disabled?: boolean } } | undefined;
    const automatic = rtc?.automaticActivityDetection?.disabled !== true;
    // ActivityStart / ActivityEnd: "This can only be sent if automatic (i.e. server-side) activity
    // detection is disabled" (SDK types).
    if (automatic && (input.activityStart || input.activityEnd)) return this.#reject(c, 1007, 'activityStart/activityEnd require automatic activity detection to be disabled.');
    if (automatic) return this.#onAutomaticAudio(c, input);
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

  /** Automatic activity detection: loud audio is speech; `silenceMs` of quiet after it ends the turn. */
  #onAutomaticAudio(c: ConnState, input: Record<string, unknown>): void {
    const audio = input.audio as { data?: string } | undefined;
    if (audio?.data === undefined) return;
    const pcm = decodePcm(audio.data);
    const ms = pcm.length / 16;
    let sum = 0;
    for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
    const loud = pcm.length > 0 && Math.sqrt(sum / pcm.length) > 500;
    const v = c.vad;
    if (!v.speaking && loud) {
      v.speaking = true;
      v.quietMs = 0;
      c.activity = [];
      // The caller spoke over the reply: the server cuts it.
      if (c.reply) this.#cut(c, c.reply);
    }
    if (!v.speaking) return;
    c.activity.push(pcm);
    v.quietMs = loud ? 0 : v.quietMs + ms;
    if (v.quietMs >= (this.#opts.silenceMs ?? 500)) {
      v.speaking = false;
      const heard = concat(c.activity);
      c.activity = [];
      if (this.faults.hang !== 'reply') this.#reply(c, heard);
    }
  }

  #cut(c: ConnState, reply: NonNullable<ConnState['reply']>): void {
    if (c.reply !== reply) return;
    if (reply.timer) clearTimeout(reply.timer);
    c.reply = undefined;
    this.#send(c, { serverContent: { interrupted: true } });
    this.#send(c, { serverContent: { turnComplete: true } });
  }

  #reply(c: ConnState, heard: Int16Array, mayCallFunction = true): void {
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
    // The caller's transcription does not wait for the model's answer: it comes first, at once.
    this.#send(c, { serverContent: { inputTranscription: { text: `heard ${String(heardMs)} ms` } } });
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
    const fn = this.#opts.callFunction;
    const declared = ((c.info.setup!.tools as { functionDeclarations?: { name?: string }[] }[] | undefined) ?? []).flatMap((t) => t.functionDeclarations ?? []);
    if (fn && mayCallFunction && declared.some((d) => d.name === fn.name)) {
      // LiveServerToolCall: the model calls a declared function; the client answers by id (SDK types).
      steps.push(() => {
        const id = `call-${String(c.info.index)}-${String(c.pendingCalls.size + this.toolResponses.length + 1)}`;
        c.pendingCalls.add(id);
        this.#send(c, { toolCall: { functionCalls: [{ id, name: fn.name, args: fn.args }] } });
      });
    }
    steps.push(content({ generationComplete: true }));
    steps.push(() => {
      c.reply = undefined;
      this.#send(c, { serverContent: { turnComplete: true } });
      this.#send(c, { usageMetadata: { totalTokenCount: n } });
      this.#issueHandle(c);
      if (c.idleGeneration) {
        c.idleGeneration = false;
        this.#reply(c, PROMPTED_REPLY, false);
      }
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
    t.unref();
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
