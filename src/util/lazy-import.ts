/**
 * A module imported the first time it is needed instead of at start-up. The SDKs of the providers
 * and carriers, werift, ioredis and pg took about 1.4 s of CPU to import together, most of a
 * gateway's start (bench/results/2026-12-07-issue16-session17.md), and a gateway uses only those
 * its configuration names. A failed import is not kept: the next call tries again.
 */
export function lazyImport<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () =>
    (loading ??= load().catch((err: unknown) => {
      loading = undefined;
      throw err;
    }));
}
