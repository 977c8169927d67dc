/** The IPC seam between a gateway process and the primary, over an in-memory channel pair. */
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { IpcClient, IpcError, serveIpc, type IpcChannel } from '../../src/cluster/ipc.js';

/** Two ends; a message sent on one arrives (asynchronously, as over a pipe, JSON-copied) on the other. */
function pair(): { worker: IpcChannel & { closed: boolean }; primary: IpcChannel } {
  const toWorker = new EventEmitter();
  const toPrimary = new EventEmitter();
  const worker = {
    closed: false,
    send(m: unknown) {
      if (worker.closed) throw new Error('channel closed');
      const copy: unknown = JSON.parse(JSON.stringify(m));
      setImmediate(() => toPrimary.emit('message', copy));
      return true;
    },
    on: (e: 'message', l: (m: unknown) => void) => toWorker.on(e, l),
    off: (e: 'message', l: (m: unknown) => void) => toWorker.off(e, l),
  };
  const primary = {
    send(m: unknown) {
      const copy: unknown = JSON.parse(JSON.stringify(m));
      setImmediate(() => toWorker.emit('message', copy));
      return true;
    },
    on: (e: 'message', l: (m: unknown) => void) => toPrimary.on(e, l),
    off: (e: 'message', l: (m: unknown) => void) => toPrimary.off(e, l),
  };
  return { worker, primary };
}

describe('IPC to the primary', () => {
  it('answers each call with its own result, in any order', async () => {
    const { worker, primary } = pair();
    serveIpc(primary, {
      add: (a, b) => Number(a) + Number(b),
      slow: async (v) => new Promise((r) => setTimeout(() => r(v), 20)),
    }, () => undefined);
    const ipc = new IpcClient(worker);
    const [slow, fast] = await Promise.all([ipc.call('slow', 'late'), ipc.call('add', 2, 3)]);
    expect({ slow, fast }).toEqual({ slow: 'late', fast: 5 });
  });

  it('turns a throwing handler and an unknown op into rejections naming them, and reports the unknown op', async () => {
    const { worker, primary } = pair();
    const bad = vi.fn();
    serveIpc(primary, { boom: () => { throw new Error('no grants here'); } }, bad);
    const ipc = new IpcClient(worker);
    await expect(ipc.call('boom')).rejects.toThrow(/'boom'.*no grants here/);
    await expect(ipc.call('constructor')).rejects.toThrow(/unknown op 'constructor'/);
    expect(bad).toHaveBeenCalledWith("unknown op 'constructor'");
  });

  it('rejects a call the primary never answers at its deadline, and one on a closed channel at once', async () => {
    const { worker } = pair();
    const ipc = new IpcClient(worker, 50);
    await expect(ipc.call('grant.take', 't')).rejects.toBeInstanceOf(IpcError);
    worker.closed = true;
    await expect(ipc.callWithin(60_000, 'grant.take', 't')).rejects.toThrow(/channel closed/);
  });

  it('ignores messages that are not its own (prom-client shares the channel) and logs a malformed one of ours', async () => {
    const { worker, primary } = pair();
    const bad = vi.fn();
    serveIpc(primary, { ping: () => 'pong' }, bad);
    worker.send({ type: 'prom-client:getMetricsRes', requestId: 1 });
    worker.send({ vg: 'req', id: 'x', op: 42 });
    const ipc = new IpcClient(worker);
    expect(await ipc.call('ping')).toBe('pong');
    expect(bad).toHaveBeenCalledTimes(1);
    expect(bad).toHaveBeenCalledWith('malformed request');
  });

  it('close() rejects what is still pending', async () => {
    const { worker } = pair();
    const ipc = new IpcClient(worker, 60_000);
    const pending = ipc.call('never');
    ipc.close();
    await expect(pending).rejects.toThrow(/channel closed/);
  });
});
