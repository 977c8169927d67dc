/**
 * Egress on the process's shared clock, stepped by hand (ManualTime): no real or fake timers, so every
 * send time, drop and jitter figure is exact.
 */
import { describe, expect, it } from 'vitest';
import { Egress } from '../../src/calls/egress.js';
import { EgressClock } from '../../src/calls/egress-clock.js';
import { decodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { ManualTime } from '../support/manual-time.js';

type Sent = { t: number; kind: 'media' | 'mark' | 'cork' | 'uncork'; payload?: Uint8Array; name?: string };

function shared(time = new ManualTime()) {
  return { time, clock: new EgressClock({ now: time.now, scheduler: time }) };
}

function setup(
  opts: { leadMs?: number; maxQueueMs?: number; framesPerMessage?: number; time?: ManualTime; clock?: EgressClock; onMedia?: (egress: Egress) => void } = {},
) {
  const time = opts.time ?? new ManualTime();
  const clock = opts.clock ?? new EgressClock({ now: time.now, scheduler: time });
  const sent: Sent[] = [];
  const drops: number[] = [];
  const jitter: number[] = [];
  const played: string[] = [];
  const firstFrame: number[] = [];
  const egress: Egress = new Egress({
    format: { codec: 'mulaw', sampleRate: 8000 },
    sink: {
      sendMedia: (payload, frames) => {
        expect(frames * 160).toBe(payload.length);
        sent.push({ t: time.now(), kind: 'media', payload: payload.slice() }); // lent for the call only
        opts.onMedia?.(egress);
      },
      sendMark: (name) => sent.push({ t: time.now(), kind: 'mark', name }),
      cork: () => sent.push({ t: time.now(), kind: 'cork' }),
      uncork: () => sent.push({ t: time.now(), kind: 'uncork' }),
    },
    leadMs: opts.leadMs ?? 40,
    maxQueueMs: opts.maxQueueMs ?? 60_000,
    framesPerMessage: opts.framesPerMessage,
    onDrop: (n) => drops.push(n),
    onPacingJitter: (ms) => jitter.push(ms),
    onPlayed: (id) => played.push(id),
    onFirstFrame: (ms) => firstFrame.push(ms),
    clock,
  });
  const media = () => sent.filter((s) => s.kind === 'media');
  return { egress, sent, media, drops, jitter, played, firstFrame, time, clock };
}

const tone = (n: number, rate: number) => Int16Array.from({ length: n }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)));

/** `frames` 20 ms mu-law frames whose bytes all hold the frame's index, to follow each one. */
const numbered = (frames: number, from = 0) => {
  const payload = new Uint8Array(frames * 160);
  for (let i = 0; i < frames; i++) payload.fill((from + i) % 256, i * 160, (i + 1) * 160);
  return { codec: 'mulaw' as const, payload, sampleRate: 8000, seq: 0, timestampMs: 0, sampleCount: frames * 160 };
};

describe('egress', () => {
  it('resamples, encodes and paces 20 ms frames in real time after the lead', () => {
    const { egress, sent, media, time } = setup({ leadMs: 40 });
    egress.pushAudio({ samples: tone(16000, 16000), sampleRate: 16000, seq: 0, timestampMs: 0 }, 'r1'); // 1 s at 16 kHz
    egress.endResponse('r1');
    // Lead: the first frame plus two more go at once.
    expect(media().length).toBe(3);
    time.advance(200);
    expect(media().length).toBe(13);
    time.advance(2000);
    // 1 s of audio plus the resampler's tail, padded to whole frames.
    expect(media().length).toBeGreaterThanOrEqual(50);
    expect(media().length).toBeLessThanOrEqual(53);
    for (const m of media()) expect(m.payload!.length).toBe(160);
    // Steady state: one frame per 20 ms.
    const times = media().slice(3, 40).map((m) => m.t);
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBe(20);
    // The mark goes right after the last frame, in the same tick (corked with it).
    expect(sent.slice(-4).map((s) => s.kind)).toEqual(['cork', 'media', 'mark', 'uncork']);
    expect(sent.at(-2)).toMatchObject({ kind: 'mark', name: 'end:r1' });
    // Audio survives the trip: the decoded tone is loud.
    const pcm = decodeMulaw(media()[20].payload!);
    expect(Math.max(...pcm)).toBeGreaterThan(6000);
  });

  it('sends frames in order: the lead burst at once, then one per tick', () => {
    const { egress, media, time } = setup({ leadMs: 60 });
    egress.pushAudio(numbered(20), 'r1');
    expect(media().map((m) => m.t)).toEqual([0, 0, 0, 0]);
    time.advance(1000);
    expect(media().map((m) => m.payload![0])).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(media().map((m) => m.t)).toEqual([0, 0, 0, 0, ...Array.from({ length: 16 }, (_, i) => 20 * (i + 1))]);
  });

  it('paces a reply that arrives one frame per event as strictly as one that arrives in a burst', () => {
    const { egress, media, time } = setup({ leadMs: 60 });
    const all = tone(8000 * 2, 8000);
    for (let i = 0; i < 100; i++) {
      egress.pushAudio({ samples: all.subarray(i * 160, (i + 1) * 160), sampleRate: 8000, seq: i, timestampMs: i * 20 }, 'r1');
    }
    egress.endResponse('r1');
    // Only the lead (60 ms) plus the frame now playing may be ahead of real time.
    expect(media().length).toBe(4);
    time.advance(1000);
    expect(media().length).toBe(54);
  });

  it('reports pacing jitter for paced frames only: not the lead burst, not a starved queue', () => {
    const { egress, media, jitter, time } = setup({ leadMs: 60 });
    egress.pushAudio({ samples: tone(160 * 30, 8000), sampleRate: 8000, seq: 0, timestampMs: 0 }, 'r1');
    time.advance(1000);
    expect(media()).toHaveLength(30);
    // 4 frames of lead go at once; the 26 after them are paced, each on its tick.
    expect(jitter).toEqual(new Array(26).fill(0));

    // The same reply refilled after running dry: the refill's lead burst is not pacing; what follows is.
    egress.pushAudio({ samples: tone(160 * 10, 8000), sampleRate: 8000, seq: 30, timestampMs: 600 }, 'r1');
    time.advance(1000);
    expect(jitter).toEqual(new Array(26 + 6).fill(0));

    // A reply that trickles in slower than real time starves the queue: its gaps are the provider's, not pacing.
    jitter.length = 0;
    for (let i = 0; i < 10; i++) {
      egress.pushAudio({ samples: tone(160, 8000), sampleRate: 8000, seq: i, timestampMs: i * 20 }, 'r2');
      time.advance(40);
    }
    expect(jitter).toEqual([]);
  });

  it('reports the first frame of each reply once, with the time since its first audio', () => {
    const { egress, firstFrame, time } = setup({ leadMs: 0 });
    egress.pushAudio(numbered(1), 'r1'); // partial frames wait for more: none here
    egress.endResponse('r1');
    time.advance(100);
    const half = numbered(1);
    egress.pushAudio({ ...half, payload: half.payload.subarray(0, 80), sampleCount: 80 }, 'r2');
    time.advance(30);
    egress.endResponse('r2'); // the half frame, padded, goes now: 30 ms after r2's first audio
    expect(firstFrame).toEqual([0, 30]);
  });

  it('is playing until the end mark is echoed, reports heard time, and tells who played', () => {
    const { egress, played, time } = setup({ leadMs: 0 });
    egress.pushAudio({ samples: tone(8000, 8000), sampleRate: 8000, seq: 0, timestampMs: 0 }, 'r1');
    egress.endResponse('r1');
    time.advance(300);
    expect(egress.playing).toBe(true);
    expect(egress.heardMs('r1')).toBe(300);
    time.advance(2000);
    expect(egress.queuedFrames).toBe(0);
    expect(egress.playing).toBe(true); // sent, not yet confirmed played
    egress.onMark('end:r2'); // not ours: ignored
    expect(played).toEqual([]);
    egress.onMark('end:r1');
    expect(egress.playing).toBe(false);
    expect(played).toEqual(['r1']);
  });

  it('sends a mark after each reply, each after its own audio', () => {
    const { egress, sent, time } = setup({ leadMs: 20 });
    egress.pushAudio(numbered(3), 'r1');
    egress.endResponse('r1');
    egress.pushAudio(numbered(2, 10), 'r2');
    egress.endResponse('r2');
    time.advance(1000);
    const wire = sent.filter((s) => s.kind === 'media' || s.kind === 'mark').map((s) => (s.kind === 'mark' ? s.name : s.payload![0]));
    expect(wire).toEqual([0, 1, 2, 'end:r1', 10, 11, 'end:r2']);
  });

  it('clear() mid-reply leaves nothing queued, takes the egress off the clock, and the next reply starts afresh', () => {
    const { egress, media, time, clock } = setup({ leadMs: 40 });
    egress.pushAudio(numbered(50), 'r1');
    egress.endResponse('r1');
    time.advance(100);
    expect(media()).toHaveLength(8);
    expect(clock.members).toBe(1);
    expect(egress.clear()).toBe(42);
    expect(egress.queuedFrames).toBe(0);
    expect(egress.playing).toBe(false);
    expect(clock.members).toBe(0);
    expect(time.pending).toBe(0);
    time.advance(2000);
    expect(media()).toHaveLength(8);
    // Audio of the cleared reply still arriving after the barge-in starts no pacing of its own until pushed again.
    egress.pushAudio(numbered(5, 100), 'r2');
    expect(media().slice(8).map((m) => [m.t, m.payload![0]])).toEqual([[2100, 100], [2100, 101], [2100, 102]]);
    time.advance(100);
    expect(media().slice(8).map((m) => m.payload![0])).toEqual([100, 101, 102, 103, 104]);
  });

  it('drops the oldest audio past the bound and counts each frame dropped', () => {
    const { egress, drops, media, time } = setup({ leadMs: 0, maxQueueMs: 1000 });
    egress.pushAudio(numbered(150), 'r1'); // 3 s into a 1 s bound
    expect(drops.reduce((a, b) => a + b, 0)).toBe(100);
    expect(egress.queuedFrames).toBe(49);
    time.advance(2000);
    // The newest 50 frames survive, in order.
    expect(media().map((m) => m.payload![0])).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
  });

  it('keeps its own copy of the reply: the provider\'s buffer can be reused at once', () => {
    const { egress, media, time } = setup({ leadMs: 0 });
    const delta = numbered(4, 10);
    egress.pushAudio(delta, 'r1');
    delta.payload.fill(0xee); // a provider that recycles its buffer (and the GC, which may free it)
    egress.pushAudio(numbered(1, 14), 'r1');
    time.advance(200);
    expect(media().map((m) => m.payload![0])).toEqual([10, 11, 12, 13, 14]);
    expect(media().every((m) => m.payload!.every((b) => b === m.payload![0]))).toBe(true);
  });

  it('puts a frame split across deltas back together, and pads the last one with silence', () => {
    const { egress, media, time } = setup({ leadMs: 0 });
    const two = numbered(2, 1).payload;
    egress.pushAudio({ ...numbered(0), payload: two.subarray(0, 100) }, 'r1');
    egress.pushAudio({ ...numbered(0), payload: two.subarray(100, 250) }, 'r1');
    egress.pushAudio({ ...numbered(0), payload: two.subarray(250) }, 'r1');
    egress.pushAudio({ ...numbered(0), payload: new Uint8Array(10).fill(3) }, 'r1');
    egress.endResponse('r1');
    time.advance(200);
    expect(media().map((m) => [...m.payload!])).toEqual([[...two.subarray(0, 160)], [...two.subarray(160)], [...new Uint8Array(10).fill(3), ...new Uint8Array(150).fill(0xff)]]);
  });

  it('stops a write that a barge-in interrupts, and the next reply plays', () => {
    let bargeIn = true;
    const { egress, media, time } = setup({
      leadMs: 60,
      onMedia: (e) => {
        if (!bargeIn) return;
        bargeIn = false;
        e.clear(); // the sink's write led to a barge-in
      },
    });
    const sent = () => media().map((m) => m.payload![0]);
    egress.pushAudio(numbered(10), 'r1'); // the lead burst: frames 0-3 planned, cleared after the first
    expect(sent()).toEqual([0]);
    expect(egress.queuedFrames).toBe(0);
    egress.pushAudio(numbered(2, 50), 'r2');
    time.advance(100);
    expect(sent()).toEqual([0, 50, 51]);
    egress.close();
  });

  it('keeps the queue bound without cutting into a write under way', () => {
    let refill = true;
    const { egress, media, drops, time } = setup({
      leadMs: 60,
      maxQueueMs: 1000,
      onMedia: (e) => {
        if (!refill) return;
        refill = false;
        e.pushAudio(numbered(60, 100), 'r'); // past the 50-frame bound while 3 more wait to be written
      },
    });
    const sent = () => media().map((m) => m.payload![0]);
    egress.pushAudio(numbered(10), 'r');
    expect(sent()).toEqual([0, 1, 2, 3]); // the burst went whole
    expect(drops.reduce((a, b) => a + b, 0)).toBe(66 - 50);
    time.advance(2000);
    // After the burst: the newest 50 frames of the 66 queued, in order (4-9 and 100-109 dropped).
    expect(sent().slice(4)).toEqual(Array.from({ length: 50 }, (_, i) => 110 + i));
    egress.close();
  });

  it('writes a late tick\'s frames together, corked, and only those that came due', () => {
    const { egress, sent, media, jitter, time } = setup({ leadMs: 60 });
    egress.pushAudio(numbered(30), 'r1');
    time.advance(40); // ticks at 20 and 40: one frame each
    expect(media()).toHaveLength(6);
    time.stall(45); // the loop is busy: the tick due at 60 runs at 85
    const before = sent.length;
    time.advance(0);
    // Due by 80 (the last tick time passed): the frames of ticks 60 and 80, not the one of 100.
    expect(sent.slice(before).map((s) => s.kind)).toEqual(['cork', 'media', 'media', 'uncork']);
    expect(jitter.slice(-2)).toEqual([25, 5]);
    time.advance(15); // the next tick keeps the schedule: 100, not 105
    expect(media().at(-1)!.t).toBe(100);
    expect(jitter.at(-1)).toBe(0);
  });

  it('loses nothing when the sink pushes more audio while a burst is being written', () => {
    const time = new ManualTime();
    const sent: number[] = [];
    let again = true;
    const egress: Egress = new Egress({
      format: { codec: 'mulaw', sampleRate: 8000 },
      sink: {
        sendMedia: (p) => {
          sent.push(p[0]);
          if (again) {
            again = false;
            egress.pushAudio(numbered(2, 4), 'r');
          }
        },
        sendMark: () => undefined,
      },
      leadMs: 60,
      maxQueueMs: 60_000,
      onDrop: () => undefined,
      clock: new EgressClock({ now: time.now, scheduler: time }),
    });
    egress.pushAudio(numbered(4), 'r');
    time.advance(100);
    expect(sent).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('egress on a shared clock', () => {
  it('100 egresses share one timer, each paced a frame per tick', () => {
    const { time, clock } = shared();
    const calls = Array.from({ length: 100 }, () => setup({ leadMs: 60, time, clock }));
    calls.forEach((c, i) => {
      time.advance(i % 7); // replies start at scattered times
      c.egress.pushAudio(numbered(50), 'r');
      c.egress.endResponse('r');
    });
    expect(time.pending).toBe(1);
    expect(clock.members).toBe(100);
    const setBefore = time.delays.length;
    const ticksBefore = clock.ticks;
    time.advance(500);
    // One timer set per tick, for all of them.
    expect(clock.ticks - ticksBefore).toBe(25);
    expect(time.delays.length - setBefore).toBe(25);
    expect(time.pending).toBe(1);
    for (const c of calls) {
      const paced = c.media().slice(4).map((m) => m.t);
      for (let i = 1; i < paced.length; i++) expect(paced[i] - paced[i - 1]).toBe(20);
      expect(c.jitter.every((j) => j === 0)).toBe(true);
    }
    time.advance(2000);
    for (const c of calls) expect(c.media()).toHaveLength(50);
    // All done: no timer left.
    expect(time.pending).toBe(0);
    expect(clock.running).toBe(false);
  });

  it('a reply starting between ticks is paced on the shared ticks, never below its lead', () => {
    const { time, clock } = shared();
    const a = setup({ leadMs: 60, time, clock });
    const b = setup({ leadMs: 60, time, clock });
    a.egress.pushAudio(numbered(20), 'ra');
    time.advance(7);
    b.egress.pushAudio(numbered(10), 'rb');
    time.advance(100);
    // b's lead burst at 7 holds until 87; its next frame is due once 60 ms are left (27), written on
    // the last tick before that (20), so the caller never holds less than the lead.
    expect(b.media().map((m) => m.t)).toEqual([7, 7, 7, 7, 20, 40, 60, 80, 100]);
    expect(b.jitter).toEqual([0, 0, 0, 0, 0]);
    expect(time.pending).toBe(1);
  });

  it('a frame that comes due between ticks while its egress is off the clock goes at once, not a tick late', () => {
    const { time, clock } = shared();
    const a = setup({ leadMs: 60, time, clock });
    const b = setup({ leadMs: 60, time, clock });
    a.egress.pushAudio(numbered(50), 'ra'); // keeps the clock ticking at 0, 20, 40, ...
    time.advance(7);
    b.egress.pushAudio(numbered(4), 'rb'); // the lead burst at 7: plays out until 87, nothing left to pace
    time.advance(18);
    // At 25 the next frame is due at 27 (60 ms left at the caller), and the last tick at or before 27
    // was 20: it goes now. Waiting for the tick at 40 would leave the caller 47 ms, under the lead.
    b.egress.pushAudio(numbered(1, 4), 'rb');
    expect(b.media().map((m) => m.t)).toEqual([7, 7, 7, 7, 25]);
    time.advance(100);
    expect(b.jitter).toEqual([]);
  });

  describe('several frames per message', () => {
    const frameIds = (m: Sent) => Array.from({ length: m.payload!.length / 160 }, (_, i) => m.payload![i * 160]);

    it('joins queued frames into messages of up to n, in order, each leaving at the tick its first frame is due', () => {
      const { egress, media, jitter, time } = setup({ leadMs: 60, framesPerMessage: 3 });
      egress.pushAudio(numbered(20), 'r');
      egress.endResponse('r');
      time.advance(1000);
      const ids = media().flatMap(frameIds);
      expect(ids).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(media().map((m) => m.payload!.length / 160)).toEqual([3, 3, 3, 3, 3, 3, 2]);
      // The lead burst at 0: four frames are due (the lead plus the one playing), so two messages of
      // three. Then one message every three ticks, on the tick its first frame is due: the caller
      // holds between 60 and 120 ms, never under the lead.
      expect(media().map((m) => m.t)).toEqual([0, 0, 60, 120, 180, 240, 300]);
      expect(jitter.every((j) => j === 0)).toBe(true);
      // Only the frame that was due in each paced message counts as pacing.
      expect(jitter).toHaveLength(5);
      expect(egress.framesSent).toBe(20);
    });

    it('never waits to fill a message: a reply that trickles in goes frame by frame', () => {
      const { egress, media, time } = setup({ leadMs: 60, framesPerMessage: 3 });
      for (let i = 0; i < 10; i++) {
        egress.pushAudio(numbered(1, i), 'r');
        time.advance(20);
      }
      expect(media().flatMap(frameIds)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(media().every((m) => m.payload!.length === 160)).toBe(true);
    });

    it('keeps the mark after its reply\'s last frame and never joins two replies', () => {
      const { egress, sent, media, time } = setup({ leadMs: 60, framesPerMessage: 4 });
      egress.pushAudio(numbered(2), 'a');
      egress.endResponse('a');
      egress.pushAudio(numbered(3, 2), 'b');
      time.advance(200);
      expect(sent.filter((s) => s.kind !== 'cork' && s.kind !== 'uncork').map((s) => (s.kind === 'mark' ? s.name : frameIds(s).join(',')))).toEqual(['0,1', 'end:a', '2,3,4']);
      expect(media()).toHaveLength(2);
    });
  });

  it('an idle egress sets no timer', () => {
    const { time, clock } = shared();
    const { egress, media } = setup({ leadMs: 60, time, clock });
    expect(time.pending).toBe(0);
    // A reply that fits in the lead goes at once and leaves nothing to pace.
    egress.pushAudio(numbered(3), 'r');
    egress.endResponse('r');
    expect(media()).toHaveLength(3);
    expect(time.pending).toBe(0);
    expect(clock.running).toBe(false);
    egress.pushAudio(numbered(10), 'r2');
    expect(time.pending).toBe(1);
    time.advance(1000);
    expect(time.pending).toBe(0);
    egress.close();
  });

  it('without a shared clock an egress keeps its own, as before', () => {
    const time = new ManualTime();
    const sent: number[] = [];
    const egress = new Egress({
      format: { codec: 'mulaw', sampleRate: 8000 },
      sink: { sendMedia: (p) => sent.push(p[0]), sendMark: () => undefined },
      leadMs: 0,
      maxQueueMs: 60_000,
      onDrop: () => undefined,
      now: time.now,
    });
    egress.pushAudio(numbered(3), 'r');
    expect(sent).toEqual([0]);
    egress.close();
  });
});

describe('egress pacing when Node fires the clock a little early', () => {
  /** Shared clock whose timers fire `earlyMs` before the time asked, as Node's cached loop time can. */
  function earlyClock(earlyMs: number) {
    const time = new ManualTime();
    const scheduler = { set: (fn: () => void, d: number) => time.set(fn, Math.max(0, d - earlyMs)), clear: (h: unknown) => time.clear(h) };
    return { time, clock: new EgressClock({ now: time.now, scheduler }) };
  }

  it('sends a frame whose tick has just run early at once, not a tick late', () => {
    const { time, clock } = earlyClock(0.5);
    const a = setup({ leadMs: 60, framesPerMessage: 1, time, clock });
    const b = setup({ leadMs: 60, framesPerMessage: 1, time, clock });
    a.egress.pushAudio(numbered(200), 'long'); // keeps the clock running: ticks due at 20, 40, ... fire 0.5 ms early
    time.advance(19.5); // 20's tick has just run, at 19.5
    b.egress.pushAudio(numbered(5), 'reply');
    // Frames 1-4 are the lead burst. Frame 5 is due at 39.5; its tick (20) has run, so it goes now,
    // off the clock (before: held for 40's tick and reported 19.5 ms late).
    expect(b.media().map((m) => m.t)).toEqual([19.5, 19.5, 19.5, 19.5, 19.5]);
    time.advance(200);
    expect(b.jitter.filter((j) => j > 1)).toEqual([]);
  });

  it('never reports a frame more than the timers were late, whatever the arrivals (seeded)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      let state = seed;
      const random = () => ((state = (state * 1664525 + 1013904223) >>> 0) / 2 ** 32);
      const time = new ManualTime();
      // Each timer fires up to 0.9 ms early or 3 ms late.
      const scheduler = { set: (fn: () => void, d: number) => time.set(fn, Math.max(0, d + random() * 3.9 - 0.9)), clear: (h: unknown) => time.clear(h) };
      const clock = new EgressClock({ now: time.now, scheduler });
      const calls = [0, 1, 2].map(() => setup({ leadMs: 60, framesPerMessage: 3, time, clock }));
      let reply = 0;
      for (let step = 0; step < 400; step++) {
        const call = calls[Math.floor(random() * calls.length)]!;
        const what = random();
        if (what < 0.6) call.egress.pushAudio(numbered(1 + Math.floor(random() * 6)), `r${String(reply)}`);
        else if (what < 0.65) call.egress.endResponse(`r${String(reply++)}`);
        else if (what < 0.68) call.egress.clear();
        time.advance(random() * 30);
      }
      const worst = Math.max(0, ...calls.flatMap((c) => c.jitter));
      expect({ seed, worst: worst <= 3.000001 }).toEqual({ seed, worst: true });
    }
  });
});
