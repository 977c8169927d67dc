/**
 * Where finished and live calls are written (the call log). The call manager calls `started` when a
 * media stream becomes a call, `updated` about once a second for live calls (so a crash loses at most
 * that much of the counters), and `ended` once, when the call is over.
 */
import type { CallSnapshot } from './call.js';

export interface CallRecorder {
  started(snapshot: CallSnapshot): void;
  updated(snapshots: readonly CallSnapshot[]): void;
  /** The record of a finished call must be durable when this returns (or its promise resolves). */
  ended(snapshot: CallSnapshot): void | Promise<void>;
}
