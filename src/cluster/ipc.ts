/**
 * Requests from a gateway process to the primary of `serve --processes N`, over the IPC channel
 * node:cluster opens between them: one request, one answer, matched by id, with a deadline so a
 * primary that does not answer is an error the caller handles (a refused grant), never a hang.
 * Messages carry `vg` so they never mix with prom-client's own cluster messages on the same channel.
 */

export interface IpcRequest {
  readonly vg: 'req';
  readonly id: number;
  readonly op: string;
  readonly args: readonly unknown[];
}

export interface IpcResponse {
  readonly vg: 'res';
  readonly id: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: string;
}

/** What both ends of the channel look like (a worker's `process`, the primary's `Worker`). */
export interface IpcChannel {
  send(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

export class IpcError extends Error {
  constructor(op: string, reason: string) {
    super(`IPC '${op}' to the primary failed: ${reason}`);
    this.name = 'IpcError';
  }
}

function isResponse(m: unknown): m is IpcResponse {
  return typeof m === 'object' && m !== null && (m as { vg?: unknown }).vg === 'res' && typeof (m as { id?: unknown }).id === 'number';
}

export function isRequest(m: unknown): m is IpcRequest {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Partial<IpcRequest>;
  return r.vg === 'req' && typeof r.id === 'number' && typeof r.op === 'string' && Array.isArray(r.args);
}

/** The process side: `call(op, ...args)` resolves with the primary's answer. */
export class IpcClient {
  readonly #channel: IpcChannel;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; op: string }>();
  readonly #onMessage = (m: unknown) => this.#answer(m);
  #next = 1;

  constructor(channel: IpcChannel, timeoutMs = 2000) {
    this.#channel = channel;
    this.#timeoutMs = timeoutMs;
    channel.on('message', this.#onMessage);
  }

  call<T>(op: string, ...args: unknown[]): Promise<T> {
    return this.callWithin<T>(this.#timeoutMs, op, ...args);
  }

  /** As call(), with its own deadline (gathering every process's metrics takes longer than a grant). */
  callWithin<T>(timeoutMs: number, op: string, ...args: unknown[]): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new IpcError(op, `no answer within ${String(timeoutMs)} ms`));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, op });
      const request: IpcRequest = { vg: 'req', id, op, args };
      try {
        // false only means the channel is backed up: the message is still queued.
        this.#channel.send(request);
      } catch (err) {
        // Thrown: the channel is closed (the primary is gone).
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new IpcError(op, (err as Error).message));
      }
    });
  }

  #answer(m: unknown): void {
    if (!isResponse(m)) return;
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.value);
    else p.reject(new IpcError(p.op, m.error ?? 'refused'));
  }

  close(): void {
    this.#channel.off('message', this.#onMessage);
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new IpcError(p.op, 'the channel closed'));
      this.#pending.delete(id);
    }
  }
}

export type IpcHandlers = Record<string, (...args: unknown[]) => unknown>;

/** The primary side: answers one process's requests with `handlers`; an unknown op or a throw is an error answer. */
export function serveIpc(channel: IpcChannel, handlers: IpcHandlers, onBadMessage: (detail: string) => void): () => void {
  const listener = (m: unknown) => {
    if (!isRequest(m)) {
      // prom-client's own messages share the channel; anything else tagged ours but malformed is logged.
      if (typeof m === 'object' && m !== null && (m as { vg?: unknown }).vg === 'req') onBadMessage('malformed request');
      return;
    }
    const handler = Object.hasOwn(handlers, m.op) ? handlers[m.op] : undefined;
    const answer = (r: Omit<IpcResponse, 'vg' | 'id'>) => {
      try {
        channel.send({ vg: 'res', id: m.id, ...r });
      } catch {
        // The process is gone; its pending call times out on its side (it has no side any more).
      }
    };
    if (!handler) {
      onBadMessage(`unknown op '${m.op.slice(0, 40)}'`);
      answer({ ok: false, error: `unknown op '${m.op.slice(0, 40)}'` });
      return;
    }
    Promise.resolve()
      .then(() => handler(...m.args))
      .then(
        (value) => answer({ ok: true, value }),
        (err: unknown) => answer({ ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  };
  channel.on('message', listener);
  return () => channel.off('message', listener);
}
