import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chunkNumber, MediaReorder } from '../../src/transports/media-reorder.js';

describe('media reorder', () => {
  it('passes frames in order at once', () => {
    const r = new MediaReorder<number>(3);
    for (let c = 1; c <= 5; c++) expect(r.push(c, c)).toEqual({ out: [c], verdict: 'in_order' });
  });

  it('holds a frame ahead of a gap and releases both, in order, when the gap fills', () => {
    const r = new MediaReorder<number>(3);
    r.push(1, 1);
    expect(r.push(3, 3)).toEqual({ out: [], verdict: 'held' });
    expect(r.push(2, 2)).toEqual({ out: [2, 3], verdict: 'reordered' });
    expect(r.push(4, 4)).toEqual({ out: [4], verdict: 'in_order' });
  });

  it('gives a gap up after the window, then counts the straggler as late', () => {
    const r = new MediaReorder<number>(2);
    r.push(1, 1);
    expect(r.push(3, 3).out).toEqual([]);
    expect(r.push(4, 4).out).toEqual([]);
    expect(r.push(5, 5)).toEqual({ out: [3, 4, 5], verdict: 'held' });
    expect(r.push(2, 2)).toEqual({ out: [], verdict: 'late' });
  });

  it('drops a frame that comes twice', () => {
    const r = new MediaReorder<number>(3);
    r.push(1, 1);
    r.push(2, 2);
    expect(r.push(2, 2)).toEqual({ out: [], verdict: 'duplicate' });
    r.push(4, 4);
    expect(r.push(4, 4)).toEqual({ out: [], verdict: 'duplicate' });
  });

  it('gives up what it holds, in chunk order, when the stream ends', () => {
    const r = new MediaReorder<number>(3);
    r.push(1, 1);
    r.push(4, 4);
    r.push(3, 3);
    expect(r.flush()).toEqual([3, 4]);
    expect(r.flush()).toEqual([]);
  });

  it('passes frames without a chunk number as they come', () => {
    const r = new MediaReorder<string>(3);
    expect(r.push(undefined, 'a').out).toEqual(['a']);
  });

  it('property: any arrival order within the window comes out sorted, each frame once', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 60 }), (swaps) => {
        // Build an arrival order by swapping neighbours a bounded amount (displacement < window).
        const order = swaps.map((_, i) => i + 1);
        for (let i = 0; i + 1 < order.length; i += 2) if (swaps[i] === 1) [order[i], order[i + 1]] = [order[i + 1], order[i]];
        const r = new MediaReorder<number>(3);
        const out: number[] = [];
        for (const c of order) out.push(...r.push(c, c).out);
        const firstArrived = order[0];
        const expected = order.filter((c) => c >= firstArrived).sort((a, b) => a - b);
        expect(out).toEqual(expected);
      }),
    );
  });

  it('reads chunk numbers as the carriers write them', () => {
    expect(chunkNumber('12')).toBe(12);
    expect(chunkNumber(7)).toBe(7);
    expect(chunkNumber('x')).toBeUndefined();
    expect(chunkNumber('-1')).toBeUndefined();
    expect(chunkNumber(undefined)).toBeUndefined();
  });
});
