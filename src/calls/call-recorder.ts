/**
 * Where finished and live calls are written (the call log). The call manager calls `started` when a
 * media stream becomes a call, `updated` about once a second for live calls (so a crash loses at most
 * that much of the counters), and `ended` once, when the call is over.
 */
import type { CallSnapshot } from './call.js';

/** A live call as the recorder sees it: its snapshot is taken when its row is written, not before. */
export interface SnapshotSource {
  readonly id: string;
  snapshot(): CallSnapshot;
}

export interface CallRecorder {
  started(snapshot: CallSnapshot): void;
  /** The live calls (read at once; each one's snapshot may be taken later, when it is written). */
  updated(calls: Iterable<SnapshotSource>): void;
  /** The record of a finished call must be durable when this returns (or its promise resolves). */
  ended(snapshot: CallSnapshot): void | Promise<void>;
}
