/** The `openai` provider: OpenAI Realtime over WebSocket (./openai-provider.ts). */
import { gatewayVadTurns, type ProviderDescriptor } from '../descriptor.js';
import { OpenAIRealtimeProvider } from './openai-provider.js';
import { OPENAI_ENV, openaiSettings, type OpenAISettings } from './settings.js';

export type { OpenAISettings } from './settings.js';

export const openaiDescriptor: ProviderDescriptor<{ openai: OpenAISettings }> = {
  name: 'openai',
  variants: { openai: { apiKeyEnv: 'OPENAI_API_KEY' } },
  env: OPENAI_ENV,
  settings: (env, ctx) => ({ openai: openaiSettings(env, ctx) }),
  create: (_variant, s, ctx) => new OpenAIRealtimeProvider({ ...s.openai, instructions: ctx.instructions }),
  turnDetection: (_variant, s, ctx) => (s.openai.turnDetection === 'none' ? gatewayVadTurns(ctx.vadEngine) : `openai ${s.openai.turnDetection}`),
};
