/**
 * The embedded default provider: no keys, no network. It keeps the caller's recent audio and, when
 * our VAD ends a turn, plays that turn back. Because it takes PCM16 at 16 kHz (like Gemini) the echo
 * path exercises decode, resampling both ways, VAD, turn-taking, barge-in and egress encoding.
 */
import { randomUUID } from 'node:crypto';
import type { AudioFormat, AudioFrame, EncodedFrame } from '../../pipeline/frame.js';
import { AsyncQueue } from '../../util/async-queue.js';
import type { Provider, ProviderConnectOptions, ProviderEvent, ProviderSession, TurnInfo } from '../types.js';

export interface EchoOptions {
  /** Delay before a reply starts, to stand in for a model's thinking time. */
  readonly replyDelayMs?: number;
  /** How much caller audio is kept to answer from. */
  readonly historyMs?: number;
}

const FORMAT: AudioFormat = { codec: 'pcm16', sampleRate: 16000 };

export class EchoProvider implements Provider {
  readonly name = 'echo';
  readonly inputFormats: readonly AudioFormat[] = [FORMAT];
  readonly #options: EchoOptions;

  constructor(options: EchoOptions = {}) {
    this.#options = options;
  }

  async connect(options: ProviderConnectOptions): Promise<ProviderSession> {
    options.signal?.throwIfAborted();
    return new EchoSession(this.#options);
  }
}

class EchoSession implements ProviderSession {
  readonly provider = 'echo';
  readonly inputFormat = FORMAT;
  readonly outputFormat = FORMAT;
  readonly #queue = new AsyncQueue<ProviderEvent>();
  readonly #recent: AudioFrame[] = [];
  readonly #historyMs: number;
  readonly #replyDelayMs: number;
  readonly #timers = new Set<NodeJS.Timeout>();
  #seq = 0;

  constructor(options: EchoOptions) {
    this.#historyMs = options.historyMs ?? 60_000;
    this.#replyDelayMs = options.replyDelayMs ?? 0;
  }

  get events(): AsyncIterable<ProviderEvent> {
    return this.#queue;
  }

  pushAudio(frame: AudioFrame | EncodedFrame): void {
    if (!('samples' in frame)) return; // echo negotiates pcm16 only
    this.#recent.push(frame);
    const horizon = frame.timestampMs - this.#historyMs;
    let drop = 0;
    while (drop < this.#recent.length && this.#recent[drop].timestampMs < horizon) drop++;
    if (drop > 0) this.#recent.splice(0, drop);
  }

  endTurn(turn: TurnInfo): void {
    const frames = this.#recent.filter((f) => f.timestampMs + (f.samples.length * 1000) / f.sampleRate > turn.startMs && f.timestampMs < turn.endMs);
    if (frames.length === 0) return;
    const reply = () => {
      const responseId = randomUUID();
      this.#queue.push({ type: 'responseStart', responseId });
      let t = 0;
      for (const f of frames) {
        this.#queue.push({
          type: 'audio',
          responseId,
          frame: { samples: f.samples, sampleRate: f.sampleRate, seq: this.#seq++, timestampMs: t },
        });
        t += (f.samples.length * 1000) / f.sampleRate;
      }
      this.#queue.push({ type: 'responseDone', responseId });
    };
    if (this.#replyDelayMs <= 0) {
      reply();
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      reply();
    }, this.#replyDelayMs);
    this.#timers.add(timer);
  }

  appendHistory(): void {
    // Echo answers from audio alone; the conversation text has nothing to change here.
  }

  interrupt(): void {
    // Replies are emitted whole; the call drops what it has queued. Nothing is left to stop here.
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#queue.end();
  }
}
