/**
 * The speak side of a Deepgram session: reply text out (`Speak` + `Flush`), audio in. Deepgram
 * answers flushes in order, so replies in flight are a FIFO: binary frames belong to the head and
 * `Flushed` completes it. A barge-in sends `Clear`; audio that was already on the wire for the
 * cleared replies is dropped until `Cleared` comes back. Deepgram allows 20 flushes a minute per
 * socket: `FlushLimiter` holds a reply back rather than have it refused.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../observability/logger.js';
import { pcm16FromBytes, type AudioFormat } from '../../pipeline/frame.js';
import type { Inbound, SocketLink, SpeakSocket } from './socket.js';
import { describeType, type ChannelSink } from './stt.js';

export type SpeakEncoding = 'mulaw' | 'alaw' | 'linear16';

export interface SpeakFormat {
  readonly encoding: SpeakEncoding;
  readonly sampleRate: number;
}

export function audioFormatOf(format: SpeakFormat): AudioFormat {
  return { codec: format.encoding === 'linear16' ? 'pcm16' : format.encoding, sampleRate: format.sampleRate };
}

/** A sliding-window rate limit: at most `count` acquisitions in any `windowMs`. */
export class FlushLimiter {
  readonly #count: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #sent: number[] = [];

  constructor(count: number, windowMs: number, now: () => number = () => performance.now()) {
    this.#count = count;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** Resolves when one more may go out (and counts it); rejects if `signal` aborts first. */
  async acquire(signal: AbortSignal): Promise<void> {
    for (;;) {
      signal.throwIfAborted();
      const now = this.#now();
      while (this.#sent.length > 0 && now - this.#sent[0] >= this.#windowMs) this.#sent.shift();
      if (this.#sent.length < this.#count) {
        this.#sent.push(now);
        return;
      }
      await sleep(this.#sent[0] + this.#windowMs - now, signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

interface Reply {
  readonly id: string;
  started: boolean;
  /** Media time of the next frame, from the reply's start. */
  tMs: number;
  /** Flushes sent and not yet answered with Flushed. */
  pendingFlushes: number;
  /** Text sent since the last Flush. */
  unflushed: boolean;
  /** finish() was called: the reply is complete once its last Flushed comes back. */
  finished: boolean;
}

export class SpeakChannel {
  readonly #socket: SpeakSocket;
  readonly #link: SocketLink;
  readonly #format: SpeakFormat;
  readonly #limiter: FlushLimiter;
  readonly #sink: ChannelSink;
  readonly #log: Logger;
  readonly #closeWaitMs: number;
  readonly #inflight: Reply[] = [];
  /** Clears sent and not yet confirmed: audio until then belongs to cleared replies. */
  #clearing = 0;
  #droppedBytes = 0;
  #seq = 0;

  constructor(deps: { socket: SpeakSocket; link: SocketLink; format: SpeakFormat; limiter: FlushLimiter; sink: ChannelSink; log: Logger; closeWaitMs: number }) {
    this.#socket = deps.socket;
    this.#link = deps.link;
    this.#format = deps.format;
    this.#limiter = deps.limiter;
    this.#sink = deps.sink;
    this.#log = deps.log;
    this.#closeWaitMs = deps.closeWaitMs;
  }

  start(onEnded: (code: number, reason: string) => void): void {
    this.#link.start({ message: (m) => this.#handle(m), ended: onEnded });
  }

  /** Send a whole reply to be spoken. Returns its response id, or undefined if the socket is gone. */
  async speak(text: string, signal: AbortSignal): Promise<string | undefined> {
    if (!this.#link.isOpen) return undefined;
    const id = this.begin();
    await this.say(id, text, { flush: true, signal });
    await this.finish(id, signal);
    return id;
  }

  /**
   * Open a reply that is streamed sentence by sentence (`say`, then `finish`). Replies are answered
   * in order, so audio until the reply's last `Flushed` belongs to it.
   */
  begin(): string {
    const reply: Reply = { id: randomUUID(), started: false, tMs: 0, pendingFlushes: 0, unflushed: false, finished: false };
    this.#inflight.push(reply);
    return reply.id;
  }

  /**
   * More text for a reply. `flush` asks Deepgram to speak what it has now (the first sentence, for the
   * earliest audio); otherwise the text waits for a later flush, which keeps a reply within Deepgram's
   * flush limit. A reply that was cleared meanwhile takes nothing more.
   */
  async say(id: string, text: string, opts: { flush: boolean; signal: AbortSignal }): Promise<void> {
    if (opts.flush) await this.#limiter.acquire(opts.signal);
    const reply = this.#find(id);
    if (!reply || !this.#link.isOpen) return;
    this.#socket.sendText({ type: 'Speak', text });
    if (opts.flush) this.#flush(reply);
    else reply.unflushed = true;
  }

  /** No more text: flush what is left. The reply ends (responseDone) at its last Flushed. */
  async finish(id: string, signal: AbortSignal): Promise<void> {
    let reply = this.#find(id);
    if (reply?.unflushed) {
      await this.#limiter.acquire(signal);
      reply = this.#find(id);
      if (reply && this.#link.isOpen) this.#flush(reply);
    }
    if (!reply) return;
    reply.finished = true;
    // Nothing was ever sent: nothing will come back, and nothing was said.
    if (reply.pendingFlushes === 0) this.#inflight.splice(this.#inflight.indexOf(reply), 1);
  }

  #find(id: string): Reply | undefined {
    return this.#inflight.find((r) => r.id === id);
  }

  #flush(reply: Reply): void {
    this.#socket.sendFlush({ type: 'Flush' });
    reply.pendingFlushes++;
    reply.unflushed = false;
  }

  /** Barge-in: stop every reply in flight. Returns the ids of those that had started playing. */
  clear(): string[] {
    if (this.#inflight.length === 0) return [];
    const cleared = this.#inflight.splice(0);
    if (this.#link.isOpen) {
      this.#socket.sendClear({ type: 'Clear' });
      this.#clearing++;
    }
    return cleared.filter((r) => r.started).map((r) => r.id);
  }

  close(): Promise<void> {
    return this.#link.close(() => this.#socket.sendClose({ type: 'Close' }), this.#closeWaitMs);
  }

  abandon(): Promise<void> {
    return this.#link.close(undefined, this.#closeWaitMs);
  }

  #handle(m: Inbound): void {
    if (m.kind === 'binary') {
      this.#onAudio(m.bytes);
      return;
    }
    if (m.kind === 'text') {
      this.#sink.protocolError(`unparseable text frame (${String(m.raw.length)} chars) on the speak socket`);
      return;
    }
    const msg = m.value as { type?: unknown } | null;
    switch (typeof msg === 'object' && msg !== null ? msg.type : undefined) {
      case 'Flushed':
        this.#onFlushed();
        return;
      case 'Cleared':
        if (this.#clearing > 0) this.#clearing--;
        if (this.#clearing === 0 && this.#droppedBytes > 0) {
          this.#log.debug({ event: 'deepgram_clear_done', droppedBytes: this.#droppedBytes }, 'dropped the audio of cleared replies');
          this.#droppedBytes = 0;
        }
        return;
      case 'Metadata':
        return;
      case 'Warning': {
        const w = msg as { code?: unknown; description?: unknown };
        this.#log.warn({ event: 'deepgram_speak_warning', code: String(w.code), description: String(w.description) }, 'deepgram speak warning');
        return;
      }
      case 'Error': {
        const e = msg as { description?: unknown; err_msg?: unknown; message?: unknown };
        this.#sink.remoteError(String(e.description ?? e.err_msg ?? e.message ?? 'speak error'));
        return;
      }
      default:
        this.#sink.protocolError(`unknown speak message type ${describeType(msg)}`);
    }
  }

  #onAudio(bytes: Uint8Array): void {
    if (this.#clearing > 0) {
      this.#droppedBytes += bytes.length;
      return;
    }
    const reply = this.#inflight[0];
    if (!reply) {
      this.#sink.protocolError(`audio (${String(bytes.length)} bytes) with no reply asked for`);
      return;
    }
    if (bytes.length === 0) return;
    const { encoding, sampleRate } = this.#format;
    if (encoding === 'linear16' && bytes.length % 2 !== 0) {
      this.#sink.protocolError(`linear16 audio frame with an odd byte count (${String(bytes.length)})`);
      return;
    }
    if (!reply.started) {
      reply.started = true;
      this.#sink.emit({ type: 'responseStart', responseId: reply.id });
    }
    const timestampMs = reply.tMs;
    const seq = this.#seq++;
    if (encoding === 'linear16') {
      const samples = pcm16FromBytes(bytes);
      reply.tMs += (samples.length * 1000) / sampleRate;
      this.#sink.emit({ type: 'audio', responseId: reply.id, frame: { samples, sampleRate, seq, timestampMs } });
      return;
    }
    reply.tMs += (bytes.length * 1000) / sampleRate;
    this.#sink.emit({ type: 'audio', responseId: reply.id, frame: { codec: encoding, payload: bytes, sampleRate, seq, timestampMs, sampleCount: bytes.length } });
  }

  #onFlushed(): void {
    // A Flushed racing our Clear belongs to a cleared reply.
    if (this.#clearing > 0) return;
    const reply = this.#inflight[0];
    if (!reply || reply.pendingFlushes === 0) {
      this.#log.debug({ event: 'deepgram_stray_flushed' }, 'Flushed with no reply in flight');
      return;
    }
    reply.pendingFlushes--;
    // More text may still come for a reply that is not finished: its audio keeps arriving here.
    if (reply.pendingFlushes > 0 || !reply.finished) return;
    this.#inflight.shift();
    if (!reply.started) this.#sink.emit({ type: 'responseStart', responseId: reply.id });
    this.#sink.emit({ type: 'responseDone', responseId: reply.id });
  }
}
