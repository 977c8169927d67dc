/**
 * The egress as a call wires it to its transport: frames per media message by what the far end
 * takes, and frames (not messages) counted in voice_gateway_frames_out_total.
 */
import { describe, expect, it } from 'vitest';
import { createCallEgress } from '../../src/calls/call-egress.js';
import type { CallTransport } from '../../src/calls/call-types.js';
import { EgressClock } from '../../src/calls/egress-clock.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { ManualTime } from '../support/manual-time.js';

function rig(transport: Pick<CallTransport, 'name' | 'dropsBufferOnClear' | 'multiFrameMedia'>, egressFramesPerMessage = 3) {
  const time = new ManualTime();
  const clock = new EgressClock({ now: time.now, scheduler: time });
  const metrics = createMetrics({ defaultMetrics: false });
  const messages: number[] = [];
  const egress = createCallEgress({
    transport: {
      ...transport,
      format: { codec: 'mulaw', sampleRate: 8000 },
      sendMedia: (payload) => messages.push(payload.length / 160),
      sendMark: () => undefined,
      sendClear: () => undefined,
      close: () => undefined,
    },
    media: { egressLeadMs: 60, egressMaxQueueMs: 60_000, egressFramesPerMessage },
    clock,
    metrics,
    onDrop: () => undefined,
    onPlayed: () => undefined,
  });
  const framesOut = async () => (await metrics.registry.getSingleMetric('voice_gateway_frames_out_total')!.get()).values.find((v) => v.labels.transport === transport.name)?.value ?? 0;
  return { egress, time, messages, framesOut };
}

const reply = (frames: number) => ({ codec: 'mulaw' as const, payload: new Uint8Array(frames * 160).fill(0x55), sampleRate: 8000, seq: 0, timestampMs: 0, sampleCount: frames * 160 });

describe('call egress', () => {
  it('sends a carrier that drops its buffer on clear the queued frames in messages of EGRESS_FRAMES_PER_MESSAGE, counting frames', async () => {
    const { egress, time, messages, framesOut } = rig({ name: 'twilio', dropsBufferOnClear: true, multiFrameMedia: true });
    egress.pushAudio(reply(30), 'r');
    egress.endResponse('r');
    time.advance(1000);
    expect(messages.reduce((a, b) => a + b, 0)).toBe(30);
    expect(messages.every((n) => n === 3)).toBe(true);
    expect(await framesOut()).toBe(30);
  });

  it('sends one frame per message where the far end takes one per packet (WebRTC)', async () => {
    const { egress, time, messages, framesOut } = rig({ name: 'webrtc', dropsBufferOnClear: false, multiFrameMedia: false });
    egress.pushAudio(reply(30), 'r');
    egress.endResponse('r');
    time.advance(1000);
    expect(messages).toEqual(new Array(30).fill(1));
    expect(await framesOut()).toBe(30);
  });

  it('EGRESS_FRAMES_PER_MESSAGE=1 keeps one frame per message for the carriers too', () => {
    const { egress, time, messages } = rig({ name: 'telnyx', dropsBufferOnClear: true, multiFrameMedia: true }, 1);
    egress.pushAudio(reply(10), 'r');
    time.advance(1000);
    expect(messages).toEqual(new Array(10).fill(1));
  });
});
