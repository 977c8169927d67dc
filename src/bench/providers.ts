/**
 * The provider side of a load run. The product has two: `echo`, the gateway's embedded provider
 * (nothing to start; reply frames are transcoded, so frames are counted by the gateway's counters, not
 * by tag), and "as configured" for a gateway at --url. More come from a BenchExtension (extension.ts):
 * a provider that keeps the frame tags (`tagged`) lets every frame be accounted end to end, and one
 * that gives a `baselineEnv` can drive the extension's reference bridge too.
 */
import type { FrameLedger } from './ledger.js';

/** 'echo', 'as configured', or an extension's provider name. */
export type ProviderName = string;

export interface ProviderRun {
  /** Environment for the gateway (PROVIDERS and the provider's own settings). */
  readonly gatewayEnv: Record<string, string>;
  /** Environment for the baseline bridge; undefined when it cannot run against this provider. */
  readonly baselineEnv: Record<string, string> | undefined;
  /**
   * A provider stand-in with an event loop of its own in the load generator (another thread): its
   * loop delay p99 in ms since it started (undefined if it does not answer), part of the harness's
   * health. Absent for the others.
   */
  loopDelayP99Ms?(): Promise<number | undefined>;
  close(): Promise<void>;
}

export interface ProviderSetup {
  readonly name: ProviderName;
  /** Frames keep their tags through the provider: account by tag. */
  readonly tagged: boolean;
  start(ledger: FrameLedger): Promise<ProviderRun>;
}

export function echoProvider(opts: { replyDelayMs: number }): ProviderSetup {
  return {
    name: 'echo',
    tagged: false,
    async start() {
      return { gatewayEnv: { PROVIDERS: 'echo', ECHO_REPLY_DELAY_MS: String(opts.replyDelayMs) }, baselineEnv: undefined, close: async () => undefined };
    },
  };
}

/** --url: the gateway runs with whatever provider it was given; frames are counted by its counters. */
export function configuredProvider(): ProviderSetup {
  return { name: 'as configured', tagged: false, start: async () => ({ gatewayEnv: {}, baselineEnv: undefined, close: async () => undefined }) };
}
