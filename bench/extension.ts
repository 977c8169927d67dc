/**
 * What only this repository's benchmarks add to `voice-gateway bench` (src/bench/extension.ts):
 * `--provider fake-openai` (the loopback OpenAI Realtime fake from test/fakes) and `--baseline` (the
 * bare bridge in bench/baseline/). None of it ships: `npm run bench` hands it to the harness
 * (bench/run.ts), and the CLI finds this file when it runs from a source checkout with tsx installed.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchExtension } from '../src/bench/extension.js';
import { fakeOpenAIProvider, turnDetectionFor } from './fake-openai.js';

const BRIDGE = fileURLToPath(new URL('./baseline/bridge.ts', import.meta.url));

export const benchExtension: BenchExtension = {
  name: 'source checkout (bench/extension.ts: fake-openai, --baseline)',
  providers: {
    'fake-openai': async ({ replyDelayMs, vad }) => fakeOpenAIProvider({ replyDelayMs, turnDetection: turnDetectionFor(vad) }),
  },
  baseline: {
    description: 'the baseline bridge (bench/baseline/bridge.ts, a bare Twilio <-> OpenAI Realtime bridge)',
    transports: ['twilio'],
    command() {
      if (!existsSync(BRIDGE)) throw new Error(`the baseline bridge is not there (${BRIDGE})`);
      return ['--import', 'tsx', BRIDGE];
    },
  },
  help: `From this source checkout (bench/extension.ts):
  --provider fake-openai  the loopback OpenAI Realtime fake (test/fakes), run in a worker thread of
                          the bench's process: frames are tagged and matched end to end
  --baseline              also run the baseline bridge (bench/baseline/bridge.ts) against the same
                          fake with the same load, and report the gateway's figures as ratios to it
                          (needs --provider fake-openai and --transport twilio)
`,
};
