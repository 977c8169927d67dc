/**
 * The warm standby (STANDBY=1): one session kept connected on the next provider in order, so a switch
 * to it costs no handshake. This slot connects it on a timer, holds it, closes a stale one and hands
 * it over. It never reads the session's events: its owner (FailoverSession) watches them from the
 * moment it holds the session, because a standby's event stream goes on as the live one once it
 * takes the call.
 */
import { isGatewayError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { AudioFormat } from '../pipeline/frame.js';
import type { ConversationTurn, ProviderConnectOptions, ProviderSession } from '../providers/types.js';
import type { GuardedLike } from './failover.js';

export interface Standby {
  readonly provider: GuardedLike;
  readonly session: ProviderSession;
  readonly inputFormat: AudioFormat;
}

export class WarmStandby {
  readonly #log: Logger;
  #held: Standby | undefined;
  #timer: NodeJS.Timeout | undefined;
  #settle: ((r: undefined) => void) | undefined;
  #closed = false;

  constructor(logger: Logger) {
    this.#log = logger;
  }

  /** A connect is scheduled: the owner does not ask for another meanwhile. */
  get scheduled(): boolean {
    return this.#timer !== undefined;
  }

  /** The provider held standing by, if any. */
  get provider(): GuardedLike | undefined {
    return this.#held?.provider;
  }

  isStandby(session: ProviderSession): boolean {
    return this.#held?.session === session;
  }

  /**
   * Connect `provider` after `delayMs`. Resolves with the connected session, not yet held (the owner
   * checks it is still wanted, then holds and watches it); 'failed' when the connect failed (logged);
   * undefined when nothing was connected (closed, or a standby is held by then).
   */
  connect(provider: GuardedLike, options: ProviderConnectOptions, delayMs: number): Promise<ProviderSession | 'failed' | undefined> {
    return new Promise((resolve) => {
      this.#settle = resolve;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#settle = undefined;
        if (this.#closed || this.#held) return resolve(undefined);
        provider.connect(options).then(resolve, (err: unknown) => {
          this.#log.warn({ event: 'standby_failed', provider: provider.name, code: isGatewayError(err) ? err.code : undefined }, 'warm standby failed to connect');
          resolve('failed');
        });
      }, delayMs);
      this.#timer.unref();
    });
  }

  hold(standby: Standby): void {
    this.#held = standby;
    this.#log.debug({ event: 'standby_ready', provider: standby.provider.name }, 'warm standby connected');
  }

  /** Close the held standby (it is for a provider no longer next). */
  drop(): void {
    const stale = this.#held;
    this.#held = undefined;
    if (stale) void stale.session.close().catch(() => undefined);
  }

  /** The held standby dropped by itself: forget it. */
  lost(): void {
    this.#held = undefined;
  }

  /** The standby for `provider`, if it takes `inputFormat`, handed the conversation so far. */
  take(provider: GuardedLike, inputFormat: AudioFormat, history: readonly ConversationTurn[]): ProviderSession | undefined {
    const sb = this.#held;
    if (!sb || sb.provider !== provider || sb.inputFormat.codec !== inputFormat.codec || sb.inputFormat.sampleRate !== inputFormat.sampleRate) return undefined;
    if (history.length > 0) {
      // A session that can only be given history at connect is no standby once there is history.
      if (!sb.session.appendHistory) return undefined;
      sb.session.appendHistory([...history]);
    }
    this.#held = undefined;
    return sb.session;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#settle?.(undefined);
    this.#settle = undefined;
    const held = this.#held;
    this.#held = undefined;
    if (held) await held.session.close().catch(() => undefined);
  }
}
