/** AsyncQueue.drained(): a producer waits until the consumer has acted on what was pushed. */
import { describe, expect, it } from 'vitest';
import { AsyncQueue } from '../../src/util/async-queue.js';

const ticks = async (n: number) => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('AsyncQueue.drained', () => {
  it('resolves at once when the consumer waits on an empty queue', async () => {
    const q = new AsyncQueue<number>();
    void q.next();
    let done = false;
    void q.drained().then(() => (done = true));
    await ticks(2);
    expect(done).toBe(true);
  });

  it('waits until the consumer has handled every item pushed and asked for the next', async () => {
    const q = new AsyncQueue<number>();
    const handled: number[] = [];
    const order: string[] = [];
    void (async () => {
      for await (const n of q) {
        await ticks(3); // a consumer may take a few ticks over one item
        handled.push(n);
        order.push(`handled ${String(n)}`);
      }
    })();
    q.push(1);
    q.push(2);
    await q.drained();
    order.push('drained');
    expect(handled).toEqual([1, 2]);
    expect(order).toEqual(['handled 1', 'handled 2', 'drained']);
  });

  it('resolves when the queue ends, even with nobody consuming', async () => {
    const q = new AsyncQueue<number>();
    q.push(1);
    const drained = q.drained();
    q.end();
    await expect(drained).resolves.toBeUndefined();
  });
});
