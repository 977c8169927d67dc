/**
 * What a provider is to the rest of the program: one descriptor, exported by its folder's index.ts
 * and listed once in ./descriptors.ts. src/config.ts hands each descriptor the environment variables
 * it declared (and nothing else) to parse and validate; ./registry.ts asks it for the adapter.
 */
import type { Env } from '../util/env-parse.js';
import type { Provider } from './types.js';

/** Settings every provider may depend on beyond its own variables, already validated by src/config.ts. */
export interface SettingsContext {
  /** PROVIDERS as configured (a provider may check more strictly when it is in use). */
  readonly providers: readonly string[];
  /** VAD_ENGINE=off: nothing else ends turns, so providers default to their own turn detection. */
  readonly providerTurns: boolean;
}

/** What an adapter is built with besides its own settings. */
export interface CreateContext {
  /** ASSISTANT_INSTRUCTIONS. */
  readonly instructions: string;
  /** VAD_ENGINE, for saying who ends turns. */
  readonly vadEngine: string;
}

/** What `turnDetection` says when the gateway's VAD alone ends the caller's turns. */
export function gatewayVadTurns(vadEngine: string): string {
  return `the gateway VAD (${vadEngine})`;
}

/**
 * `S` is the part of the configuration the provider owns: an object of top-level Config keys (for
 * example `{ openai: OpenAISettings }`). Config is the intersection of every descriptor's `S`, so a new
 * provider's settings appear in Config without editing src/config.ts.
 */
export interface ProviderDescriptor<S extends object> {
  /** The folder's name; also the prefix of its <NAME>_RESPONSE_TIMEOUT_MS. */
  readonly name: string;
  /** The PROVIDERS names it answers to (usually just `name`), each with the variable its key comes from, if it needs one. */
  readonly variants: Readonly<Record<string, { readonly apiKeyEnv?: string }>>;
  /** Every environment variable `settings` reads; src/config.ts hands over exactly these. */
  readonly env: readonly string[];
  settings(env: Env, ctx: SettingsContext): S;
  /** The adapter for one of `variants`; `settings` is the loaded configuration (it holds at least S). */
  create(variant: string, settings: S, ctx: CreateContext): Provider;
  /** Who ends the caller's turns for this variant, for the start-up log line. */
  turnDetection(variant: string, settings: S, ctx: CreateContext): string;
}
