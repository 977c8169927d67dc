/** Polling for a condition in real-time tests: the one way they wait, with a deadline naming what. */

/**
 * Resolves with `check`'s first truthy value; rejects `timed out waiting for <what>` after `ms`.
 * A throw from `check` rejects at once (a child process that exited is not worth waiting for).
 */
export async function until<T>(check: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string, ms = 10_000, everyMs = 25): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
