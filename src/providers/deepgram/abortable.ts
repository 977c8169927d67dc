/**
 * Iterate an async iterable but stop the moment `signal` aborts, even if the producer ignores the
 * signal: a stuck next() is abandoned (its return() is asked for, not awaited) and the abort reason thrown.
 */
import { untilAborted } from '../../util/abort.js';

export async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let done = false;
  try {
    for (;;) {
      const r = await untilAborted(it.next(), signal);
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!done) void Promise.resolve(it.return?.()).catch(() => undefined);
  }
}
