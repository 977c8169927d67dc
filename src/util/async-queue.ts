/**
 * A single-consumer async queue: producers push synchronously, one consumer iterates with
 * `for await`. Ends cleanly on `end()`; an error passed to `end(err)` is thrown to the consumer
 * after the items before it. Bounded: past `limit` items the oldest is dropped and counted, because
 * real-time audio that nobody reads in time is worth less than the newest.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #head = 0;
  #waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  #ended = false;
  #error: unknown;
  #dropped = 0;
  /** Waiting for the consumer to have taken everything pushed so far (see drained()). */
  #drainWaiters: (() => void)[] = [];
  readonly #limit: number;

  constructor(opts: { limit?: number } = {}) {
    this.#limit = opts.limit ?? Infinity;
  }

  get dropped(): number {
    return this.#dropped;
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  get ended(): boolean {
    return this.#ended;
  }

  push(item: T): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter.resolve({ value: item, done: false });
      return;
    }
    this.#items.push(item);
    if (this.length > this.#limit) {
      this.#head++;
      this.#dropped++;
    }
  }

  /**
   * Resolves once the consumer has taken every item pushed so far and asked for the next one (with
   * a `for await` loop whose body is synchronous: it has handled them), or the queue has ended. A
   * producer uses it to let the consumer act on an item before the producer goes on.
   */
  drained(): Promise<void> {
    if (this.#ended || (this.#waiter !== undefined && this.length === 0)) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #notifyDrained(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w();
  }

  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#notifyDrained();
    const waiter = this.#waiter;
    if (waiter && this.length === 0) {
      this.#waiter = undefined;
      if (error === undefined) waiter.resolve({ value: undefined, done: true });
      else waiter.reject(error);
    }
  }

  #take(): T {
    const item = this.#items[this.#head++];
    // Compact now and then so the array does not grow for the life of a long call.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.length > 0) return Promise.resolve({ value: this.#take(), done: false });
    if (this.#ended) {
      return this.#error === undefined
        ? Promise.resolve({ value: undefined, done: true })
        : Promise.reject(this.#error as Error);
    }
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      if (this.#drainWaiters.length > 0) this.#notifyDrained();
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next(), return: async () => { this.end(); return { value: undefined, done: true }; } };
  }
}
