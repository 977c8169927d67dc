/** The `echo` provider: embedded, no keys, no network (./echo-provider.ts). */
import { int } from '../../util/env-parse.js';
import { gatewayVadTurns, type ProviderDescriptor } from '../descriptor.js';
import { EchoProvider } from './echo-provider.js';

/** echoReplyDelayMs: the echo's wait before it plays a turn back (stands in for model thinking time; benchmarks). */
export const echoDescriptor: ProviderDescriptor<{ echoReplyDelayMs: number }> = {
  name: 'echo',
  variants: { echo: {} },
  env: ['ECHO_REPLY_DELAY_MS'],
  settings: (env) => ({ echoReplyDelayMs: int(env, 'ECHO_REPLY_DELAY_MS', 0, 0, 60_000) }),
  create: (_variant, s) => new EchoProvider({ replyDelayMs: s.echoReplyDelayMs }),
  turnDetection: (_variant, _s, ctx) => gatewayVadTurns(ctx.vadEngine),
};
