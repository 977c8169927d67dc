/**
 * The loopback OpenAI Realtime fake in a worker thread of the load generator (bench/fake-openai.ts
 * starts it): its own event loop, so its TLS socket, JSON and replies for every call no longer run on
 * the callers' loop. The probe's records reach the ledger through bench/provider-ledger-link.ts, timed
 * on the callers' clock: `performance.now()` differs between threads (each has its own time origin),
 * `process.hrtime` does not, so the thread adds the offset the parent measured between the two.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { OpenAIRealtimeFake, type RealtimeFakeOptions } from '../test/fakes/openai-realtime-fake.js';
import { LedgerPoster, hrMs } from './provider-ledger-link.js';
import { probeRealtimeFake } from './realtime-fake-probe.js';

export interface FakeThreadData {
  readonly fake: RealtimeFakeOptions;
  readonly ledgerPort: MessagePort;
  /** The parent's performance.now() minus its hrtime in ms. */
  readonly clockOffsetMs: number;
}

export type FakeThreadMessage =
  | { readonly type: 'ready'; readonly apiKey: string; readonly baseUrl: string; readonly caFile: string }
  | { readonly type: 'loopDelay'; readonly p99Ms: number }
  | { readonly type: 'closed' };

/** What the parent asks. */
export type FakeThreadRequest = 'loopDelay' | 'close';

/** The monitor records whole intervals: taken off, as the load generator does for its own loop. */
const LOOP_RESOLUTION_MS = 5;

const data = workerData as FakeThreadData;
const port = parentPort!;
const poster = new LedgerPoster(data.ledgerPort);
const fake = await OpenAIRealtimeFake.start(data.fake);
probeRealtimeFake(fake, poster, () => hrMs() + data.clockOffsetMs);
const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
loop.enable();
port.on('message', (m: FakeThreadRequest) => {
  if (m === 'loopDelay') {
    const p99Ms = Number(Math.max(0, loop.percentile(99) / 1e6 - LOOP_RESOLUTION_MS).toFixed(3));
    port.postMessage({ type: 'loopDelay', p99Ms } satisfies FakeThreadMessage);
    return;
  }
  if (m !== 'close') return;
  loop.disable();
  void fake
    .close()
    .catch((err: unknown) => process.stderr.write(`fake-openai thread: close failed: ${(err as Error).message}\n`))
    .finally(() => {
      poster.flush();
      port.postMessage({ type: 'closed' } satisfies FakeThreadMessage);
    });
});
port.postMessage({ type: 'ready', apiKey: fake.apiKey, baseUrl: fake.baseUrl, caFile: fake.caFile } satisfies FakeThreadMessage);
