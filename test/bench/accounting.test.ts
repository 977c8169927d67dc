/** The harness's pure parts: frame tags, the tag ledger's lost/interrupted rules, the caller's playout clock. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeMulaw } from '../../src/pipeline/codecs/g711.js';
import { EgressClock, type EgressFrame } from '../../src/bench/egress-clock.js';
import { MAX_TAG_CALLS, MAX_TAG_SEQ, TagWriter, readTag, readTagBase64, writeTag } from '../../src/bench/frame-tag.js';
import { FrameLedger } from '../../src/bench/ledger.js';

function frame(fill = 0x80): Uint8Array {
  return new Uint8Array(160).fill(fill);
}

function tagged(call: number, seq: number, fill = 0x80): Uint8Array {
  const f = frame(fill);
  writeTag(f, call, seq);
  return f;
}

describe('frame tags', () => {
  it.each([
    [0, 0],
    [1, 1],
    [MAX_TAG_CALLS - 1, MAX_TAG_SEQ - 1],
    [1234, 56789],
  ])('round-trips call %i frame %i', (call, seq) => {
    expect(readTag(tagged(call, seq))).toEqual({ call, seq });
  });

  it('changes each tagged byte by at most one mu-law step and leaves the rest alone', () => {
    const audio = Uint8Array.from({ length: 160 }, (_, i) => (i * 37) & 0xff);
    const t = audio.slice();
    writeTag(t, 77, 4242);
    for (let i = 0; i < 160; i++) expect(Math.abs(t[i] - audio[i])).toBeLessThanOrEqual(i < 45 ? 1 : 0);
    const before = decodeMulaw(audio);
    const after = decodeMulaw(t);
    // One quantisation step of the byte's segment: 8 near zero, doubling each segment (3% to 12% of the value).
    for (let i = 0; i < 160; i++) expect(Math.abs(after[i] - before[i])).toBeLessThanOrEqual(8 << ((~audio[i] >> 4) & 7));
  });

  it('finds no tag in untagged audio', () => {
    let found = 0;
    for (let n = 0; n < 2000; n++) if (readTag(Uint8Array.from({ length: 160 }, (_, i) => (n * 131 + i * 7919) & 0xff))) found++;
    expect(readTag(frame(0xff))).toBeUndefined();
    expect(found).toBeLessThan(5);
  });

  it('writes the tag into the first 60 base64 characters only', () => {
    const audio = Uint8Array.from({ length: 160 }, (_, i) => (i * 11) & 0xff);
    const full = Buffer.from(audio).toString('base64');
    const payload = new TagWriter().payload(audio, full.slice(60), 9, 99);
    expect(payload.slice(60)).toBe(full.slice(60));
    expect(readTagBase64(payload)).toEqual({ call: 9, seq: 99 });
    expect(readTag(Buffer.from(payload, 'base64'))).toEqual({ call: 9, seq: 99 });
  });
});

describe('frame ledger', () => {
  it('counts a frame that never reached the provider as lost, apart from those sent while it connected', () => {
    const l = new FrameLedger({ calls: 1, maxFrames: 10, lateIngressMs: 60 });
    for (let seq = 0; seq < 6; seq++) l.sent(0, seq, 100 + seq * 20);
    // Session up at 150: frame 1 (sent at 120, before it) never arrives; frame 4 (after) never arrives.
    l.providerReceived({ call: 0, seq: 0 }, 150);
    for (const seq of [2, 3, 5]) l.providerReceived({ call: 0, seq }, 100 + seq * 20 + 1);
    l.providerReceived({ call: 0, seq: 3 }, 200); // a duplicate
    const t = l.tally([6]);
    expect(t).toMatchObject({ sent: 6, atProvider: 4, lostIngress: 1, lostIngressConnecting: 1, duplicateIngress: 1 });
  });

  it('times ingress only for frames sent after the session was up, inside the window', () => {
    const l = new FrameLedger({ calls: 1, maxFrames: 10, lateIngressMs: 60 });
    l.setWindow(0, 1000);
    l.sent(0, 0, 10);
    l.providerReceived({ call: 0, seq: 0 }, 500); // held during connect: no sample
    l.sent(0, 1, 600);
    l.providerReceived({ call: 0, seq: 1 }, 603);
    l.sent(0, 2, 620);
    l.providerReceived({ call: 0, seq: 2 }, 700); // 80 ms: late
    const s = l.ingress.summary();
    expect(s.count).toBe(2);
    expect(s.max).toBeCloseTo(80, 0);
    expect(l.tally([3]).lateIngress).toBe(1);
  });

  it('counts reply frames missing from a finished reply as lost, and from an interrupted one as dropped', () => {
    const l = new FrameLedger({ calls: 2, maxFrames: 100, lateIngressMs: 60 });
    l.setWindow(0, 10_000);
    const tags = (call: number, from: number, n: number) => Array.from({ length: n }, (_, i) => ({ call, seq: from + i }));
    l.providerSent('resp_a', 'item_a', tags(0, 0, 5), 1000);
    l.providerSent('resp_a', 'item_a', tags(0, 5, 5), 1020);
    l.providerSent('resp_b', 'item_b', tags(1, 0, 5), 1000);
    l.providerSent('resp_c', 'item_c', tags(1, 10, 5), 2000);
    // Call 0 hears 8 of 10 frames of a reply nobody interrupted: 2 lost.
    for (let seq = 0; seq < 8; seq++) expect(l.callerReceived({ call: 0, seq }, 1003 + seq * 20)?.index).toBe(seq);
    // Call 1 hears 2 frames of resp_b, then a clear: the rest was dropped on purpose; resp_c is cancelled at the provider.
    l.callerReceived({ call: 1, seq: 0 }, 1002);
    l.callerReceived({ call: 1, seq: 1 }, 1022);
    l.callerCleared(1, 1030);
    l.providerInterrupted({ responseId: 'resp_c' });
    const t = l.tally([0, 0]);
    expect(t).toMatchObject({ replyFramesSent: 20, replyFramesReceived: 10, lostEgress: 2, droppedByInterruption: 8, responsesInterrupted: 2 });
    const first = l.egressFirstFrame.summary();
    expect(first.count).toBe(2);
    expect(first.max).toBeCloseTo(3, 1);
  });
});

describe('frame ledger: what a clear excuses', () => {
  const tags = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ call: 0, seq: from + i }));

  it('excuses frames of a reply still streaming from the provider, even if all sent so far had arrived', () => {
    const l = new FrameLedger({ calls: 1, maxFrames: 100, lateIngressMs: 60 });
    l.providerSent('r', undefined, tags(0, 5), 0);
    for (let seq = 0; seq < 5; seq++) l.callerReceived({ call: 0, seq }, 10);
    l.callerCleared(0, 20);
    l.providerSent('r', undefined, tags(5, 5), 25); // in flight when the bridge cleared: dropped on purpose
    l.providerDone('r');
    expect(l.tally([0])).toMatchObject({ lostEgress: 0, droppedByInterruption: 5 });
  });

  it('keeps a finished reply open until its real last frame has played', () => {
    const l = new FrameLedger({ calls: 1, maxFrames: 100, lateIngressMs: 60 });
    l.providerSent('r', undefined, tags(0, 5), 0);
    for (let seq = 0; seq < 5; seq++) l.callerReceived({ call: 0, seq }, 10); // the last frame *so far*
    l.providerSent('r', undefined, tags(5, 5), 20);
    l.providerDone('r');
    l.callerReceived({ call: 0, seq: 5 }, 30);
    l.callerCleared(0, 40); // the bridge drops the 4 frames it still held
    expect(l.tally([0])).toMatchObject({ lostEgress: 0, droppedByInterruption: 4 });
  });

  it('does not let a later clear excuse a frame lost from a reply that had finished playing', () => {
    const l = new FrameLedger({ calls: 1, maxFrames: 100, lateIngressMs: 60 });
    l.providerSent('r1', undefined, tags(0, 5), 0);
    l.providerDone('r1');
    for (const seq of [0, 1, 3, 4]) l.callerReceived({ call: 0, seq }, 10); // frame 2 lost, last frame arrived
    l.providerSent('r2', undefined, tags(10, 5), 500);
    l.callerCleared(0, 510);
    expect(l.tally([0])).toMatchObject({ lostEgress: 1, droppedByInterruption: 5, responsesInterrupted: 1 });
  });
});

describe('egress clock (the caller playout)', () => {
  afterEach(() => vi.useRealTimers());

  function clock(opts: { tagged?: boolean; ledger?: FrameLedger } = {}) {
    const frames: { at: number; f: EgressFrame }[] = [];
    const starts: number[] = [];
    const c = new EgressClock({
      call: 0,
      tagged: opts.tagged ?? false,
      ledger: opts.ledger ?? new FrameLedger({ calls: 1, maxFrames: 10, lateIngressMs: 60 }),
      burstFrames: 4,
      lateBoundMs: 0,
      onFrame: (at, f) => frames.push({ at, f }),
      onReplyStart: (at) => starts.push(at),
    });
    return { c, frames, starts };
  }

  it('calls a frame late when playout ran dry before it, and times intervals after the lead burst', () => {
    const { c, frames, starts } = clock();
    // A paced reply: 4 frames at once (60 ms lead), then one every 20 ms; frame 7 comes 90 ms after frame 6.
    const arrivals = [0, 0, 0, 0, 20, 40, 60, 150];
    for (const at of arrivals) c.media(frame(), at, undefined);
    expect(starts).toEqual([0]);
    expect(frames.map((x) => x.f.late)).toEqual([false, false, false, false, false, false, false, true]);
    expect(frames.map((x) => x.f.intervalMs)).toEqual([undefined, undefined, undefined, undefined, 20, 20, 20, 90]);
  });

  it('splits a multi-frame message into frames, and starts a new reply after a mark', () => {
    vi.useFakeTimers();
    const { c, frames, starts } = clock();
    c.media(new Uint8Array(800), 0, undefined);
    const echoed: number[] = [];
    c.mark(0, () => echoed.push(1));
    expect(c.idle(50)).toBe(false);
    vi.advanceTimersByTime(100);
    expect(echoed).toEqual([1]);
    c.media(frame(), 500, undefined);
    expect(frames).toHaveLength(6);
    expect(starts).toEqual([0, 500]);
    expect(c.idle(600)).toBe(true);
  });

  it('echoes pending marks at once on clear, and marks started replies interrupted', () => {
    vi.useFakeTimers();
    const ledger = new FrameLedger({ calls: 1, maxFrames: 10, lateIngressMs: 60 });
    ledger.providerSent('r', undefined, [0, 1, 2].map((seq) => ({ call: 0, seq })), 0);
    const { c } = clock({ tagged: true, ledger });
    const f0 = tagged(0, 0);
    c.media(f0, 1, readTag);
    const echoed: string[] = [];
    c.mark(1, () => echoed.push('m'));
    c.clear(5);
    expect(echoed).toEqual(['m']);
    expect(ledger.tally([0])).toMatchObject({ lostEgress: 0, droppedByInterruption: 2 });
  });
});
