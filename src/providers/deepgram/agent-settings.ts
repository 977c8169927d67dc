/**
 * The Voice Agent `Settings` message, built as a plain value from the config and the call (no I/O),
 * typed by the SDK's own `AgentV1Settings` so a field the API does not know fails the type check.
 *
 * Reference: https://developers.deepgram.com/docs/voice-agent-settings and
 * https://developers.deepgram.com/docs/configure-voice-agent (the SDK's AgentV1Settings mirrors them).
 */
import type { agent, ThinkSettingsV1, ThinkSettingsV1Provider } from '@deepgram/sdk';
import { GatewayError } from '../../errors.js';
import type { AudioFormat } from '../../pipeline/frame.js';
import type { ConversationTurn } from '../types.js';
import { END_CALL_FUNCTION } from './end-call.js';
import type { AwsBedrockCredentials } from './settings.js';

export type AgentSettings = agent.AgentV1Settings;

export type ThinkProviderType = 'open_ai' | 'anthropic' | 'google' | 'groq' | 'aws_bedrock';

export interface AgentConfig {
  /** Deepgram STT model. `flux-*` models use the v2 (Flux) listen provider, which takes ForceEndTurn. */
  readonly listenModel: string;
  readonly thinkProvider: ThinkProviderType;
  readonly thinkModel: string;
  /** A bring-your-own LLM endpoint (required by Deepgram for some providers); its key goes in its headers. */
  readonly thinkEndpointUrl?: string;
  readonly thinkApiKey?: string;
  /** aws_bedrock natively: the credentials go in the think provider (AwsBedrockThinkProvider.credentials). */
  readonly thinkAwsCredentials?: AwsBedrockCredentials;
  /** Deepgram TTS model (an aura-2 voice). */
  readonly voice: string;
  readonly greeting?: string;
  readonly endCallTool?: boolean;
}

/** Rates Deepgram produces linear16 at (same set as its TTS). */
const LINEAR16_RATES = [8000, 16000, 24000, 32000, 48000];

export type AgentEncoding = 'mulaw' | 'alaw' | 'linear16';

export interface AgentAudio {
  readonly encoding: AgentEncoding;
  readonly sampleRate: number;
}

export function agentInputOf(format: AudioFormat): AgentAudio {
  if (format.codec === 'mulaw' || format.codec === 'alaw') return { encoding: format.codec, sampleRate: format.sampleRate };
  if (format.codec === 'pcm16') return { encoding: 'linear16', sampleRate: format.sampleRate };
  throw new GatewayError('GW_ERR_AUDIO_UNSUPPORTED_CODEC', `deepgram agent input ${format.codec}`);
}

/** Answer in the caller's codec when Deepgram speaks it (G.711 passes straight through egress). */
export function agentOutputFor(caller: AudioFormat): AgentAudio {
  if (caller.codec === 'mulaw' || caller.codec === 'alaw') return { encoding: caller.codec, sampleRate: 8000 };
  return { encoding: 'linear16', sampleRate: LINEAR16_RATES.includes(caller.sampleRate) ? caller.sampleRate : 24000 };
}

export function audioFormatOfAgent(a: AgentAudio): AudioFormat {
  return { codec: a.encoding === 'linear16' ? 'pcm16' : a.encoding, sampleRate: a.sampleRate };
}

/** Flux (the v2 listen API) is the model whose turns we can end ourselves (ForceEndTurn). */
export function isFluxModel(model: string): boolean {
  return model.startsWith('flux');
}

/**
 * History goes in `agent.context.messages` as `{type: 'History', role, content}` items (the
 * Settings doc: "optionally provides conversation history context"); empty turns are left out.
 */
export function contextMessages(history: readonly ConversationTurn[]): { type: 'History'; role: string; content: string }[] {
  return history.filter((t) => t.text.trim() !== '').map((t) => ({ type: 'History' as const, role: t.role, content: t.text }));
}

export function buildSettings(opts: {
  readonly config: AgentConfig;
  readonly instructions: string;
  readonly input: AgentAudio;
  readonly output: AgentAudio;
  readonly history: readonly ConversationTurn[];
}): AgentSettings {
  const { config } = opts;
  const flux = isFluxModel(config.listenModel);
  const listenProvider: agent.AgentV1SettingsAgentContextListenProvider = flux
    ? { type: 'deepgram', version: 'v2', model: config.listenModel }
    : { type: 'deepgram', version: 'v1', model: config.listenModel };
  const think: ThinkSettingsV1 = {
    // The union is discriminated by `type`; every member takes a `model`; Bedrock takes its credentials natively, or goes through an endpoint.
    provider: (config.thinkProvider === 'aws_bedrock' && config.thinkAwsCredentials
      ? { type: 'aws_bedrock', model: config.thinkModel, credentials: config.thinkAwsCredentials }
      : { type: config.thinkProvider, model: config.thinkModel }) as ThinkSettingsV1Provider,
    prompt: opts.instructions,
  };
  if (config.thinkEndpointUrl !== undefined) {
    think.endpoint = { url: config.thinkEndpointUrl, headers: config.thinkApiKey !== undefined ? { authorization: `Bearer ${config.thinkApiKey}` } : {} };
  }
  if (config.endCallTool) think.functions = [END_CALL_FUNCTION];
  const settings: AgentSettings = {
    type: 'Settings',
    audio: {
      input: { encoding: opts.input.encoding, sample_rate: opts.input.sampleRate },
      output: { encoding: opts.output.encoding, sample_rate: opts.output.sampleRate, container: 'none' },
    },
    agent: {
      listen: { provider: listenProvider },
      think,
      speak: { provider: { type: 'deepgram', model: config.voice } },
    },
  };
  const messages = contextMessages(opts.history);
  if (messages.length > 0) settings.agent.context = { messages };
  // A call taken over mid-conversation is not greeted again.
  else if (config.greeting !== undefined && config.greeting.trim() !== '') settings.agent.greeting = config.greeting;
  return settings;
}
