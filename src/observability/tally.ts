/**
 * Counts for the per-frame path as plain numbers: a call takes its slot once (label values fixed for
 * its life) and bumps `slot.count`, with no label hashing or prom-client call per frame. prom-client
 * folds the slots into the real Counter when it collects (a scrape, `get()`), so the metric's name,
 * labels and values are what they were when every frame called `inc()`.
 */
import type { Counter } from 'prom-client';

export interface TallySlot {
  count: number;
}

export class Tally<L extends string> {
  readonly #slots = new Map<string, { readonly labels: Record<L, string>; readonly slot: TallySlot }>();

  /** The slot for one set of label values; the same object for the same values. */
  slot(labels: Record<L, string>): TallySlot {
    const key = JSON.stringify(labels);
    let entry = this.#slots.get(key);
    if (!entry) {
      entry = { labels, slot: { count: 0 } };
      this.#slots.set(key, entry);
    }
    return entry.slot;
  }

  /** Move what was counted since the last fold into `counter` (called from its `collect()`). */
  fold(counter: Counter<L>): void {
    for (const { labels, slot } of this.#slots.values()) {
      if (slot.count === 0) continue;
      const n = slot.count;
      slot.count = 0;
      counter.inc(labels as Partial<Record<L, string | number>>, n);
    }
  }
}
