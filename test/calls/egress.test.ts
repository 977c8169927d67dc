import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Egress } from '../../src/calls/egress.js';
import { decodeMulaw } from '../../src/pipeline/codecs/g711.js';

function setup(opts: { leadMs?: number; maxQueueMs?: number } = {}) {
  const sent: { t: number; kind: 'media' | 'mark'; payload?: Uint8Array; name?: string }[] = [];
  const drops: number[] = [];
  const jitter: number[] = [];
  const egress = new Egress({
    format: { codec: 'mulaw', sampleRate: 8000 },
    sink: {
      sendMedia: (payload) => sent.push({ t: Date.now(), kind: 'media', payload }),
      sendMark: (name) => sent.push({ t: Date.now(), kind: 'mark', name }),
    },
    leadMs: opts.leadMs ?? 40,
    maxQueueMs: opts.maxQueueMs ?? 60_000,
    onDrop: (n) => drops.push(n),
    onPacingJitter: (ms) => jitter.push(ms),
    now: () => Date.now(),
  });
  return { egress, sent, drops, jitter };
}

const tone = (n: number, rate: number) => Int16Array.from({ length: n }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)));

describe('egress', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it('resamples, encodes and paces 20 ms frames in real time after the lead', () => {
    const { egress, sent } = setup({ leadMs: 40 });
    egress.pushAudio({ samples: tone(16000, 16000), sampleRate: 16000, seq: 0, timestampMs: 0 }, 'r1'); // 1 s at 16 kHz
    egress.endResponse('r1');
    // Lead: the first frame plus two more go at once.
    expect(sent.filter((s) => s.kind === 'media').length).toBe(3);
    vi.advanceTimersByTime(200);
    expect(sent.filter((s) => s.kind === 'media').length).toBe(13);
    vi.advanceTimersByTime(2000);
    const media = sent.filter((s) => s.kind === 'media');
    // 1 s of audio plus the resampler's tail, padded to whole frames.
    expect(media.length).toBeGreaterThanOrEqual(50);
    expect(media.length).toBeLessThanOrEqual(53);
    for (const m of media) expect(m.payload!.length).toBe(160);
    // Steady state: one frame per 20 ms.
    const times = media.slice(3, 40).map((m) => m.t);
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBe(20);
    // The mark goes right after the last frame.
    expect(sent.at(-1)).toMatchObject({ kind: 'mark', name: 'end:r1' });
    // Audio survives the trip: the decoded tone is loud.
    const pcm = decodeMulaw(media[20].payload!);
    expect(Math.max(...pcm)).toBeGreaterThan(6000);
  });

  it('paces a reply that arrives one frame per event as strictly as one that arrives in a burst', () => {
    const { egress, sent } = setup({ leadMs: 60 });
    const all = tone(8000 * 2, 8000);
    for (let i = 0; i < 100; i++) {
      egress.pushAudio({ samples: all.subarray(i * 160, (i + 1) * 160), sampleRate: 8000, seq: i, timestampMs: i * 20 }, 'r1');
    }
    egress.endResponse('r1');
    // Only the lead (60 ms) plus the frame now playing may be ahead of real time.
    expect(sent.filter((s) => s.kind === 'media').length).toBe(4);
    vi.advanceTimersByTime(1000);
    expect(sent.filter((s) => s.kind === 'media').length).toBe(54);
  });

  it('reports pacing jitter for paced frames only: not the lead burst, not a starved queue', () => {
    const { egress, sent, jitter } = setup({ leadMs: 60 });
    egress.pushAudio({ samples: tone(160 * 30, 8000), sampleRate: 8000, seq: 0, timestampMs: 0 }, 'r1');
    vi.advanceTimersByTime(1000);
    expect(sent.filter((s) => s.kind === 'media')).toHaveLength(30);
    // 4 frames of lead go at once; the 26 after them are paced, each exactly 20 ms after the last.
    expect(jitter).toEqual(new Array(26).fill(0));

    // The same reply refilled after running dry: the refill's lead burst is not pacing; what follows is.
    egress.pushAudio({ samples: tone(160 * 10, 8000), sampleRate: 8000, seq: 30, timestampMs: 600 }, 'r1');
    vi.advanceTimersByTime(1000);
    expect(jitter).toEqual(new Array(26 + 6).fill(0));

    // A reply that trickles in slower than real time starves the queue: its gaps are the provider's, not pacing.
    jitter.length = 0;
    for (let i = 0; i < 10; i++) {
      egress.pushAudio({ samples: tone(160, 8000), sampleRate: 8000, seq: i, timestampMs: i * 20 }, 'r2');
      vi.advanceTimersByTime(40);
    }
    expect(jitter).toEqual([]);
  });

  it('is playing until the end mark is echoed, and reports heard time', () => {
    const { egress } = setup({ leadMs: 0 });
    egress.pushAudio({ samples: tone(8000, 8000), sampleRate: 8000, seq: 0, timestampMs: 0 }, 'r1');
    egress.endResponse('r1');
    vi.advanceTimersByTime(300);
    expect(egress.playing).toBe(true);
    expect(egress.heardMs('r1')).toBeGreaterThanOrEqual(280);
    expect(egress.heardMs('r1')).toBeLessThanOrEqual(320);
    vi.advanceTimersByTime(2000);
    expect(egress.queuedFrames).toBe(0);
    expect(egress.playing).toBe(true); // sent, not yet confirmed played
    egress.onMark('end:r1');
    expect(egress.playing).toBe(false);
  });

  it('drops the queue on clear and sends nothing more', () => {
    const { egress, sent } = setup({ leadMs: 0 });
    egress.pushAudio({ samples: tone(8000, 8000), sampleRate: 8000, seq: 0, timestampMs: 0 }, 'r1');
    egress.endResponse('r1');
    vi.advanceTimersByTime(100);
    const before = sent.length;
    const dropped = egress.clear();
    expect(dropped).toBeGreaterThan(40);
    vi.advanceTimersByTime(2000);
    expect(sent.length).toBe(before);
    expect(egress.playing).toBe(false);
  });

  it('drops the oldest audio past the bound and counts it', () => {
    const { egress, drops } = setup({ leadMs: 0, maxQueueMs: 1000 });
    egress.pushAudio({ samples: tone(8000 * 3, 8000), sampleRate: 8000, seq: 0, timestampMs: 0 }, 'r1');
    expect(egress.queuedFrames).toBeLessThanOrEqual(50);
    expect(drops.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(99);
  });
});
