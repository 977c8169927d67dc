/**
 * Settle with `promise`, or reject as soon as `signal` aborts (the promise itself runs on; its result
 * is then ignored). `reason` names the rejection; the signal's own reason by default.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, reason: () => Error = () => signal.reason as Error): Promise<T> {
  if (signal.aborted) {
    // Nobody will read its outcome: a late failure must not become an unhandled rejection.
    promise.catch(() => undefined);
    return Promise.reject(reason());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}
