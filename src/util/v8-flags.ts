/**
 * V8 flags the gateway's own processes run with (`voice-gateway serve`, each of its --processes),
 * set once at start-up before any call is taken. Only the CLI applies them: a library user's process
 * keeps whatever flags its owner chose.
 *
 * Allocation-site pretenuring is off by default (V8_PRETENURING=true restores V8's default). V8 watches
 * how many objects from each allocation site survive a scavenge, and once a site's survival is high it
 * allocates that site's objects in the old generation from then on. A media gateway's per-frame objects
 * (parsed carrier messages, provider events, their Buffers) die within milliseconds, but a burst in
 * which many survive one scavenge (a ramp of calls, turn ends coming together) can tenure their sites
 * for good. Every frame's garbage then goes to the old generation and waits for a mark-compact, and
 * the audio buffers those objects hold stay allocated outside the heap until it comes: at 100 calls
 * with the gateway's VAD ending the turns, 640-700 KiB RSS per call against 290-330 without it, more
 * CPU (concurrent marking) and a longer event-loop delay (bench/results/2026-12-07-issue16-session15.md).
 *
 * `v8.setFlagsFromString` after start-up is documented as possibly unpredictable in general; this flag
 * is read when a scavenge processes the pretenuring feedback, so it takes effect from the next one
 * (measured, see the results file above). Node refuses V8 flags in NODE_OPTIONS, which is why the CLI
 * sets it rather than the operator.
 */
import { setFlagsFromString } from 'node:v8';

/** The V8 flags for a gateway process with these settings. */
export function gatewayV8Flags(settings: { readonly v8Pretenuring: boolean }): string[] {
  return settings.v8Pretenuring ? [] : ['--no-allocation-site-pretenuring'];
}

/** Apply `flags` to this process's V8 (the setter is injected in tests). Returns what was applied. */
export function applyV8Flags(flags: readonly string[], set: (flag: string) => void = setFlagsFromString): string[] {
  for (const flag of flags) set(flag);
  return [...flags];
}
