/** The shapes a Call is built from and reports: its transport, options and snapshot. */
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { AudioFormat, WireFormat } from '../pipeline/frame.js';
import { isPassthrough } from '../pipeline/ingress-graph.js';
import type { VadService } from '../pipeline/vad/vad-service.js';
import type { Provider } from '../providers/types.js';
import type { ChunkPool } from './chunk-pool.js';
import type { EgressClock } from './egress-clock.js';
import type { FailoverSettings, GuardedLike, SwitchRecord } from './failover.js';

/** The media ends a call can come in on (transports/media-events.ts re-exports it). */
export type TransportName = 'twilio' | 'telnyx' | 'webrtc';

export interface CallTransport {
  readonly name: TransportName;
  readonly format: WireFormat;
  sendMedia(payload: Uint8Array): void;
  sendMark(name: string): void;
  sendClear(): void;
  /** Close the media connection (for Twilio: the TwiML after <Connect> runs). */
  close(code?: number, reason?: string): void;
  /**
   * The far end drops what it buffered when sent `clear` (Twilio, Telnyx), so egress may run the full
   * EGRESS_LEAD_MS ahead at no cost to barge-in. Others (WebRTC: the browser keeps its jitter buffer)
   * get at most SHORT_EGRESS_LEAD_MS.
   */
  readonly dropsBufferOnClear?: boolean;
  /**
   * A media message may carry several frames (the JSON carriers: Twilio plays any length; Telnyx takes
   * 20 ms to 30 s in RTP mode). With `dropsBufferOnClear`, egress then joins the frames already
   * queued into messages of up to EGRESS_FRAMES_PER_MESSAGE. WebRTC sends one RTP packet per frame.
   */
  readonly multiFrameMedia?: boolean;
  /** Hold this connection's writes until `uncork`, so one egress tick's messages leave together. */
  cork?(): void;
  uncork?(): void;
}

/** What `onEnded` is told about the call that ended (a Call is one; this module does not import it). */
export interface EndedCall {
  readonly id: string;
  snapshot(): CallSnapshot;
}

export interface CallOptions {
  readonly id: string;
  readonly carrierCallId: string;
  readonly correlationId: string;
  readonly transport: CallTransport;
  /** The provider to start on. */
  readonly provider: Provider;
  /** Every configured provider, in PROVIDERS order: the failover candidates. */
  readonly providers?: readonly GuardedLike[];
  readonly failover?: FailoverSettings;
  readonly vad: VadService;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly media: { egressLeadMs: number; egressMaxQueueMs: number; egressFramesPerMessage?: number; audioChunkMsFor?: (provider: string) => number };
  /** The process's one egress clock (gateway.ts); without it the call's egress keeps a timer of its own. */
  readonly egressClock?: EgressClock;
  /** The process's byte chunks for the replay ring and the egress queue (gateway.ts); without it each keeps its own. */
  readonly ringChunks?: ChunkPool;
  readonly customParameters?: Record<string, string>;
  readonly instructions?: string;
  readonly direction?: 'inbound' | 'outbound';
  readonly from?: string;
  readonly to?: string;
  readonly metadata?: Record<string, unknown>;
  /** Caller key presses go to the provider as text ("The caller pressed 5."). */
  readonly dtmfToProvider?: boolean;
  readonly onEnded?: (call: EndedCall) => void;
  /**
   * The provider ended the call (its goodbye has played): hang up through call control, so the carrier
   * leg ends too. Without it the call only closes its media side.
   */
  readonly onProviderHangup?: (callId: string, reason: string) => void;
}

export interface BargeIn {
  readonly atMs: number;
  readonly responseId: string;
  readonly heardMs: number;
  readonly framesDropped: number;
  /**
   * From the caller's first speech window to the clear, in ms (see TurnTaking.callerSpeechStarted);
   * absent when the provider's own VAD heard the caller.
   */
  readonly reactionMs?: number;
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
  switches: SwitchRecord[];
  switching: boolean;
}

/** Choose what the provider gets: the carrier codec untouched if it takes it, else PCM16 at its first rate. */
export function negotiateInput(wire: WireFormat, accepted: readonly AudioFormat[]): AudioFormat {
  const direct = accepted.find((f) => isPassthrough(wire, f));
  if (direct) return direct;
  return accepted.find((f) => f.codec === 'pcm16') ?? { codec: 'pcm16', sampleRate: wire.sampleRate };
}

