/**
 * `--provider fake-openai`: the loopback OpenAI Realtime fake (test/fakes/openai-realtime-fake.ts)
 * run in a worker thread of the load generator (fake-openai-thread.ts) and watched by a probe on the
 * callers' clock (realtime-fake-probe.ts), whose records reach the ledger over a MessagePort
 * (provider-ledger-link.ts).
 * G.711 passes through it untouched both ways, so every frame is accounted by tag, and the baseline
 * bridge (bench/baseline/bridge.ts) can be driven against the same fake. Repository-only: it needs
 * the test tree, so it lives here and reaches the harness through bench/extension.ts.
 */
import { once } from 'node:events';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { VadSetting } from '../src/bench/extension.js';
import type { ProviderSetup } from '../src/bench/providers.js';
import type { FakeThreadData, FakeThreadMessage, FakeThreadRequest } from './fake-openai-thread.js';
import { LedgerReceiver, hrMs } from './provider-ledger-link.js';

const THREAD = new URL('./fake-openai-thread.ts', import.meta.url);
/** How long the thread has to answer a request (its loop delay, its close). */
const ANSWER_WAIT_MS = 5000;

/**
 * @param turnDetection who ends the caller's turns: 'none' (the gateway's VAD commits each turn) or
 *   'server_vad' (the fake's own VAD, as with VAD off, and as the baseline bridge always asks).
 */
export function fakeOpenAIProvider(opts: { replyDelayMs: number; turnDetection: 'none' | 'server_vad' }): ProviderSetup {
  return {
    name: 'fake-openai',
    tagged: true,
    async start(ledger) {
      // 100 ms deltas every 20 ms: faster than real time, as the real service streams, and never one
      // long synchronous burst on the fake's loop (which would delay its receipt of the callers' audio).
      const { port1, port2 } = new MessageChannel();
      const workerData: FakeThreadData = {
        fake: { replyDelayMs: opts.replyDelayMs, chunkMs: 100, chunkIntervalMs: 20 },
        ledgerPort: port2,
        clockOffsetMs: performance.now() - hrMs(),
      };
      // The thread runs TypeScript (the fake is a test tool): its one line of script loads the module
      // through tsx's API, as the CLI loads bench/extension.ts (a worker's entry file must be .js, and
      // loader flags in a worker's execArgv do not reach its entry on Node 20).
      const tsxApi = import.meta.resolve('tsx/esm/api');
      const boot = `import(${JSON.stringify(tsxApi)}).then((tsx) => tsx.tsImport(${JSON.stringify(THREAD.href)}, ${JSON.stringify(import.meta.url)}))`;
      const worker = new Worker(boot, { eval: true, workerData, transferList: [port2] });
      // Never rejects (events.once would, on the thread's 'error'): awaited only by start and close.
      const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
      const receiver = new LedgerReceiver(port1, ledger);
      receiver.listen();
      const stop = async () => {
        receiver.close();
        await worker.terminate();
      };
      let fake: FakeThreadMessage;
      try {
        const first = await Promise.race([
          once(worker, 'message') as Promise<[FakeThreadMessage]>,
          exited.then((code) => Promise.reject(new Error(`fake-openai thread exited (${String(code)}) before it was ready`))),
        ]);
        fake = first[0];
        if (fake.type !== 'ready') throw new Error(`fake-openai thread: '${fake.type}' before it was ready`);
      } catch (err) {
        await stop();
        throw err;
      }
      // Its calls then fail at the gateway and show in the run; the load generator itself stays up.
      worker.on('error', (err) => process.stderr.write(`fake-openai thread failed: ${err.message}\n`));
      const { apiKey, baseUrl, caFile } = fake;
      /** Ask, and take the thread's answer of that type; undefined when it exits or does not answer in time. */
      const ask = async <T extends FakeThreadMessage['type']>(request: FakeThreadRequest, type: T) => {
        let onMessage: ((m: FakeThreadMessage) => void) | undefined;
        const answer = new Promise<Extract<FakeThreadMessage, { type: T }>>((resolve) => {
          onMessage = (m) => m.type === type && resolve(m as Extract<FakeThreadMessage, { type: T }>);
          worker.on('message', onMessage);
        });
        worker.postMessage(request);
        const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ANSWER_WAIT_MS).unref());
        try {
          return await Promise.race([answer, exited.then(() => undefined), timeout]);
        } finally {
          worker.off('message', onMessage!);
        }
      };
      const loopDelayP99Ms = async () => (await ask('loopDelay', 'loopDelay'))?.p99Ms;
      const close = async () => {
        // The thread flushes its last records before it says 'closed'; one that died says nothing.
        await ask('close', 'closed');
        await stop();
      };
      return {
        gatewayEnv: {
          PROVIDERS: 'openai',
          OPENAI_API_KEY: apiKey,
          OPENAI_BASE_URL: baseUrl,
          OPENAI_CA_FILE: caFile,
          OPENAI_TURN_DETECTION: opts.turnDetection,
        },
        baselineEnv: {
          OPENAI_REALTIME_URL: `${baseUrl.replace(/^https:/, 'wss:')}/realtime?model=gpt-realtime`,
          OPENAI_API_KEY: apiKey,
          OPENAI_CA_FILE: caFile,
        },
        loopDelayP99Ms,
        close,
      };
    },
  };
}

/** With no VAD of ours, the provider ends turns (server VAD), as the sample bridges have it do. */
export const turnDetectionFor = (vad: VadSetting): 'none' | 'server_vad' => (vad === 'off' ? 'server_vad' : 'none');
