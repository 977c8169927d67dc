/**
 * A loopback Deepgram Voice Agent (`/v1/agent/converse`) for tests, recording every message.
 * Rules, each from Deepgram's docs or the SDK's agent v1 types:
 * - `Authorization: Token KEY`, else HTTP 401 (https://developers.deepgram.com/reference/voice-agent/voice-agent).
 * - `Welcome` on open; the first client message must be `Settings`, else Error
 *   NON_SETTINGS_MESSAGE_BEFORE_SETTINGS; a second Settings gets SETTINGS_ALREADY_APPLIED; a Settings
 *   without `audio` / `agent` or with an unknown encoding gets INVALID_SETTINGS; JSON that does not
 *   parse gets UNPARSABLE_CLIENT_MESSAGE (https://developers.deepgram.com/docs/voice-agent-errors-warnings).
 * - Audio before Settings is refused the same way.
 * - `ForceEndTurn` needs a v2 (Flux) listen provider, else Warning FORCE_END_TURN_UNSUPPORTED
 *   (https://developers.deepgram.com/docs/voice-agent-force-end-turn).
 * - A turn ends (ForceEndTurn, or `autoTurnAfterBytes` of audio: the agent's own detection) with
 *   ConversationText(user), AgentThinking, then binary audio, ConversationText (assistant) and
 *   AgentAudioDone (https://developers.deepgram.com/docs/voice-agent-outputs). AgentStartedSpeaking
 *   comes before the audio only when the Settings have `experimental: true`: the SDK's AgentEvents
 *   enum says "YOU WILL ONLY RECEIVE THIS EVENT IF YOU HAVE ENABLED `experimental` IN YOUR CONFIG",
 *   and the server-events list above does not name it.
 * - Caller audio that begins a turn while the agent speaks is a barge-in: UserStartedSpeaking, and
 *   the rest of that reply is never sent ("the client ... should stop playback immediately and
 *   discard all of its buffered agent audio",
 *   https://developers.deepgram.com/docs/voice-agent-user-started-speaking). With `paceMs` the reply's
 *   audio goes out 160 bytes per tick, so there is time to speak over it; without, all at once. Whether
 *   the agent still sends AgentAudioDone for a reply cut this way is not documented: `audioDoneOnBargeIn`
 *   chooses (default: not).
 * - With `endCallOn` in the caller's words and an end_call function declared, a FunctionCallRequest
 *   with `client_side: true` follows the goodbye (https://developers.deepgram.com/docs/voice-agent-function-call-request).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

export interface AgentFakeOptions {
  apiKey: string;
  /** What the caller "said" in each turn. */
  transcript?: string;
  /** The agent's reply to a turn. */
  reply?: (userText: string, turn: number) => string;
  /** Audio bytes per reply character (default 8: 1 ms of mu-law per char). */
  bytesPerChar?: number;
  /** End a turn on its own after this much caller audio (the agent's own turn detection). */
  autoTurnAfterBytes?: number;
  /** Delay between the turn end and the first audio byte. */
  replyDelayMs?: number;
  /** Reject the handshake with this HTTP status. */
  handshakeStatus?: number;
  /** A caller turn containing this word makes the agent call end_call after its goodbye. */
  endCallOn?: string;
  /** Send a reply's audio 160 bytes every this many ms (default: all at once). */
  paceMs?: number;
  /** Send AgentAudioDone for a reply cut by a barge-in (default false; see the header). */
  audioDoneOnBargeIn?: boolean;
}

const INPUT_ENCODINGS = ['linear16', 'linear32', 'flac', 'alaw', 'mulaw', 'amr-nb', 'amr-wb', 'opus', 'ogg-opus', 'speex', 'g729'];
const OUTPUT_ENCODINGS = ['linear16', 'mulaw', 'alaw', 'mp3', 'opus', 'flac', 'aac'];

export class FakeAgentConn {
  readonly texts: Record<string, unknown>[] = [];
  readonly headers: IncomingMessage['headers'];
  audioBytes = 0;
  settings: Record<string, unknown> | undefined;
  readonly functionResponses: Record<string, unknown>[] = [];
  readonly closed: Promise<void>;
  turns = 0;
  #bytesInTurn = 0;
  #speaking = false;
  /** The caller spoke over the reply in progress: it stops. */
  #bargedIn = false;
  readonly #ws: WebSocket;
  readonly #fake: DeepgramAgentFake;

  constructor(ws: WebSocket, req: IncomingMessage, fake: DeepgramAgentFake) {
    this.#ws = ws;
    this.#fake = fake;
    this.headers = req.headers;
    this.closed = new Promise((resolve) => ws.on('close', () => resolve()));
    this.send({ type: 'Welcome', request_id: 'fake-request-id' });
    ws.on('message', (data, isBinary) => (isBinary ? this.#onAudio(toBuffer(data)) : this.#onText(toBuffer(data).toString('utf8'))));
  }

  get types(): string[] {
    return this.texts.map((t) => String(t.type));
  }

  send(data: object | Uint8Array): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    if (data instanceof Uint8Array) this.#ws.send(data, { binary: true });
    else this.#ws.send(JSON.stringify(data));
  }

  close(code = 1000): void {
    this.#ws.close(code);
  }

  #error(code: string, description: string): void {
    this.send({ type: 'Error', code, description });
  }

  #onText(text: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.#error('UNPARSABLE_CLIENT_MESSAGE', 'not JSON');
      return;
    }
    this.texts.push(msg);
    if (msg.type === 'Settings') return this.#onSettings(msg);
    if (!this.settings) return this.#error('NON_SETTINGS_MESSAGE_BEFORE_SETTINGS', `${String(msg.type)} before Settings`);
    switch (msg.type) {
      case 'KeepAlive':
        return;
      case 'ForceEndTurn': {
        const provider = ((this.settings.agent as Record<string, unknown>).listen as { provider?: { version?: string } } | undefined)?.provider;
        if (provider?.version !== 'v2') return this.send({ type: 'Warning', code: 'FORCE_END_TURN_UNSUPPORTED', description: 'needs a v2 listen provider' });
        // "No turn in progress: the message is ignored."
        if (this.#bytesInTurn > 0) this.#endTurn();
        return;
      }
      case 'FunctionCallResponse':
        this.functionResponses.push(msg);
        return;
      case 'InjectUserMessage':
        return this.#answer(String(msg.content));
      default:
        return this.#error('UNPARSABLE_CLIENT_MESSAGE', `unknown type ${String(msg.type)}`);
    }
  }

  #onSettings(msg: Record<string, unknown>): void {
    if (this.settings) return this.#error('SETTINGS_ALREADY_APPLIED', 'one Settings per session');
    const audio = msg.audio as { input?: { encoding?: unknown; sample_rate?: unknown }; output?: { encoding?: unknown } } | undefined;
    const agent = msg.agent as Record<string, unknown> | undefined;
    const input = audio?.input;
    if (!audio || !agent || typeof agent !== 'object') return this.#error('INVALID_SETTINGS', 'audio and agent are required');
    if (input && (!INPUT_ENCODINGS.includes(String(input.encoding)) || typeof input.sample_rate !== 'number')) return this.#error('INVALID_SETTINGS', 'audio.input');
    if (audio.output?.encoding !== undefined && !OUTPUT_ENCODINGS.includes(String(audio.output.encoding))) return this.#error('INVALID_SETTINGS', 'audio.output.encoding');
    const messages = (agent.context as { messages?: unknown[] } | undefined)?.messages ?? [];
    for (const m of messages) {
      const h = m as { type?: unknown; role?: unknown; content?: unknown };
      if (h.type !== 'History' || typeof h.content !== 'string' || typeof h.role !== 'string') return this.#error('INVALID_SETTINGS', 'agent.context.messages');
    }
    this.settings = msg;
    this.send({ type: 'SettingsApplied' });
  }

  #onAudio(bytes: Buffer): void {
    if (!this.settings) return this.#error('NON_SETTINGS_MESSAGE_BEFORE_SETTINGS', 'audio before Settings');
    this.audioBytes += bytes.length;
    this.#bytesInTurn += bytes.length;
    const auto = this.#fake.options.autoTurnAfterBytes;
    if (this.#speaking && this.#bytesInTurn === bytes.length) {
      this.send({ type: 'UserStartedSpeaking' });
      this.#bargedIn = true;
    }
    if (auto !== undefined && this.#bytesInTurn >= auto) this.#endTurn();
  }

  #endTurn(): void {
    this.#bytesInTurn = 0;
    const said = this.#fake.options.transcript ?? 'hello agent';
    this.send({ type: 'ConversationText', role: 'user', content: said });
    this.#answer(said);
  }

  #answer(userText: string): void {
    const turn = ++this.turns;
    const o = this.#fake.options;
    const reply = o.reply ? o.reply(userText, turn) : `Reply ${String(turn)}.`;
    this.send({ type: 'AgentThinking', content: '' });
    const finish = () => {
      this.send({ type: 'ConversationText', role: 'assistant', content: reply });
      const fns = ((this.settings?.agent as Record<string, unknown>).think as { functions?: { name?: string }[] } | undefined)?.functions ?? [];
      if (o.endCallOn && userText.includes(o.endCallOn) && fns.some((f) => f.name === 'end_call')) {
        this.send({ type: 'FunctionCallRequest', functions: [{ id: `fc_${String(turn)}`, name: 'end_call', arguments: '{"reason":"caller said goodbye"}', client_side: true }] });
      }
      this.send({ type: 'AgentAudioDone' });
      this.#speaking = false;
    };
    const go = () => {
      this.#speaking = true;
      this.#bargedIn = false;
      if (this.settings?.experimental === true) this.send({ type: 'AgentStartedSpeaking', total_latency: 0.1, tts_latency: 0.05, ttt_latency: 0.05 });
      const audio = Buffer.alloc(reply.length * (o.bytesPerChar ?? 8), 0x55);
      if (!o.paceMs) {
        for (let i = 0; i < audio.length; i += 160) this.send(audio.subarray(i, i + 160));
        finish();
        return;
      }
      let at = 0;
      const tick = () => {
        if (this.#bargedIn) {
          this.#speaking = false;
          if (o.audioDoneOnBargeIn) this.send({ type: 'AgentAudioDone' });
          return;
        }
        if (at >= audio.length) return finish();
        this.send(audio.subarray(at, at + 160));
        at += 160;
        setTimeout(tick, o.paceMs);
      };
      tick();
    };
    if (o.replyDelayMs) setTimeout(go, o.replyDelayMs);
    else go();
  }
}

export class DeepgramAgentFake {
  readonly options: AgentFakeOptions;
  readonly conns: FakeAgentConn[] = [];
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #sockets = new Set<Socket>();
  #port = 0;

  private constructor(options: AgentFakeOptions) {
    this.options = options;
    this.#server = createServer((_req, res) => res.writeHead(404).end());
    this.#server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.on('error', () => undefined);
      const path = new URL(req.url ?? '/', 'ws://fake').pathname;
      const reject = (status: number) => socket.end(`HTTP/1.1 ${String(status)} Rejected\r\nConnection: close\r\n\r\n`);
      if (path !== '/v1/agent/converse') return reject(404);
      if (req.headers.authorization !== `Token ${this.options.apiKey}`) return reject(401);
      if (this.options.handshakeStatus) return reject(this.options.handshakeStatus);
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.conns.push(new FakeAgentConn(ws, req, this)));
    });
  }

  static async start(options: AgentFakeOptions): Promise<DeepgramAgentFake> {
    const fake = new DeepgramAgentFake(options);
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    const addr = fake.#server.address();
    fake.#port = typeof addr === 'object' && addr ? addr.port : 0;
    return fake;
  }

  get url(): string {
    return `ws://127.0.0.1:${String(this.#port)}`;
  }

  get last(): FakeAgentConn {
    const c = this.conns.at(-1);
    if (!c) throw new Error('no agent socket yet');
    return c;
  }

  async close(): Promise<void> {
    for (const ws of this.#wss.clients) ws.terminate();
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
