/** VadTap: carrier PCM into the VAD at a rate Silero runs at, timestamps kept in caller media time. */
import { describe, expect, it } from 'vitest';
import { VadTap } from '../../src/calls/vad-tap.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { CallVad, CallVadOptions } from '../../src/pipeline/vad/call-vad.js';
import type { VadService } from '../../src/pipeline/vad/vad-service.js';

function fakeVadService() {
  const pushes: { samples: number; timestampMs: number }[] = [];
  const created: CallVadOptions[] = [];
  const service: VadService = {
    engine: 'energy',
    warm: true,
    createCallVad(options) {
      created.push(options);
      const vad: CallVad = {
        callId: options.callId,
        sampleRate: options.sampleRate,
        engine: 'energy',
        speaking: false,
        lastProbability: 0,
        fallbackReason: undefined,
        push: (samples, timestampMs) => pushes.push({ samples: samples.length, timestampMs }),
        flush: () => Promise.resolve(),
        close: () => undefined,
      };
      return vad;
    },
    close: () => Promise.resolve(),
  };
  return { service, pushes, created };
}

const tap = (wireRate: number) => {
  const f = fakeVadService();
  const metrics = createMetrics();
  const t = new VadTap({ callId: 'c', wireRate, vad: f.service, metrics, logger: silentLogger(), onEvent: () => undefined });
  return { t, metrics, ...f };
};

describe('VadTap', () => {
  it('telephony audio (8 kHz) is scored at 8 kHz; what the graph hands over goes to the call VAD as it is', () => {
    const { t, pushes, created, metrics } = tap(8000);
    t.push(new Int16Array(160), 40);
    expect(t.rate).toBe(8000);
    expect(t.sampleRate).toBe(8000);
    expect(created[0].sampleRate).toBe(8000);
    expect(pushes).toEqual([{ samples: 160, timestampMs: 40 }]);
    expect(metrics.latency.fixedDelayMs.get('vad_window_8000')).toBe(32);
  });

  it('48 kHz (WebRTC) is scored at 16 kHz: the graph resamples for it (ingress-graph.test.ts)', () => {
    const { t, created } = tap(48000);
    expect(t.rate).toBe(16000);
    expect(t.sampleRate).toBe(16000);
    expect(created[0].sampleRate).toBe(16000);
  });
});
