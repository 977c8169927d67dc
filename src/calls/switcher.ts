/**
 * The failover mechanics of one call: hold, replay, hand over, let go; roll back; the warm standby.
 * It works on the call through `SwitchHost`, so the call keeps its frames, turns and playback, and
 * this file keeps nothing but the switch.
 *
 * A switch: new frames are held in order (in the new link's sink), the unaccepted audio of the
 * current turn is replayed ahead of them, the new provider gets the conversation so far, and only
 * when it is up is the old one let go. A manual switch to a provider that fails rolls back; a
 * failure-driven one tries the next candidate; when none is left, the host's all-down outcome applies.
 */
import { isGatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { AudioFormat } from '../pipeline/frame.js';
import type { ConversationTurn, ProviderConnectOptions, ProviderSession } from '../providers/types.js';
import { fallbackOrder, type FailoverSettings, type GuardedLike, type SwitchAttempt, type SwitchReason, type SwitchRecord } from './failover.js';
import type { RingEntry } from './frame-ring.js';
import type { ProviderLink } from './provider-link.js';

export interface SwitchHost {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly signal: AbortSignal;
  readonly providers: readonly GuardedLike[];
  readonly settings: FailoverSettings;
  isOver(): boolean;
  link(): ProviderLink;
  setLink(link: ProviderLink): void;
  newLink(provider: GuardedLike): ProviderLink;
  /** The replay ring's entries, oldest first (from a sequence number on, when given). */
  unaccepted(fromSeq?: number): RingEntry[];
  /** The sequence number the next caller frame will get. */
  nextSeq(): number;
  pendingTurns(): number;
  history(): readonly ConversationTurn[];
  inputFormatFor(provider: GuardedLike): AudioFormat;
  connectOptions(inputFormat: AudioFormat, signal: AbortSignal, history?: readonly ConversationTurn[]): ProviderConnectOptions;
  /** Stop the active session's events reaching the caller and end any reply in progress. */
  quiesce(old: ProviderLink): void;
  /** Make `session` the one the caller hears; `relayRunning` when its event loop already runs. */
  adopt(link: ProviderLink, session: ProviderSession, relayRunning: boolean): void;
  /** Start a session's event loop (a standby's, so its drop is noticed). */
  watch(session: ProviderSession): void;
  armResponseTimer(): void;
  allProvidersDown(old: ProviderLink): Promise<void>;
}

interface Standby {
  provider: GuardedLike;
  session: ProviderSession;
  inputFormat: AudioFormat;
}

export class ProviderSwitcher {
  readonly #host: SwitchHost;
  readonly #switches: SwitchRecord[] = [];
  #switching: Promise<SwitchRecord> | undefined;
  #standby: Standby | undefined;
  #standbyTimer: NodeJS.Timeout | undefined;

  constructor(host: SwitchHost) {
    this.#host = host;
  }

  get switching(): boolean {
    return this.#switching !== undefined;
  }

  get records(): readonly SwitchRecord[] {
    return this.#switches;
  }

  /** Whether `session` is the warm standby (its events are watched, not heard). */
  isStandby(session: ProviderSession): boolean {
    return this.#standby?.session === session;
  }

  /** The standby dropped: forget it and connect another shortly. */
  standbyLost(): void {
    this.#standby = undefined;
    this.refreshStandby(1000);
  }

  /** Resolves with the switch record; never throws. A switch asked for during one joins it. */
  switchProvider(reason: SwitchReason, target?: string): Promise<SwitchRecord> {
    if (this.#switching) return this.#switching;
    const p = this.#run(reason, target).finally(() => {
      this.#switching = undefined;
    });
    this.#switching = p;
    return p;
  }

  /** Wait for a switch in progress, then close the standby. */
  async close(): Promise<void> {
    if (this.#switching) await this.#switching.catch(() => undefined);
    if (this.#standbyTimer) clearTimeout(this.#standbyTimer);
    this.#standbyTimer = undefined;
    const standby = this.#standby;
    this.#standby = undefined;
    if (standby) await standby.session.close().catch(() => undefined);
  }

  async #run(reason: SwitchReason, target: string | undefined): Promise<SwitchRecord> {
    const host = this.#host;
    const t0 = performance.now();
    const startedAt = new Date();
    const old = host.link();
    const from = old.provider.name;
    const heldFromSeq = host.nextSeq();
    // The API checks a target's name first; an unknown one here simply finds no candidate and rolls back.
    const candidates = target !== undefined ? host.providers.filter((p) => p.name === target) : fallbackOrder(host.providers, from, new Set());
    host.log.info({ event: 'switch_started', from, reason, candidates: candidates.map((c) => c.name) }, 'switching provider');
    host.quiesce(old);

    const attempts: SwitchAttempt[] = [];
    for (const candidate of candidates) {
      if (host.isOver()) break;
      const ta = performance.now();
      const link = host.newLink(candidate);
      // Replay first, then point live frames at the new link: order is the ring's, then arrival.
      let replayed = 0;
      let turnsReplayed = 0;
      let firstSeq: number | undefined;
      let lastSeq: number | undefined;
      for (const e of host.unaccepted()) {
        if (e.kind === 'frame') {
          link.write({ ...e.frame, replay: true });
          replayed++;
          firstSeq ??= e.frame.seq;
          lastSeq = e.frame.seq;
        } else {
          link.endTurn(e.turn);
          turnsReplayed++;
        }
      }
      const liveFromSeq = host.nextSeq();
      host.setLink(link);
      const deadline = AbortSignal.timeout(host.settings.switchDeadlineMs);
      const warm = this.#takeStandby(candidate, link);
      try {
        const session = warm ?? (await candidate.connect(host.connectOptions(link.inputFormat, AbortSignal.any([host.signal, deadline]))));
        if (host.isOver()) {
          await session.close();
          break;
        }
        const framesHeld = host.nextSeq() - liveFromSeq;
        if (framesHeld > 0) lastSeq = host.nextSeq() - 1;
        firstSeq ??= framesHeld > 0 ? liveFromSeq : undefined;
        host.adopt(link, session, warm !== undefined);
        attempts.push({ provider: candidate.name, ok: true, durationMs: Math.round(performance.now() - ta), ...(warm ? { warm: true } : {}) });
        void old.retire({ closeSession: true }).catch(() => undefined);
        if (host.pendingTurns() > 0) host.armResponseTimer();
        this.refreshStandby();
        return this.#finish({ from, to: candidate.name, reason, startedAt, t0, framesHeld, framesReplayed: replayed, turnsReplayed, firstSeq, lastSeq, result: 'ok', attempts });
      } catch (err) {
        attempts.push({ provider: candidate.name, ok: false, error: isGatewayError(err) ? err.code : (err as Error).message, durationMs: Math.round(performance.now() - ta) });
        host.log.warn({ event: 'switch_attempt_failed', from, to: candidate.name, err }, 'switch attempt failed');
        await link.retire({ closeSession: true });
      }
    }

    // Nothing took the call. A manual switch returns to the provider it came from, which still works.
    if ((reason === 'manual' || reason === 'recovery') && old.session && !old.retired && !host.isOver()) {
      const back = host.newLink(old.provider as GuardedLike);
      const missed = host.unaccepted(heldFromSeq);
      for (const e of missed) {
        if (e.kind === 'frame') back.write({ ...e.frame, replay: true });
        else back.endTurn(e.turn);
      }
      host.setLink(back);
      const session = old.session;
      await old.retire({ closeSession: false });
      // Its event loop never stopped: making it heard again is all it takes.
      host.adopt(back, session, true);
      return this.#finish({ from, to: from, reason, startedAt, t0, framesHeld: missed.length, framesReplayed: 0, turnsReplayed: 0, firstSeq: undefined, lastSeq: undefined, result: 'rolled_back', attempts });
    }
    const record = this.#finish({ from, to: 'none', reason, startedAt, t0, framesHeld: 0, framesReplayed: 0, turnsReplayed: 0, firstSeq: undefined, lastSeq: undefined, result: 'failed', attempts });
    void host.allProvidersDown(old);
    return record;
  }

  #finish(r: Omit<SwitchRecord, 'startedAt' | 'finishedAt' | 'durationMs'> & { startedAt: Date; t0: number }): SwitchRecord {
    const durationMs = performance.now() - r.t0;
    const record: SwitchRecord = {
      from: r.from,
      to: r.to,
      reason: r.reason,
      startedAt: r.startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: Math.round(durationMs * 10) / 10,
      framesHeld: r.framesHeld,
      framesReplayed: r.framesReplayed,
      turnsReplayed: r.turnsReplayed,
      firstSeq: r.firstSeq,
      lastSeq: r.lastSeq,
      result: r.result,
      attempts: r.attempts,
    };
    this.#switches.push(record);
    const { metrics, log } = this.#host;
    metrics.providerSwitchesTotal.inc({ from: r.from, to: r.to, reason: r.reason, result: r.result });
    metrics.providerSwitchDurationSeconds.observe({ result: r.result }, durationMs / 1000);
    log[r.result === 'ok' ? 'info' : 'warn']({ event: 'switch_finished', ...record }, `provider switch ${r.from} -> ${r.to}: ${r.result}`);
    return record;
  }

  /** Keep one connected session on the next provider in order (STANDBY=1); replaced if it drops. */
  refreshStandby(delayMs = 0): void {
    const host = this.#host;
    if (!host.settings.standby || host.isOver() || this.#standbyTimer) return;
    const current = host.link().provider.name;
    const next = fallbackOrder(host.providers, current, new Set())[0];
    if (this.#standby && this.#standby.provider === next) return;
    const stale = this.#standby;
    this.#standby = undefined;
    if (stale) void stale.session.close().catch(() => undefined);
    if (!next) return;
    this.#standbyTimer = setTimeout(() => {
      this.#standbyTimer = undefined;
      if (host.isOver() || this.#standby) return;
      const inputFormat = host.inputFormatFor(next);
      // The conversation is handed over when the standby takes the call (appendHistory).
      next.connect(host.connectOptions(inputFormat, host.signal, [])).then(
        (session) => {
          if (host.isOver() || this.#standby || next.name === host.link().provider.name) {
            void session.close();
            return;
          }
          this.#standby = { provider: next, session, inputFormat };
          host.log.debug({ event: 'standby_ready', provider: next.name }, 'warm standby connected');
          host.watch(session);
        },
        (err: unknown) => {
          host.log.warn({ event: 'standby_failed', provider: next.name, code: isGatewayError(err) ? err.code : undefined }, 'warm standby failed to connect');
          this.refreshStandby(1000);
        },
      );
    }, delayMs);
    this.#standbyTimer.unref();
  }

  /** Take the warm standby for `provider` if it is usable now, handing it the conversation so far. */
  #takeStandby(provider: GuardedLike, link: ProviderLink): ProviderSession | undefined {
    const sb = this.#standby;
    if (!sb || sb.provider !== provider || sb.inputFormat.codec !== link.inputFormat.codec || sb.inputFormat.sampleRate !== link.inputFormat.sampleRate) return undefined;
    const history = this.#host.history();
    if (history.length > 0) {
      if (!sb.session.appendHistory) return undefined;
      sb.session.appendHistory([...history]);
    }
    this.#standby = undefined;
    return sb.session;
  }
}
