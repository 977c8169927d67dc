/**
 * One caller. Owns the ingress graph (decode -> VAD tap -> resample -> provider sink), the provider
 * session, the egress queue and the turn logic that ties them: a caller turn end asks the provider to
 * answer; caller speech over a reply is a barge-in (clear the carrier, drop our queue, interrupt the
 * provider, record how much was heard).
 */
import { createHistogram } from 'node:perf_hooks';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { AudioFrame, WireFormat } from '../pipeline/frame.js';
import { pcmFormatOf, type TransportName } from '../transports/media-events.js';
import { Resampler } from '../pipeline/resample/resampler.js';
import { IngressGraph, isPassthrough } from '../pipeline/ingress-graph.js';
import type { CallVad } from '../pipeline/vad/call-vad.js';
import type { TurnEvent } from '../pipeline/vad/turn-detector.js';
import type { VadService } from '../pipeline/vad/vad-service.js';
import type { AudioFormat } from '../pipeline/frame.js';
import type { Provider, ProviderSession } from '../providers/types.js';
import { isGatewayError } from '../errors.js';
import { Egress } from './egress.js';
import { pcmCodec } from '../pipeline/codecs/wire-codec.js';
import { ProviderSink } from './provider-sink.js';

export interface CallTransport {
  readonly name: TransportName;
  readonly format: WireFormat;
  sendMedia(payload: Uint8Array): void;
  sendMark(name: string): void;
  sendClear(): void;
  /** Close the media connection (for Twilio: the TwiML after <Connect> runs). */
  close(code?: number, reason?: string): void;
}

export interface CallOptions {
  readonly id: string;
  readonly carrierCallId: string;
  readonly correlationId: string;
  readonly transport: CallTransport;
  readonly provider: Provider;
  readonly vad: VadService;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly media: { egressLeadMs: number; egressMaxQueueMs: number };
  readonly customParameters?: Record<string, string>;
  readonly instructions?: string;
  readonly direction?: 'inbound' | 'outbound';
  readonly from?: string;
  readonly to?: string;
  readonly metadata?: Record<string, unknown>;
  /** Caller key presses go to the provider as text ("The caller pressed 5."). */
  readonly dtmfToProvider?: boolean;
  readonly onEnded?: (call: Call) => void;
}

export interface BargeIn {
  readonly atMs: number;
  readonly responseId: string;
  readonly heardMs: number;
  readonly framesDropped: number;
}

export type CallState = 'connecting' | 'active' | 'ending' | 'ended';

export interface TranscriptEntry {
  role: 'user' | 'assistant';
  text: string;
  /** Call media time when it was received. */
  atMs: number;
  provider: string;
}

export interface CallSnapshot {
  callId: string;
  carrierCallId: string;
  correlationId: string;
  direction: 'inbound' | 'outbound';
  from: string | undefined;
  to: string | undefined;
  metadata: Record<string, unknown> | undefined;
  transport: string;
  codec: string;
  sampleRate: number;
  provider: string;
  state: CallState;
  startedAt: string;
  endedAt: string | undefined;
  endReason: string | undefined;
  framesIn: number;
  framesOut: number;
  framesDropped: number;
  turns: number;
  bargeIns: BargeIn[];
  dtmf: { digit: string; atMs: number; direction: 'in' | 'out' }[];
  vadEngine: string;
  providersUsed: string[];
  transcripts: TranscriptEntry[];
  latency: { ingressP50Ms: number; ingressP99Ms: number; ingressMaxMs: number; replyLatencyMs: number[] };
}

/** Choose what the provider gets: the carrier codec untouched if it takes it, else PCM16 at its first rate. */
export function negotiateInput(wire: WireFormat, accepted: readonly AudioFormat[]): AudioFormat {
  const direct = accepted.find((f) => isPassthrough(wire, f));
  if (direct) return direct;
  return accepted.find((f) => f.codec === 'pcm16') ?? { codec: 'pcm16', sampleRate: wire.sampleRate };
}

export class Call {
  readonly id: string;
  readonly carrierCallId: string;
  readonly correlationId: string;
  readonly startedAt = new Date();
  readonly #opts: CallOptions;
  readonly #log: Logger;
  readonly #transport: CallTransport;
  readonly #graph: IngressGraph;
  readonly #sink: ProviderSink;
  readonly #egress: Egress;
  readonly #vad: CallVad;
  readonly #inputFormat: AudioFormat;
  readonly #bargeIns: BargeIn[] = [];
  readonly #dtmf: { digit: string; atMs: number; direction: 'in' | 'out' }[] = [];
  readonly #transcripts: TranscriptEntry[] = [];
  readonly #providersUsed: string[] = [];
  readonly #ingressLatency = createHistogram({ lowest: 1, highest: 60_000_000_000, figures: 2 });
  readonly #replyLatencyMs: number[] = [];
  #turnEndedAt: number | undefined;
  readonly #abort = new AbortController();
  #session: ProviderSession | undefined;
  #state: CallState = 'connecting';
  #endedAt: Date | undefined;
  #endReason: string | undefined;
  #seq = 0;
  #samplesIn = 0;
  #framesIn = 0;
  #framesDropped = 0;
  #turns = 0;
  #ended: Promise<void> | undefined;

  constructor(opts: CallOptions) {
    this.#opts = opts;
    this.id = opts.id;
    this.carrierCallId = opts.carrierCallId;
    this.correlationId = opts.correlationId;
    this.#transport = opts.transport;
    this.#log = opts.logger;
    const wire = opts.transport.format;
    this.#inputFormat = negotiateInput(wire, opts.provider.inputFormats);
    const drop = (stage: string) => (n: number) => {
      this.#framesDropped += n;
      opts.metrics.framesDroppedTotal.inc({ stage }, n);
    };
    this.#sink = new ProviderSink({ maxHeldFrames: 30_000 / 20, onDrop: drop('provider_hold') });
    // Silero runs at 8 or 16 kHz: telephony audio goes in as it is, anything else is brought to 16 kHz.
    const vadRate = wire.sampleRate === 8000 || wire.sampleRate === 16000 ? wire.sampleRate : 16000;
    const vadResampler = vadRate === wire.sampleRate ? undefined : new Resampler({ from: wire.sampleRate, to: vadRate });
    this.#vad = opts.vad.createCallVad({ callId: this.id, sampleRate: vadRate, onEvent: (e) => this.#onTurnEvent(e), logger: this.#log });
    // The resampler's filter delay shifts VAD time a few ms late; turn timestamps stay in caller media time.
    const vadDelayMs = vadResampler?.delayMs ?? 0;
    this.#graph = new IngressGraph({
      wireFormat: wire,
      sinkFormat: this.#inputFormat,
      onPcm: (pcm: AudioFrame) => {
        if (!vadResampler) this.#vad.push(pcm.samples, pcm.timestampMs);
        else {
          const samples = vadResampler.process(pcm.samples);
          if (samples.length > 0) this.#vad.push(samples, Math.max(0, pcm.timestampMs - vadDelayMs));
        }
      },
      sink: (frame, receivedAtMs) => {
        this.#sink.write(frame);
        opts.metrics.latency.recordSince('ingress', receivedAtMs);
        const ns = Math.round((performance.now() - receivedAtMs) * 1e6);
        this.#ingressLatency.record(ns > 0 ? ns : 1);
      },
      maxQueuedFrames: 500,
      onDrop: drop('ingress_overflow'),
      onError: (err) => this.#log.error({ event: 'ingress_error', err }, 'ingress graph failed'),
    });
    this.#egress = new Egress({
      format: wire,
      sink: {
        sendMedia: (payload) => {
          this.#transport.sendMedia(payload);
          opts.metrics.framesOutTotal.inc({ transport: this.#transport.name });
        },
        sendMark: (name) => this.#transport.sendMark(name),
      },
      leadMs: opts.media.egressLeadMs,
      maxQueueMs: opts.media.egressMaxQueueMs,
      onDrop: drop('egress_overflow'),
      onFirstFrame: (ms) => opts.metrics.latency.recordSince('egress', performance.now() - ms),
    });
    const fixed = opts.metrics.latency.fixedDelayMs;
    if (this.#graph.fixedDelayMs > 0) fixed.set(`ingress_resample_${String(wire.sampleRate)}_${String(this.#inputFormat.sampleRate)}`, this.#graph.fixedDelayMs);
    // Silero scores 32 ms windows at both rates (256 samples at 8 kHz, 512 at 16 kHz).
    fixed.set(`vad_window_${String(vadRate)}`, 32);
  }

  get state(): CallState {
    return this.#state;
  }

  get inputFormat(): AudioFormat {
    return this.#inputFormat;
  }

  /** Connect the provider and start relaying its events. Frames that arrive meanwhile are held. */
  async start(): Promise<void> {
    const { provider } = this.#opts;
    try {
      const session = await provider.connect({
        callId: this.id,
        inputFormat: this.#inputFormat,
        callerFormat: pcmFormatOf(this.#transport.format),
        instructions: this.#opts.instructions,
        history: [],
        logger: this.#log,
        signal: this.#abort.signal,
      });
      if (this.#state === 'ending' || this.#state === 'ended') {
        await session.close();
        return;
      }
      this.#session = session;
      this.#providersUsed.push(session.provider);
      this.#sink.attach(session);
      this.#state = 'active';
      void this.#relay(session);
    } catch (err) {
      this.#log.error({ event: 'provider_unavailable', provider: provider.name, code: isGatewayError(err) ? err.code : undefined }, 'no provider could take the call');
      void this.end('provider_unavailable');
    }
  }

  /** One media payload from the transport; `receivedAtMs` is performance.now() at its message event. */
  handleMedia(payload: Uint8Array, receivedAtMs = performance.now()): void {
    if (this.#state === 'ending' || this.#state === 'ended') return;
    const rate = this.#transport.format.sampleRate;
    const timestampMs = (this.#samplesIn * 1000) / rate;
    this.#samplesIn += pcmCodec(this.#transport.format.codec).bytesPerSample === 2 ? payload.length >> 1 : payload.length;
    this.#framesIn++;
    this.#opts.metrics.framesInTotal.inc({ transport: this.#transport.name });
    this.#graph.write({ payload, seq: this.#seq++, timestampMs, receivedAtMs });
  }

  handleMark(name: string): void {
    this.#egress.onMark(name);
  }

  handleDtmf(digit: string): void {
    this.#dtmf.push({ digit, atMs: Math.round(this.mediaTimeMs), direction: 'in' });
    this.#log.info({ event: 'dtmf', digit }, 'caller pressed a key');
    if (this.#opts.dtmfToProvider !== false) this.#session?.sendText?.(`The caller pressed ${digit} on the keypad.`);
  }

  /** Caller media time now: how much caller audio has arrived, in ms. */
  get mediaTimeMs(): number {
    return (this.#samplesIn * 1000) / this.#transport.format.sampleRate;
  }

  /** Note digits we sent toward the caller (the route does the sending). */
  recordDtmfOut(digits: string): void {
    for (const digit of digits) this.#dtmf.push({ digit, atMs: Math.round(this.mediaTimeMs), direction: 'out' });
  }

  /** Play audio to the caller outside any provider reply (tones, prompts), paced like a reply. */
  playAudio(frame: AudioFrame, label: string): void {
    const id = `${label}:${String(this.#seq)}`;
    this.#egress.pushAudio(frame, id);
    this.#egress.endResponse(id);
  }

  #onTurnEvent(e: TurnEvent): void {
    if (this.#state === 'ending' || this.#state === 'ended') return;
    if (e.type === 'speechStart') {
      if (this.#egress.playing) this.#bargeIn(e.timestampMs);
      return;
    }
    this.#turns++;
    this.#turnEndedAt = performance.now();
    this.#opts.metrics.turnsTotal.inc();
    this.#log.debug({ event: 'turn_end', startMs: e.startMs, endMs: e.timestampMs }, 'caller turn ended');
    this.#sink.endTurn({ startMs: e.startMs, endMs: e.timestampMs });
  }

  #bargeIn(atMs: number): void {
    const responseId = this.#egress.currentResponseId ?? this.#lastResponseId ?? '';
    const heardMs = this.#egress.heardMs(responseId);
    this.#transport.sendClear();
    const framesDropped = this.#egress.clear();
    this.#opts.metrics.bargeInsTotal.inc();
    if (framesDropped > 0) this.#opts.metrics.framesDroppedTotal.inc({ stage: 'barge_in' }, framesDropped);
    this.#session?.interrupt({ responseId, heardMs });
    const record = { atMs, responseId, heardMs, framesDropped };
    this.#bargeIns.push(record);
    this.#log.info({ event: 'barge_in', ...record }, 'caller spoke over the reply');
  }

  #lastResponseId: string | undefined;

  async #relay(session: ProviderSession): Promise<void> {
    try {
      for await (const ev of session.events) {
        if (this.#state === 'ending' || this.#state === 'ended') break;
        switch (ev.type) {
          case 'responseStart':
            this.#lastResponseId = ev.responseId;
            break;
          case 'audio':
            if (this.#turnEndedAt !== undefined) {
              this.#replyLatencyMs.push(Math.round(performance.now() - this.#turnEndedAt));
              this.#turnEndedAt = undefined;
            }
            this.#egress.pushAudio(ev.frame, ev.responseId);
            break;
          case 'responseDone':
            this.#egress.endResponse(ev.responseId);
            break;
          case 'transcript':
            if (ev.final && ev.text.trim() !== '') {
              this.#transcripts.push({ role: ev.role, text: ev.text, atMs: Math.round(this.mediaTimeMs), provider: session.provider });
            }
            this.#log.debug({ event: 'transcript', role: ev.role, final: ev.final }, 'transcript');
            break;
          case 'speechStarted':
            // Provider-side VAD (server VAD modes) heard the caller: same barge-in as our own VAD.
            if (this.#egress.playing) this.#bargeIn((this.#samplesIn * 1000) / this.#transport.format.sampleRate);
            break;
          case 'speechStopped':
          case 'goAway':
            break;
          case 'error':
            this.#log.warn({ event: 'provider_error', provider: session.provider, fatal: ev.fatal, code: ev.error.code, err: ev.error }, 'provider error');
            break;
          case 'closed':
            this.#log.warn({ event: 'provider_closed', provider: session.provider, reason: ev.reason }, 'provider session closed');
            break;
        }
      }
    } catch (err) {
      this.#log.error({ event: 'provider_stream_failed', provider: session.provider, err }, 'provider event stream failed');
    }
  }

  /** End the call: flush what the graph holds to the provider, close everything, once. */
  end(reason: string): Promise<void> {
    this.#ended ??= this.#end(reason);
    return this.#ended;
  }

  async #end(reason: string): Promise<void> {
    this.#state = 'ending';
    this.#endReason = reason;
    this.#abort.abort();
    await this.#graph.end();
    this.#vad.close();
    this.#egress.close();
    const session = this.#sink.detach() ?? this.#session;
    if (session) {
      await session.close().catch((err: unknown) => this.#log.warn({ event: 'provider_close_failed', err }, 'provider close failed'));
    }
    this.#transport.close(1000, reason);
    this.#state = 'ended';
    this.#endedAt = new Date();
    this.#log.info(
      { event: 'call_ended', reason, carrierCallId: this.carrierCallId, framesIn: this.#framesIn, framesOut: this.#egress.framesSent, framesDropped: this.#framesDropped, turns: this.#turns },
      'call ended',
    );
    this.#opts.onEnded?.(this);
  }

  snapshot(): CallSnapshot {
    const wire = pcmFormatOf(this.#transport.format);
    const h = this.#ingressLatency;
    const ms = (ns: number) => Number((ns / 1e6).toFixed(3));
    return {
      callId: this.id,
      carrierCallId: this.carrierCallId,
      correlationId: this.correlationId,
      direction: this.#opts.direction ?? 'inbound',
      from: this.#opts.from,
      to: this.#opts.to,
      metadata: this.#opts.metadata,
      transport: this.#transport.name,
      codec: this.#transport.format.codec,
      sampleRate: wire.sampleRate,
      provider: this.#opts.provider.name,
      state: this.#state,
      startedAt: this.startedAt.toISOString(),
      endedAt: this.#endedAt?.toISOString(),
      endReason: this.#endReason,
      framesIn: this.#framesIn,
      framesOut: this.#egress.framesSent,
      framesDropped: this.#framesDropped,
      turns: this.#turns,
      bargeIns: [...this.#bargeIns],
      dtmf: [...this.#dtmf],
      vadEngine: this.#vad.engine,
      providersUsed: [...this.#providersUsed],
      transcripts: [...this.#transcripts],
      latency: {
        ingressP50Ms: h.count ? ms(h.percentile(50)) : 0,
        ingressP99Ms: h.count ? ms(h.percentile(99)) : 0,
        ingressMaxMs: h.count ? ms(h.max) : 0,
        replyLatencyMs: [...this.#replyLatencyMs],
      },
    };
  }
}
