/**
 * The extension point of `voice-gateway bench`. The product drives a gateway with the providers the
 * product has (echo, or whatever a gateway at --url is configured with); a repository that wants
 * more (a loopback fake of a provider, a reference bridge to compare with) hands the harness a
 * BenchExtension: to `runBench(opts, extension)`, to the CLI's `run(argv, { extension })`, or as a
 * module the CLI finds beside the package (`bench/extension.ts` of a source checkout, loaded with
 * tsx). Nothing here knows what a particular extension holds.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CarrierName } from '../carriers/carrier-name.js';
import type { ProviderSetup } from './providers.js';

export type VadSetting = 'silero' | 'energy' | 'off';
/** The carrier a bench run plays (src/carriers/carrier-name.ts). */
export type Transport = CarrierName;

/** Builds one provider setup for the gateway runs at one VAD setting (and for the reference bridge at 'off'). */
export type BenchProviderFactory = (opts: { readonly replyDelayMs: number; readonly vad: VadSetting }) => Promise<ProviderSetup>;

/**
 * A bridge to compare the gateway with (--baseline): its own process, ready when GET /health answers,
 * answering an IPC 'stats' message with { cpuSeconds, rssBytes, heapUsedBytes, eventLoopDelayP99Ms }.
 * It takes the carrier's webhook and media socket like the gateway, and its provider settings from
 * the provider run's `baselineEnv`.
 */
export interface BaselineBridge {
  /** One line for help and errors. */
  readonly description: string;
  /** The carriers it speaks. */
  readonly transports: readonly Transport[];
  /** Node arguments that start it (the script and its loader). Throws when it cannot run here. */
  command(): string[];
}

export interface BenchExtension {
  /** Where it comes from, for help and logs. */
  readonly name: string;
  /** Providers beside the built-in echo, by the --provider name. */
  readonly providers?: Readonly<Record<string, BenchProviderFactory>>;
  /** What --baseline runs. */
  readonly baseline?: BaselineBridge;
  /** Help lines describing what it adds. */
  readonly help?: string;
}

/** The package root: two folders up from src/bench or dist/bench. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The file a source checkout keeps its repository-only bench pieces in. */
export const CHECKOUT_EXTENSION = 'bench/extension.ts';

/**
 * The source checkout's extension when this package runs from one (an installed package ships only
 * dist/, so it has none): undefined when the file is not there. Loaded with tsx (a devDependency,
 * named at run time so the shipped build does not need it). Throws when the file is there but cannot
 * be loaded, with the reason.
 */
export async function loadCheckoutExtension(root = PACKAGE_ROOT): Promise<BenchExtension | undefined> {
  const file = root + CHECKOUT_EXTENSION;
  if (!existsSync(file)) return undefined;
  const url = pathToFileURL(file).href;
  let mod: { benchExtension?: BenchExtension };
  if (import.meta.url.endsWith('.ts')) {
    mod = (await import(url)) as typeof mod;
  } else {
    const api = 'tsx/esm/api';
    let tsImport: (specifier: string, parent: string) => Promise<unknown>;
    try {
      ({ tsImport } = (await import(api)) as { tsImport: typeof tsImport });
    } catch (err) {
      throw new Error(`${CHECKOUT_EXTENSION} is there but tsx (a dev dependency) is not installed to load it`, { cause: err });
    }
    mod = (await tsImport(url, import.meta.url)) as typeof mod;
  }
  if (!mod.benchExtension) throw new Error(`${CHECKOUT_EXTENSION} exports no benchExtension`);
  return mod.benchExtension;
}
