/**
 * Every provider the gateway knows, in the order PROVIDERS' error message lists them. Adding a
 * provider is a new folder whose index.ts exports a descriptor (./descriptor.ts) and one line here:
 * src/config.ts and ./registry.ts only iterate this list.
 */
import { deepgramDescriptor } from './deepgram/index.js';
import type { ProviderDescriptor } from './descriptor.js';
import { echoDescriptor } from './echo/index.js';
import { geminiDescriptor } from './gemini/index.js';
import { openaiDescriptor } from './openai/index.js';

export const PROVIDER_DESCRIPTORS = [echoDescriptor, openaiDescriptor, geminiDescriptor, deepgramDescriptor] as const;

type SettingsOf<D> = D extends ProviderDescriptor<infer S> ? S : never;
type Intersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;

/** The configuration the providers own: each descriptor's settings, merged (part of src/config.ts's Config). */
export type ProviderSettings = Intersection<SettingsOf<(typeof PROVIDER_DESCRIPTORS)[number]>>;

/** A descriptor whatever its settings, for code that only iterates the list (it passes the whole Config). */
export type AnyProviderDescriptor = ProviderDescriptor<object>;

/** The PROVIDERS names, in list order. */
export function knownProviderNames(): string[] {
  return PROVIDER_DESCRIPTORS.flatMap((d) => Object.keys(d.variants));
}

/** The descriptor answering to a PROVIDERS name, if any. */
export function descriptorFor(variant: string): AnyProviderDescriptor | undefined {
  return (PROVIDER_DESCRIPTORS as readonly AnyProviderDescriptor[]).find((d) => Object.hasOwn(d.variants, variant));
}
