/** Gemini Live's settings (GEMINI_*), parsed from the variables src/config.ts hands over. */
import { bool, oneOf, optionalUrl, str, type Env } from '../../util/env-parse.js';
import type { SettingsContext } from '../descriptor.js';

/** activityDetection: 'client' = our VAD brackets turns; 'automatic' = Gemini's own activity detection. */
export interface GeminiSettings {
  apiKey?: string;
  baseUrl?: string;
  model: string;
  voice?: string;
  activityDetection?: 'client' | 'automatic';
  endCallTool?: boolean;
}

export const GEMINI_ENV = ['GEMINI_API_KEY', 'GEMINI_BASE_URL', 'GEMINI_MODEL', 'GEMINI_VOICE', 'GEMINI_ACTIVITY_DETECTION', 'END_CALL_TOOL'] as const;

export function geminiSettings(env: Env, ctx: SettingsContext): GeminiSettings {
  return {
    apiKey: str(env, 'GEMINI_API_KEY'),
    baseUrl: optionalUrl(env, 'GEMINI_BASE_URL'),
    // The current stable Live model ("the default option for most low-latency voice agent experiences",
    // ai.google.dev/gemini-api/docs/models/gemini-3.8-live); gemini-live-2.5-flash-preview and
    // gemini-2.0-flash-live-001 were shut down on 2025-12-09 (ai.google.dev/gemini-api/docs/deprecations).
    model: str(env, 'GEMINI_MODEL') ?? 'gemini-3.8-live',
    voice: str(env, 'GEMINI_VOICE'),
    activityDetection: oneOf<'client' | 'automatic'>(env, 'GEMINI_ACTIVITY_DETECTION', ['client', 'automatic'], ctx.providerTurns ? 'automatic' : 'client'),
    endCallTool: bool(env, 'END_CALL_TOOL', false),
  };
}
