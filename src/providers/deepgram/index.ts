/**
 * The Deepgram providers: `deepgram` is the Voice Agent API (./agent-provider.ts); `deepgram-cascade`
 * is listen -> an OpenAI-compatible LLM -> speak (./cascade-provider.ts). Both share DEEPGRAM_*.
 */
import { ChatResponder } from '../llm/chat-responder.js';
import type { ProviderDescriptor } from '../descriptor.js';
import { DeepgramAgentProvider } from './agent-provider.js';
import { isFluxModel } from './agent-settings.js';
import { DeepgramCascadeProvider } from './cascade-provider.js';
import { DEEPGRAM_ENV, deepgramSettings, llmSettings, type DeepgramSettings, type LlmSettings } from './settings.js';

export type { DeepgramSettings, LlmSettings } from './settings.js';

export const deepgramDescriptor: ProviderDescriptor<{ deepgram: DeepgramSettings; llm: LlmSettings }> = {
  name: 'deepgram',
  variants: { deepgram: { apiKeyEnv: 'DEEPGRAM_API_KEY' }, 'deepgram-cascade': { apiKeyEnv: 'DEEPGRAM_API_KEY' } },
  env: DEEPGRAM_ENV,
  settings: (env, ctx) => ({ deepgram: deepgramSettings(env, ctx), llm: llmSettings(env, ctx) }),
  create(variant, s, ctx) {
    const endCallTool = s.deepgram.endCallTool ?? false;
    if (variant === 'deepgram') return new DeepgramAgentProvider({ ...s.deepgram, instructions: ctx.instructions, endCallTool });
    // STT -> the LLM -> TTS. The responder is always the LLM: no configuration answers with the echo.
    return new DeepgramCascadeProvider(s.deepgram, {
      instructions: ctx.instructions,
      responder: new ChatResponder({ ...s.llm, instructions: ctx.instructions, endCallTool }),
    });
  },
  turnDetection(variant, s, ctx) {
    if (variant === 'deepgram-cascade') return ctx.vadEngine === 'off' ? 'deepgram endpointing' : `deepgram endpointing or the gateway VAD (${ctx.vadEngine}), whichever first`;
    // The agent always detects turns itself; with a Flux model our VAD may end them first (ForceEndTurn).
    const flux = isFluxModel(s.deepgram.listenModel);
    return s.deepgram.endpointing || !flux || ctx.vadEngine === 'off' ? 'the deepgram agent' : `the deepgram agent or the gateway VAD (${ctx.vadEngine}), whichever first`;
  },
};
