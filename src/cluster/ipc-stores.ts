/**
 * A gateway process's view of the primary's stores (./memory-stores.ts) under `serve --processes N`
 * without Redis: each operation is one IPC request. A primary that does not answer fails a grant
 * operation the way a Redis that does not answer does (GW_ERR_GRANTS_UNAVAILABLE, counted): a stream
 * is refused rather than trusted. Registry failures are the CallRegistry's to swallow and count.
 */
import type { Counter } from 'prom-client';
import { GatewayError } from '../errors.js';
import type { GrantStore } from '../store/grant-store.js';
import type { RegistryEntry, RegistryStore } from '../calls/call-registry.js';
import type { Logger } from '../observability/logger.js';
import type { IpcClient } from './ipc.js';

export class IpcGrantStore implements GrantStore {
  readonly #ipc: IpcClient;
  readonly #errors: Counter<'op'>;
  readonly #log: Logger;

  constructor(ipc: IpcClient, opts: { errors: Counter<'op'>; logger: Logger }) {
    this.#ipc = ipc;
    this.#errors = opts.errors;
    this.#log = opts.logger.child({ component: 'stream_grants_ipc' });
  }

  async #run<T>(op: string, ...args: unknown[]): Promise<T> {
    try {
      return await this.#ipc.call<T>(`grant.${op}`, ...args);
    } catch (err) {
      this.#errors.inc({ op });
      this.#log.error({ event: 'stream_grants_ipc_failed', op, err: (err as Error).message }, 'stream grant store (primary process) failed; refusing rather than trusting an unverified stream');
      throw new GatewayError('GW_ERR_GRANTS_UNAVAILABLE', `${op}: ${(err as Error).message}`, { cause: err });
    }
  }

  put(token: string, value: string, ttlMs: number): Promise<void> {
    return this.#run('put', token, value, ttlMs);
  }

  async take(token: string): Promise<string | undefined> {
    return (await this.#run<string | null>('take', token)) ?? undefined;
  }

  async peek(token: string): Promise<string | undefined> {
    return (await this.#run<string | null>('peek', token)) ?? undefined;
  }

  revoke(token: string): Promise<void> {
    return this.#run('revoke', token);
  }

  async close(): Promise<void> {}
}

export class IpcRegistryStore implements RegistryStore {
  readonly #ipc: IpcClient;

  constructor(ipc: IpcClient) {
    this.#ipc = ipc;
  }

  put(entries: readonly RegistryEntry[], ttlMs: number): Promise<void> {
    return this.#ipc.call('registry.put', entries, ttlMs);
  }

  remove(callId: string): Promise<void> {
    return this.#ipc.call('registry.remove', callId);
  }

  async get(callId: string): Promise<RegistryEntry | undefined> {
    return (await this.#ipc.call<RegistryEntry | null>('registry.get', callId)) ?? undefined;
  }

  all(): Promise<RegistryEntry[]> {
    return this.#ipc.call('registry.all');
  }

  async close(): Promise<void> {}
}
