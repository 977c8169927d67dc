/** The `gemini` provider: Gemini Live over the @google/genai SDK (./gemini-provider.ts). */
import { gatewayVadTurns, type ProviderDescriptor } from '../descriptor.js';
import { GeminiLiveProvider } from './gemini-provider.js';
import { GEMINI_ENV, geminiSettings, type GeminiSettings } from './settings.js';

export type { GeminiSettings } from './settings.js';

export const geminiDescriptor: ProviderDescriptor<{ gemini: GeminiSettings }> = {
  name: 'gemini',
  variants: { gemini: { apiKeyEnv: 'GEMINI_API_KEY' } },
  env: GEMINI_ENV,
  settings: (env, ctx) => ({ gemini: geminiSettings(env, ctx) }),
  create: (_variant, s, ctx) => new GeminiLiveProvider({ ...s.gemini, instructions: ctx.instructions }),
  turnDetection: (_variant, s, ctx) => (s.gemini.activityDetection === 'automatic' ? 'gemini automatic activity detection' : gatewayVadTurns(ctx.vadEngine)),
};
