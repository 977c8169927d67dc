/**
 * `--provider fake-openai`: the loopback OpenAI Realtime fake (test/fakes/openai-realtime-fake.ts)
 * run in the load generator's process and watched by a probe on its clock (realtime-fake-probe.ts).
 * G.711 passes through it untouched both ways, so every frame is accounted by tag, and the baseline
 * bridge (bench/baseline/bridge.ts) can be driven against the same fake. Repository-only: it needs
 * the test tree, so it lives here and reaches the harness through bench/extension.ts.
 */
import type { VadSetting } from '../src/bench/extension.js';
import type { ProviderSetup } from '../src/bench/providers.js';
import { OpenAIRealtimeFake } from '../test/fakes/openai-realtime-fake.js';
import { probeRealtimeFake } from './realtime-fake-probe.js';

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
      // long synchronous burst in this process (which would delay the callers' receipt of the first).
      const fake = await OpenAIRealtimeFake.start({ replyDelayMs: opts.replyDelayMs, chunkMs: 100, chunkIntervalMs: 20 });
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

/** With no VAD of ours, the provider ends turns (server VAD), as the sample bridges have it do. */
export const turnDetectionFor = (vad: VadSetting): 'none' | 'server_vad' => (vad === 'off' ? 'server_vad' : 'none');
