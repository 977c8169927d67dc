import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkPool } from '../../src/calls/chunk-pool.js';
import { FrameRing, RING_CHUNK_BYTES, type RingEntry } from '../../src/calls/frame-ring.js';

const frame = (seq: number): RingEntry => ({
  kind: 'frame',
  frame: { payload: new Uint8Array([seq & 0xff]), seq, timestampMs: seq * 20, receivedAtMs: seq * 20 },
});
const turnEnd = (afterSeq: number): RingEntry => ({ kind: 'turnEnd', turn: { startMs: 0, endMs: afterSeq * 20 }, afterSeq });
const describeEntry = (e: RingEntry): string => (e.kind === 'frame' ? `f${e.frame.seq}` : `t${e.afterSeq}`);

describe('FrameRing', () => {
  it('rounds capacity up to a power of two', () => {
    expect(new FrameRing(5).capacity).toBe(8);
    expect(new FrameRing(8).capacity).toBe(8);
    expect(new FrameRing(1).capacity).toBe(1);
  });

  it('keeps frames and turn ends in arrival order', () => {
    const ring = new FrameRing(8);
    [frame(1), frame(2), turnEnd(2), frame(3)].forEach((e) => ring.push(e));
    expect(ring.entries().map(describeEntry)).toEqual(['f1', 'f2', 't2', 'f3']);
    expect(ring.size).toBe(4);
    expect(ring.pendingTurns).toBe(1);
  });

  it('overwrites the oldest entry past capacity and counts it as dropped', () => {
    const ring = new FrameRing(4);
    for (let s = 1; s <= 6; s++) ring.push(frame(s));
    expect(ring.entries().map(describeEntry)).toEqual(['f3', 'f4', 'f5', 'f6']);
    expect(ring.dropped).toBe(2);
    expect(ring.size).toBe(4);
  });

  it('forgets a pending turn whose end marker is overwritten', () => {
    const ring = new FrameRing(2);
    ring.push(turnEnd(0));
    ring.push(frame(1));
    expect(ring.pendingTurns).toBe(1);
    ring.push(frame(2));
    expect(ring.pendingTurns).toBe(0);
  });

  it('accepting the oldest turn drops it and the audio before it, nothing after', () => {
    const ring = new FrameRing(8);
    [frame(1), frame(2), turnEnd(2), frame(3), turnEnd(3), frame(4)].forEach((e) => ring.push(e));
    expect(ring.acceptOldestTurn()).toBe(3);
    expect(ring.entries().map(describeEntry)).toEqual(['f3', 't3', 'f4']);
    expect(ring.pendingTurns).toBe(1);
  });

  it('trimIdle keeps the newest frames but never trims past a pending turn end', () => {
    const ring = new FrameRing(16);
    for (let s = 1; s <= 5; s++) ring.push(frame(s));
    ring.trimIdle(2);
    expect(ring.entries().map(describeEntry)).toEqual(['f4', 'f5']);
    const ring2 = new FrameRing(16);
    [frame(1), turnEnd(1), frame(2), frame(3)].forEach((e) => ring2.push(e));
    ring2.trimIdle(1);
    expect(ring2.entries().map(describeEntry)).toEqual(['t1', 'f2', 'f3']);
  });

  it('entries(fromSeq) returns frames from that seq and turn ends after an earlier-or-equal frame', () => {
    const ring = new FrameRing(8);
    [frame(1), turnEnd(1), frame(2), turnEnd(2), frame(3)].forEach((e) => ring.push(e));
    expect(ring.entries(2).map(describeEntry)).toEqual(['f2', 't2', 'f3']);
  });
});

describe('FrameRing memory (issue 16)', () => {
  const bytesFrame = (seq: number, n: number): RingEntry => ({
    kind: 'frame',
    frame: { payload: Uint8Array.from({ length: n }, (_, i) => (seq * 31 + i) & 0xff), seq, timestampMs: seq * 20, receivedAtMs: 1000 + seq },
  });

  it('keeps a copy of the bytes, never the frame or the pooled buffer it was a view of', () => {
    const ring = new FrameRing(8);
    const pooled = Buffer.from('AAECAwQFBgcICQ==', 'base64'); // a view into Node's shared 8 KiB pool
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    ring.push({ kind: 'frame', frame: { payload: pooled, seq: 7, timestampMs: 140, receivedAtMs: 5 } });
    pooled[0] = 99;
    const [e] = ring.entries();
    expect(e?.kind).toBe('frame');
    if (e?.kind !== 'frame') return;
    expect([...e.frame.payload]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(e.frame.payload.buffer.byteLength).toBe(10); // exact size: a replay pins nothing else
    expect(e.frame).toEqual({ payload: e.frame.payload, seq: 7, timestampMs: 140, receivedAtMs: 5 });
  });

  it('grows for a long turn and gives the memory back once the turn is accepted', () => {
    const ring = new FrameRing(2048);
    const idle = ring.allocatedBytes;
    for (let s = 0; s < 1000; s++) ring.push(bytesFrame(s, 160));
    ring.push(turnEnd(999));
    ring.push(bytesFrame(1000, 160));
    expect(ring.allocatedBytes).toBeGreaterThan(160 * 1000);
    expect(ring.acceptOldestTurn()).toBe(1001);
    expect(ring.entries().map(describeEntry)).toEqual(['f1000']);
    expect(ring.allocatedBytes).toBe(idle + RING_CHUNK_BYTES); // the slot table back to its start, one chunk
    ring.trimIdle(0);
    expect(ring.allocatedBytes).toBe(idle);
  });

  it('chunks one call gives back and another takes never mix their bytes', () => {
    const pool = new ChunkPool();
    const a = new FrameRing(2048, pool);
    const b = new FrameRing(2048, pool);
    const want: RingEntry[] = [];
    for (let s = 0; s < 600; s++) {
      a.push(bytesFrame(s, 160));
      if (s % 100 === 99) {
        a.push(turnEnd(s));
        a.acceptOldestTurn(); // hands its chunks back while b keeps taking new ones
      }
      const e = bytesFrame(10_000 + s, 160 + (s % 7));
      b.push(e);
      want.push(e);
    }
    const got = b.entries();
    expect(got).toHaveLength(600);
    got.forEach((e, i) => {
      const w = want[i]!;
      if (e.kind === 'frame' && w.kind === 'frame') expect([...e.frame.payload]).toEqual([...w.frame.payload]);
    });
    expect(a.entries().map(describeEntry)).toEqual([]);
  });

  it('gives its chunks back to the pool it was given, where the next call takes them, up to the bound', () => {
    const pool = new ChunkPool({ maxFree: 2 });
    const first = new FrameRing(2048, pool);
    for (let s = 0; s < 200; s++) first.push(bytesFrame(s, 160)); // 4 chunks of 51 frames
    first.push(turnEnd(199));
    first.acceptOldestTurn();
    expect(pool.free).toBe(2); // the other two are left to the GC
    const next = new FrameRing(2048, pool);
    next.push(bytesFrame(0, 160));
    expect(pool.free).toBe(1);
    // A frame bigger than a chunk gets an exact-size one that never goes back to the pool.
    next.push(bytesFrame(1, RING_CHUNK_BYTES + 1));
    next.push(turnEnd(1));
    next.acceptOldestTurn();
    expect(pool.free).toBe(2);
  });

  it('agrees with a plain array model over any mix of pushes, wraps, growth, accepts and trims', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('frame' as const), n: fc.integer({ min: 0, max: 9000 }) }),
            fc.record({ op: fc.constant('turnEnd' as const) }),
            fc.record({ op: fc.constant('accept' as const) }),
            fc.record({ op: fc.constant('trim' as const), keep: fc.integer({ min: 0, max: 80 }) }),
            fc.record({ op: fc.constant('burst' as const), count: fc.integer({ min: 1, max: 150 }), n: fc.integer({ min: 1, max: 320 }) }),
          ),
          { maxLength: 60 },
        ),
        (capacity, ops) => {
          const ring = new FrameRing(capacity);
          let cap = 1;
          while (cap < capacity) cap <<= 1;
          const model: RingEntry[] = [];
          let dropped = 0;
          let seq = 0;
          const push = (e: RingEntry) => {
            if (model.length === cap) {
              model.shift();
              dropped++;
            }
            model.push(e);
            ring.push(e);
          };
          for (const o of ops) {
            if (o.op === 'frame') push(bytesFrame(seq++, o.n));
            else if (o.op === 'burst') for (let i = 0; i < o.count; i++) push(bytesFrame(seq++, o.n));
            else if (o.op === 'turnEnd') push(turnEnd(seq - 1));
            else if (o.op === 'accept') {
              let n = 0;
              while (model.length > 0) {
                n++;
                if (model.shift()!.kind === 'turnEnd') break;
              }
              expect(ring.acceptOldestTurn()).toBe(n);
            } else {
              while (model.length > o.keep && model[0]!.kind !== 'turnEnd') model.shift();
              ring.trimIdle(o.keep);
            }
            expect(ring.size).toBe(model.length);
          }
          expect(ring.dropped).toBe(dropped);
          expect(ring.pendingTurns).toBe(model.filter((e) => e.kind === 'turnEnd').length);
          const got = ring.entries();
          expect(got.map(describeEntry)).toEqual(model.map(describeEntry));
          got.forEach((e, i) => {
            const want = model[i]!;
            if (e.kind === 'frame' && want.kind === 'frame') expect(e.frame).toEqual({ ...want.frame, payload: new Uint8Array(want.frame.payload) });
            else expect(e).toEqual(want);
          });
          const from = Math.floor(seq / 2);
          expect(ring.entries(from).map(describeEntry)).toEqual(model.filter((e) => (e.kind === 'frame' ? e.frame.seq : e.afterSeq + 0.5) >= from).map(describeEntry));
        },
      ),
      { numRuns: 80 },
    );
  });
});
