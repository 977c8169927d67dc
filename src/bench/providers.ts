/**
 * The provider side of a load run. `echo` is the gateway's embedded provider (nothing to start; reply
 * frames are transcoded, so frames are counted by the gateway's counters, not by tag). `fake-openai`
 * is the loopback OpenAI Realtime fake from the source tree (test/fakes), run in this process and
 * watched by a probe on the load generator's clock; G.711 passes through it untouched both ways, so
 * every frame is accounted by tag, and the baseline bridge can be driven against the same fake.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { FrameLedger } from './ledger.js';
import { probeRealtimeFake, type RealtimeFakeLike } from './realtime-fake-probe.js';
import { REPO_ROOT } from './target-process.js';

export type ProviderName = 'echo' | 'fake-openai' | 'as configured';

export interface ProviderRun {
  /** Environment for the gateway (PROVIDERS and the provider's own settings). */
  readonly gatewayEnv: Record<string, string>;
  /** Environment for the baseline bridge; undefined when it cannot run against this provider. */
  readonly baselineEnv: Record<string, string> | undefined;
  close(): Promise<void>;
}

export interface ProviderSetup {
  readonly name: ProviderName;
  /** Frames keep their tags through the provider: account by tag. */
  readonly tagged: boolean;
  start(ledger: FrameLedger): Promise<ProviderRun>;
}

export function echoProvider(opts: { replyDelayMs: number }): ProviderSetup {
  return {
    name: 'echo',
    tagged: false,
    async start() {
      return { gatewayEnv: { PROVIDERS: 'echo', ECHO_REPLY_DELAY_MS: String(opts.replyDelayMs) }, baselineEnv: undefined, close: async () => undefined };
    },
  };
}

/** --url: the gateway runs with whatever provider it was given; frames are counted by its counters. */
export function configuredProvider(): ProviderSetup {
  return { name: 'as configured', tagged: false, start: async () => ({ gatewayEnv: {}, baselineEnv: undefined, close: async () => undefined }) };
}

interface RealtimeFakeInstance extends RealtimeFakeLike {
  readonly baseUrl: string;
  readonly caFile: string;
  readonly apiKey: string;
  close(): Promise<void>;
}

interface RealtimeFakeModule {
  OpenAIRealtimeFake: { start(options: { replyDelayMs?: number; chunkMs?: number; chunkIntervalMs?: number }): Promise<RealtimeFakeInstance> };
}

const FAKE_PATH = 'test/fakes/openai-realtime-fake.ts';

/** The fake is TypeScript in the source tree: imported directly under tsx, else through tsx's API. */
async function loadFake(): Promise<RealtimeFakeModule> {
  const file = REPO_ROOT + FAKE_PATH;
  if (!existsSync(file)) throw new Error(`--provider fake-openai needs the source tree (${FAKE_PATH} is not there)`);
  const url = pathToFileURL(file).href;
  if (import.meta.url.endsWith('.ts')) return (await import(url)) as RealtimeFakeModule;
  const api = 'tsx/esm/api'; // a dev dependency: named at run time so the shipped build does not need it
  let tsImport: (specifier: string, parent: string) => Promise<unknown>;
  try {
    ({ tsImport } = (await import(api)) as { tsImport: typeof tsImport });
  } catch (err) {
    throw new Error('--provider fake-openai needs tsx (a dev dependency) to load the fake', { cause: err });
  }
  return (await tsImport(url, import.meta.url)) as RealtimeFakeModule;
}

/**
 * @param turnDetection who ends the caller's turns: 'none' (the gateway's VAD commits each turn) or
 *   'server_vad' (the fake's own VAD, as with VAD off, and as the baseline bridge always asks).
 */
export async function fakeOpenAIProvider(opts: { replyDelayMs: number; turnDetection: 'none' | 'server_vad' }): Promise<ProviderSetup> {
  const mod = await loadFake();
  return {
    name: 'fake-openai',
    tagged: true,
    async start(ledger) {
      // 100 ms deltas every 20 ms: faster than real time, as the real service streams, and never one
      // long synchronous burst in this process (which would delay the callers' receipt of the first).
      const fake = await mod.OpenAIRealtimeFake.start({ replyDelayMs: opts.replyDelayMs, chunkMs: 100, chunkIntervalMs: 20 });
      probeRealtimeFake(fake, ledger);
      return {
        gatewayEnv: {
          PROVIDERS: 'openai',
          OPENAI_API_KEY: fake.apiKey,
          OPENAI_BASE_URL: fake.baseUrl,
          OPENAI_CA_FILE: fake.caFile,
          OPENAI_TURN_DETECTION: opts.turnDetection,
        },
        baselineEnv: {
          OPENAI_REALTIME_URL: `${fake.baseUrl.replace(/^https:/, 'wss:')}/realtime?model=gpt-realtime`,
          OPENAI_API_KEY: fake.apiKey,
          OPENAI_CA_FILE: fake.caFile,
        },
        close: () => fake.close(),
      };
    },
  };
}
