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
  it('telephony audio (8 kHz) goes in as it is', () => {
    const { t, pushes, created, metrics } = tap(8000);
    t.push({ samples: new Int16Array(160), sampleRate: 8000, seq: 0, timestampMs: 40 });
    expect(t.rate).toBe(8000);
    expect(created[0].sampleRate).toBe(8000);
    expect(pushes).toEqual([{ samples: 160, timestampMs: 40 }]);
    expect(metrics.latency.fixedDelayMs.get('vad_window_8000')).toBe(32);
  });

  it('48 kHz (WebRTC) is brought to 16 kHz, its timestamps moved back by the filter delay, never below 0', () => {
    const { t, pushes, created } = tap(48000);
    expect(t.rate).toBe(16000);
    expect(created[0].sampleRate).toBe(16000);
    for (let i = 0; i < 10; i++) t.push({ samples: new Int16Array(960), sampleRate: 48000, seq: i, timestampMs: i * 20 });
    const total = pushes.reduce((n, p) => n + p.samples, 0);
    expect(total).toBeGreaterThan(320 * 9);
    expect(total).toBeLessThanOrEqual(320 * 10);
    expect(pushes[0].timestampMs).toBe(0);
    const last = pushes.at(-1)!;
    expect(last.timestampMs).toBeLessThan(180);
    expect(last.timestampMs).toBeGreaterThan(170);
  });
});
