/**
 * Failover policy and records: which providers a call may move to, in what order, and what a switch
 * looked like. The mechanics (hold, replay, drain, let go) live in failover-session.ts.
 */
import type { Provider } from '../providers/types.js';

export type SwitchReason =
  | 'manual'
  | 'breaker_open'
  | 'provider_error'
  | 'provider_closed'
  | 'provider_silent'
  | 'connect_failed'
  | 'recovery';

export type SwitchResult = 'ok' | 'rolled_back' | 'failed';

export interface SwitchAttempt {
  provider: string;
  ok: boolean;
  /** Taken from the warm standby: no handshake. */
  warm?: boolean;
  error?: string;
  durationMs: number;
}

export interface SwitchRecord {
  from: string;
  to: string;
  reason: SwitchReason;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Live frames that arrived during the switch and were held for the new provider. */
  framesHeld: number;
  /** Unaccepted frames of the current turn replayed to the new provider. */
  framesReplayed: number;
  /** Caller turns among the replay that the new provider is asked to answer. */
  turnsReplayed: number;
  /** Sequence numbers of the frames replayed and held, in the order the new provider got them. */
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  result: SwitchResult;
  attempts: SwitchAttempt[];
}

export interface FailoverSettings {
  /** A switch (connect + replay) that takes longer than this fails over to the next candidate. */
  readonly switchDeadlineMs: number;
  /**
   * After a caller turn ends, a provider that shows no sign of life (no acknowledgement, no event) for
   * this long is switched away from (PROVIDER_RESPONSE_TIMEOUT_MS).
   */
  readonly responseTimeoutMs: number;
  /** The same deadline for one provider (<NAME>_RESPONSE_TIMEOUT_MS), when set. */
  readonly responseTimeoutByProviderMs?: Readonly<Record<string, number>>;
  /**
   * A provider that acknowledged the turn (it is alive and generating) gets this long, from the turn
   * end, to start its reply or say it has none (PROVIDER_REPLY_TIMEOUT_MS).
   */
  readonly replyTimeoutMs?: number;
  /** Go back to a preferred provider at a turn boundary once its breaker has closed. */
  readonly failback: boolean;
  /** When every provider is down: hang up after an apology tone, or keep the caller on echo. */
  readonly allDown: 'hangup' | 'echo';
  /** Keep a connected session on the next provider so a switch costs no handshake. */
  readonly standby?: boolean;
}

export const DEFAULT_FAILOVER: FailoverSettings = {
  switchDeadlineMs: 3000,
  responseTimeoutMs: 1500,
  replyTimeoutMs: 15_000,
  failback: false,
  allDown: 'hangup',
};

/** Provider with its breaker state visible (GuardedProvider). */
export interface GuardedLike extends Provider {
  readonly state?: 'closed' | 'halfOpen' | 'open';
  onOpen?(listener: () => void): () => void;
}

/**
 * Candidates after `current` in PROVIDERS order, wrapping round to the earlier ones, skipping open
 * breakers and providers that already failed in this switch.
 */
export function fallbackOrder(providers: readonly GuardedLike[], current: string, exclude: ReadonlySet<string>): GuardedLike[] {
  const i = providers.findIndex((p) => p.name === current);
  const rotated = i < 0 ? [...providers] : [...providers.slice(i + 1), ...providers.slice(0, i)];
  return rotated.filter((p) => p.name !== current && !exclude.has(p.name) && p.state !== 'open');
}
