/**
 * A call's egress wired to its transport: frames and marks to the far end (frames counted for the
 * transport), corked per tick, the lead chosen by what the far end does on `clear`, drops and
 * latencies into the metrics. Call owns the result; this only builds it.
 */
import type { Metrics } from '../observability/metrics.js';
import type { CallOptions, CallTransport } from './call-types.js';
import type { ChunkPool } from './chunk-pool.js';
import { Egress } from './egress.js';
import type { EgressClock } from './egress-clock.js';

/** Egress lead for a far end that keeps its buffer on `clear` (the lead before EGRESS_LEAD_MS grew to 250 ms). */
export const SHORT_EGRESS_LEAD_MS = 60;

export interface CallEgressOptions {
  readonly transport: CallTransport;
  readonly media: CallOptions['media'];
  readonly clock: EgressClock | undefined;
  /** The process's byte chunks, shared with the replay rings. */
  readonly chunks?: ChunkPool;
  readonly metrics: Metrics;
  /** Frames the queue dropped (already counted in the metric), for the call's own count. */
  readonly onDrop: (frames: number) => void;
  /** The far end confirmed a whole reply played. */
  readonly onPlayed: () => void;
}

export function createCallEgress(o: CallEgressOptions): Egress {
  const { transport, metrics } = o;
  const framesOut = metrics.framesOutTally.slot({ transport: transport.name });
  return new Egress({
    format: transport.format,
    sink: {
      sendMedia: (payload, frames) => {
        transport.sendMedia(payload);
        framesOut.count += frames;
      },
      sendMark: (name) => transport.sendMark(name),
      cork: () => transport.cork?.(),
      uncork: () => transport.uncork?.(),
    },
    clock: o.clock,
    chunks: o.chunks,
    // A far end that drops its buffer on `clear` can be given more audio ahead; one that keeps it plays it after a barge-in.
    leadMs: transport.dropsBufferOnClear ? o.media.egressLeadMs : Math.min(o.media.egressLeadMs, SHORT_EGRESS_LEAD_MS),
    maxQueueMs: o.media.egressMaxQueueMs,
    framesPerMessage: transport.dropsBufferOnClear && transport.multiFrameMedia ? o.media.egressFramesPerMessage : 1,
    onDrop: (n) => {
      metrics.framesDroppedTotal.inc({ stage: 'egress_overflow' }, n);
      o.onDrop(n);
    },
    onFirstFrame: (ms) => metrics.latency.recordSince('egress', performance.now() - ms),
    onPacingJitter: (ms) => metrics.latency.recordPacingJitter(ms),
    onPlayed: o.onPlayed,
  });
}
