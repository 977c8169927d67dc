/**
 * Deepgram's settings, both forms (DEEPGRAM_*), and the cascade's language model (LLM_*), parsed from
 * the variables src/config.ts hands over. Old names stay: DEEPGRAM_STT_MODEL is the cascade's listen
 * model and, unset DEEPGRAM_LISTEN_MODEL, the agent's; DEEPGRAM_TTS_MODEL and DEEPGRAM_VOICE name the
 * same voice.
 */
import { bool, invalid, oneOf, optionalUrl, str, url, type Env } from '../../util/env-parse.js';
import type { SettingsContext } from '../descriptor.js';

export interface DeepgramSettings {
  apiKey?: string;
  baseUrl?: string;
  /** deepgram-cascade: the listen v1 (Nova) model and the speak voice. */
  sttModel: string;
  ttsModel: string;
  /** deepgram (Voice Agent): listen model (flux-* lets our VAD end turns too), think provider and model, voice. */
  listenModel: string;
  thinkProvider: 'open_ai' | 'anthropic' | 'google' | 'groq' | 'aws_bedrock';
  thinkModel: string;
  thinkEndpointUrl?: string;
  thinkApiKey?: string;
  /** aws_bedrock's native credentials (DEEPGRAM_THINK_AWS_*), sent in the think provider. */
  thinkAwsCredentials?: AwsBedrockCredentials;
  voice: string;
  greeting?: string;
  /** endpointing: Deepgram ends turns itself (its endpointing) instead of our VAD (deepgram-cascade). */
  endpointing?: boolean;
  /** END_CALL_TOOL: the agent and the cascade's LLM may end the call after the goodbye. */
  endCallTool?: boolean;
}

/**
 * The Voice Agent's native Bedrock credentials (AwsBedrockThinkProvider.credentials in @deepgram/sdk;
 * https://developers.deepgram.com/docs/amazon-bedrock-and-deepgram-voice-agent): `sts` when a session
 * token comes with the keys (temporary credentials), else `iam`.
 */
export interface AwsBedrockCredentials {
  readonly type: 'iam' | 'sts';
  readonly region: string;
  readonly access_key_id: string;
  readonly secret_access_key: string;
  readonly session_token?: string;
}

/** deepgram-cascade's language model: any OpenAI-compatible chat completions server. */
export interface LlmSettings {
  baseUrl?: string;
  model: string;
  apiKey?: string;
}

export const DEEPGRAM_ENV = [
  'DEEPGRAM_API_KEY',
  'DEEPGRAM_BASE_URL',
  'DEEPGRAM_STT_MODEL',
  'DEEPGRAM_TTS_MODEL',
  'DEEPGRAM_LISTEN_MODEL',
  'DEEPGRAM_THINK_PROVIDER',
  'DEEPGRAM_THINK_MODEL',
  'DEEPGRAM_THINK_ENDPOINT_URL',
  'DEEPGRAM_THINK_API_KEY',
  'DEEPGRAM_THINK_AWS_REGION',
  'DEEPGRAM_THINK_AWS_ACCESS_KEY_ID',
  'DEEPGRAM_THINK_AWS_SECRET_ACCESS_KEY',
  'DEEPGRAM_THINK_AWS_SESSION_TOKEN',
  'DEEPGRAM_VOICE',
  'DEEPGRAM_GREETING',
  'DEEPGRAM_ENDPOINTING',
  'END_CALL_TOOL',
  'LLM_BASE_URL',
  'LLM_API_KEY',
  'LLM_MODEL',
  // The cascade's LLM is OpenAI unless LLM_BASE_URL points elsewhere, and then OpenAI's key serves.
  'OPENAI_API_KEY',
] as const;

/** DEEPGRAM_THINK_AWS_*: all of region, key id and secret, or none (a session token is optional). */
function awsCredentials(env: Env): AwsBedrockCredentials | undefined {
  const region = str(env, 'DEEPGRAM_THINK_AWS_REGION');
  const keyId = str(env, 'DEEPGRAM_THINK_AWS_ACCESS_KEY_ID');
  const secret = str(env, 'DEEPGRAM_THINK_AWS_SECRET_ACCESS_KEY');
  const sessionToken = str(env, 'DEEPGRAM_THINK_AWS_SESSION_TOKEN');
  if (region === undefined && keyId === undefined && secret === undefined && sessionToken === undefined) return undefined;
  if (region === undefined || keyId === undefined || secret === undefined) {
    const missing = region === undefined ? 'DEEPGRAM_THINK_AWS_REGION' : keyId === undefined ? 'DEEPGRAM_THINK_AWS_ACCESS_KEY_ID' : 'DEEPGRAM_THINK_AWS_SECRET_ACCESS_KEY';
    throw invalid(missing, 'must be set with the other DEEPGRAM_THINK_AWS_* (region, access key id and secret access key go together)');
  }
  return sessionToken === undefined
    ? { type: 'iam', region, access_key_id: keyId, secret_access_key: secret }
    : { type: 'sts', region, access_key_id: keyId, secret_access_key: secret, session_token: sessionToken };
}

/**
 * The agent's LLM when DEEPGRAM_THINK_MODEL is unset, per provider: a model each one's think-provider
 * type in the SDK names (@deepgram/sdk api/types OpenAiThinkProvider, Anthropic, Google, Groq,
 * AwsBedrockThinkProvider), the small fast one where there is a choice. One default for all sent
 * gpt-4o-mini to Anthropic, Google and Groq.
 */
const DEFAULT_THINK_MODEL = {
  open_ai: 'gpt-4o-mini',
  anthropic: 'claude-3-5-haiku-latest',
  google: 'gemini-2.0-flash',
  groq: 'openai/gpt-oss-20b',
  aws_bedrock: 'anthropic/claude-3-5-haiku-20240307-v1:0',
} as const;

export function deepgramSettings(env: Env, ctx: SettingsContext): DeepgramSettings {
  const sttModel = str(env, 'DEEPGRAM_STT_MODEL') ?? 'nova-3';
  // The cascade speaks the listen v1 API (Results, Finalize); Flux models live on v2 only.
  if (ctx.providers.includes('deepgram-cascade') && sttModel.startsWith('flux')) {
    throw invalid('DEEPGRAM_STT_MODEL', `'${sttModel}' is a Flux (listen v2) model; deepgram-cascade needs a v1 model such as nova-3`);
  }
  const voice = str(env, 'DEEPGRAM_VOICE') ?? str(env, 'DEEPGRAM_TTS_MODEL') ?? 'aura-2-thalia-en';
  const thinkEndpointUrl = optionalUrl(env, 'DEEPGRAM_THINK_ENDPOINT_URL');
  const thinkApiKey = str(env, 'DEEPGRAM_THINK_API_KEY');
  if (thinkApiKey !== undefined && thinkEndpointUrl === undefined) {
    throw invalid('DEEPGRAM_THINK_API_KEY', 'is only sent to a bring-your-own LLM: set DEEPGRAM_THINK_ENDPOINT_URL too (Deepgram-managed models need no key)');
  }
  const thinkProvider = oneOf(env, 'DEEPGRAM_THINK_PROVIDER', ['open_ai', 'anthropic', 'google', 'groq', 'aws_bedrock'], 'open_ai');
  const thinkAwsCredentials = awsCredentials(env);
  if (thinkAwsCredentials !== undefined && thinkProvider !== 'aws_bedrock') {
    throw invalid('DEEPGRAM_THINK_AWS_ACCESS_KEY_ID', 'and the other DEEPGRAM_THINK_AWS_* are for DEEPGRAM_THINK_PROVIDER=aws_bedrock only');
  }
  // Bedrock natively (Deepgram's recommended way: the credentials in the think provider) or through a proxy endpoint.
  if (thinkProvider === 'aws_bedrock' && thinkEndpointUrl === undefined && thinkAwsCredentials === undefined) {
    throw invalid(
      'DEEPGRAM_THINK_AWS_ACCESS_KEY_ID',
      'DEEPGRAM_THINK_AWS_REGION, _ACCESS_KEY_ID and _SECRET_ACCESS_KEY (Bedrock natively), or DEEPGRAM_THINK_ENDPOINT_URL (a proxy), must be set when DEEPGRAM_THINK_PROVIDER is aws_bedrock',
    );
  }
  const thinkModel = str(env, 'DEEPGRAM_THINK_MODEL') ?? DEFAULT_THINK_MODEL[thinkProvider];
  // Groq's one model is a literal in the SDK type (Groq.model: "openai/gpt-oss-20b"); the others are open strings.
  if (thinkProvider === 'groq' && thinkModel !== DEFAULT_THINK_MODEL.groq) {
    throw invalid('DEEPGRAM_THINK_MODEL', `'${thinkModel}' is not a groq model of the Voice Agent (only ${DEFAULT_THINK_MODEL.groq})`);
  }
  return {
    apiKey: str(env, 'DEEPGRAM_API_KEY'),
    baseUrl: str(env, 'DEEPGRAM_BASE_URL'),
    sttModel,
    ttsModel: str(env, 'DEEPGRAM_TTS_MODEL') ?? voice,
    listenModel: str(env, 'DEEPGRAM_LISTEN_MODEL') ?? str(env, 'DEEPGRAM_STT_MODEL') ?? 'flux-general-en',
    thinkProvider,
    thinkModel,
    thinkEndpointUrl,
    thinkApiKey,
    ...(thinkAwsCredentials ? { thinkAwsCredentials } : {}),
    voice,
    greeting: str(env, 'DEEPGRAM_GREETING'),
    endpointing: bool(env, 'DEEPGRAM_ENDPOINTING', ctx.providerTurns),
    endCallTool: bool(env, 'END_CALL_TOOL', false),
  };
}

/** The cascade's LLM: OpenAI unless LLM_BASE_URL points elsewhere; OpenAI needs a key, a local server may not. */
export function llmSettings(env: Env, ctx: SettingsContext): LlmSettings {
  const baseUrl = str(env, 'LLM_BASE_URL') === undefined ? undefined : url(env, 'LLM_BASE_URL', '');
  const apiKey = str(env, 'LLM_API_KEY') ?? (baseUrl === undefined ? str(env, 'OPENAI_API_KEY') : undefined);
  if (ctx.providers.includes('deepgram-cascade') && baseUrl === undefined && apiKey === undefined) {
    throw invalid('LLM_API_KEY', "must be set when PROVIDERS includes 'deepgram-cascade' and LLM_BASE_URL is unset (OpenAI)");
  }
  return { baseUrl, model: str(env, 'LLM_MODEL') ?? 'gpt-4o-mini', apiKey };
}
