/** OpenAI Realtime's settings (OPENAI_*), parsed from the variables src/config.ts hands over. */
import { bool, oneOf, optionalUrl, str, type Env } from '../../util/env-parse.js';
import type { SettingsContext } from '../descriptor.js';

export interface OpenAISettings {
  apiKey?: string;
  baseUrl?: string;
  model: string;
  voice: string;
  turnDetection: 'none' | 'server_vad' | 'semantic_vad';
  caFile?: string;
  endCallTool?: boolean;
}

export const OPENAI_ENV = ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'OPENAI_MODEL', 'OPENAI_VOICE', 'OPENAI_TURN_DETECTION', 'OPENAI_CA_FILE', 'END_CALL_TOOL'] as const;

export function openaiSettings(env: Env, ctx: SettingsContext): OpenAISettings {
  return {
    apiKey: str(env, 'OPENAI_API_KEY'),
    baseUrl: optionalUrl(env, 'OPENAI_BASE_URL'),
    model: str(env, 'OPENAI_MODEL') ?? 'gpt-realtime',
    voice: str(env, 'OPENAI_VOICE') ?? 'alloy',
    turnDetection: oneOf(env, 'OPENAI_TURN_DETECTION', ['none', 'server_vad', 'semantic_vad'], ctx.providerTurns ? 'server_vad' : 'none'),
    // An extra CA to trust for the Realtime WebSocket (a TLS-inspecting proxy, or a test server).
    caFile: str(env, 'OPENAI_CA_FILE'),
    // Give the model an end_call function: when it calls it, the gateway hangs up after the goodbye plays.
    endCallTool: bool(env, 'END_CALL_TOOL', false),
  };
}
