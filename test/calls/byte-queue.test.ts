import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteQueue } from '../../src/calls/byte-queue.js';
import { ChunkPool, RING_CHUNK_BYTES } from '../../src/calls/chunk-pool.js';

/** Bytes numbered from `from`, to follow each one through the queue. */
const numbered = (n: number, from: number) => Uint8Array.from({ length: n }, (_, i) => (from + i) % 251);

describe('ByteQueue', () => {
  it('gives bytes back in order, as views inside a chunk and as copies across two', () => {
    const q = new ByteQueue();
    q.push(numbered(RING_CHUNK_BYTES + 500, 0));
    const first = q.shift(480);
    expect(first.buffer.byteLength).toBe(RING_CHUNK_BYTES); // a view into the chunk, no copy
    expect([...first]).toEqual([...numbered(480, 0)]);
    q.drop(RING_CHUNK_BYTES - 480 - 100);
    const across = q.shift(300); // 100 from the first chunk, 200 from the second
    expect([...across]).toEqual([...numbered(300, RING_CHUNK_BYTES - 100)]);
    expect(across.buffer.byteLength).not.toBe(RING_CHUNK_BYTES);
    expect(q.length).toBe(300);
  });

  it('matches a plain array model over any pushes, shifts, drops and clears', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), n: fc.integer({ min: 0, max: 3 * RING_CHUNK_BYTES }) }),
      fc.record({ kind: fc.constant('shift' as const), n: fc.integer({ min: 0, max: 2 * RING_CHUNK_BYTES }) }),
      fc.record({ kind: fc.constant('drop' as const), n: fc.integer({ min: 0, max: 2 * RING_CHUNK_BYTES }) }),
      fc.record({ kind: fc.constant('clear' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const pool = new ChunkPool();
        const q = new ByteQueue(pool);
        let model: number[] = [];
        let next = 0;
        for (const o of ops) {
          if (o.kind === 'push') {
            const bytes = numbered(o.n, next);
            next += o.n;
            q.push(bytes);
            model.push(...bytes);
          } else if (o.kind === 'shift') {
            const n = Math.min(o.n, model.length);
            const got = q.shift(n);
            expect([...got]).toEqual(model.slice(0, n));
            model = model.slice(n);
          } else if (o.kind === 'drop') {
            q.drop(o.n);
            model = model.slice(Math.min(o.n, model.length));
          } else {
            q.clear();
            model = [];
          }
          expect(q.length).toBe(model.length);
        }
        // Drained, the queue keeps no chunk: every chunk it took is back in the pool.
        q.drop(q.length);
        q.clear();
        expect(q.chunks).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a view valid until the queue changes, then gives its chunk back', () => {
    const pool = new ChunkPool();
    const q = new ByteQueue(pool);
    q.push(numbered(160, 7));
    const view = q.shift(160); // the queue is now empty, its one chunk still viewed
    expect(pool.free).toBe(0);
    const other = new ByteQueue(pool);
    other.push(numbered(160, 99)); // another call takes a chunk: not the viewed one
    expect([...view]).toEqual([...numbered(160, 7)]);
    q.drop(0); // the next change releases the spent chunk
    expect(pool.free).toBe(1);
    expect(q.chunks).toBe(0);
  });

  it('refuses to shift more than it holds', () => {
    const q = new ByteQueue();
    q.push(numbered(10, 0));
    expect(() => q.shift(11)).toThrow(RangeError);
    expect(q.length).toBe(10);
  });
});
