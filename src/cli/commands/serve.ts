/**
 * `voice-gateway serve`: the entry that listens and handles signals. Configuration comes from the
 * environment (see README); a bad value stops start-up with a message naming the variable.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../../config.js';
import { createGateway } from '../../gateway.js';
import { usageError } from '../usage.js';

const HELP = `Usage: voice-gateway serve [--port N] [--host H]

Runs the gateway. Everything else is configured by environment variables (README: Configuration).
`;

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    throw usageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const env = { ...process.env };
  if (values.port) env.PORT = values.port;
  if (values.host) env.HOST = values.host;
  const config = loadConfig(env);
  const gateway = await createGateway(config);
  const { logger } = gateway;
  await gateway.app.listen({ port: config.port, host: config.host });
  const address = gateway.app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info(
    { event: 'listening', port, host: config.host, publicUrl: config.publicUrl, providers: config.providers, vad: config.vadEngine },
    `voice gateway listening on http://${config.host}:${String(port)} (providers: ${config.providers.join(', ')})`,
  );
  if (!config.twilio.authToken) logger.warn({ event: 'unsigned_twilio' }, 'TWILIO_AUTH_TOKEN is not set: Twilio webhooks are accepted unsigned');
  if (!config.telnyx.publicKey) logger.warn({ event: 'unsigned_telnyx' }, 'TELNYX_PUBLIC_KEY is not set: Telnyx webhooks are accepted unsigned');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn({ event: 'forced_exit', signal }, 'second signal: exiting now');
        resolve(1);
        process.exit(1);
      }
      stopping = true;
      logger.info({ event: 'shutdown', signal, calls: gateway.calls.size, deadlineMs: config.shutdownDeadlineMs }, 'shutting down');
      gateway.close().then(
        () => {
          logger.info({ event: 'shutdown_complete' }, 'stopped');
          logger.flush();
          resolve(0);
        },
        (err: unknown) => {
          logger.error({ event: 'shutdown_failed', err }, 'shutdown failed');
          logger.flush();
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
