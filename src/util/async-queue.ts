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

  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
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
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next(), return: async () => { this.end(); return { value: undefined, done: true }; } };
  }
}
