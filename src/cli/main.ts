/**
 * The `voice-gateway` command. Each subcommand lives in ./commands/<name>.ts and exports
 * `run(argv): Promise<number>`; it is imported only when asked for, so `--help` stays instant and
 * a command's heavy dependencies (ONNX, fastify) load only where they are used.
 */
import { readFileSync } from 'node:fs';
import { isGatewayError } from '../errors.js';

type Command = { run(argv: string[]): Promise<number> };

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  serve: { summary: 'run the gateway (HTTP webhooks, media WebSockets, /metrics)', load: () => import('./commands/serve.js') },
  call: { summary: 'play the telephony network: call a gateway with an audio file', load: () => import('./commands/call.js') },
  vad: { summary: 'detect speech segments in an audio file, print JSON', load: () => import('./commands/vad.js') },
  bench: { summary: 'load-test a gateway with N simulated calls: latency, loss, jitter, CPU and memory per call', load: () => import('./commands/bench.js') },
};

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    `voice-gateway ${version()}: a real-time voice media gateway`,
    '',
    'Usage: voice-gateway <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  -h, --help     show help (also: voice-gateway <command> --help)',
    '  -v, --version  print the version',
    '',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(helpText());
    return 0;
  }
  if (name === '-v' || name === '--version' || name === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`voice-gateway: unknown command '${name}'\n\n${helpText()}`);
    return 2;
  }
  try {
    return await (await command.load()).run(rest);
  } catch (err) {
    if (isGatewayError(err)) {
      process.stderr.write(`voice-gateway ${name}: ${err.message} (${err.code})\n`);
      return err.code === 'GW_ERR_CLI_USAGE' || err.code === 'GW_ERR_CONFIG_INVALID' ? 2 : 1;
    }
    throw err;
  }
}

// Commands take it from ./usage.ts (they are loaded by this file, so they must not import it).
export { usageError } from './usage.js';
