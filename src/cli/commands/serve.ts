/**
 * `voice-gateway serve`: the entry that listens and handles signals. Configuration comes from the
 * environment (see README); a bad value stops start-up with a message naming the variable.
 */
import cluster from 'node:cluster';
import { createServer, type Server } from 'node:http';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../../config.js';
import { createGateway, type GatewayOverrides } from '../../gateway.js';
import { createLogger } from '../../observability/logger.js';
import { createMetrics } from '../../observability/metrics.js';
import { AggregatorRegistry } from 'prom-client';
import { IpcClient } from '../../cluster/ipc.js';
import { IpcGrantStore, IpcRegistryStore } from '../../cluster/ipc-stores.js';
import { PROCESS_INDEX_ENV, runPrimary } from '../../cluster/primary.js';
import { applyV8Flags, gatewayV8Flags } from '../../util/v8-flags.js';
import { usageError } from '../usage.js';

const HELP = `Usage: voice-gateway serve [--port N] [--host H] [--processes N|auto]

Runs the gateway. Everything else is configured by environment variables (README: Configuration).

  --processes N   gateway processes sharing the port (env PROCESSES; default 1; auto: one per core),
                  each with its own sockets, worker pool and calls
`;

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { port: { type: 'string' }, host: { type: 'string' }, processes: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
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
  if (values.processes) env.PROCESSES = values.processes;
  let config = loadConfig(env);
  // Before any call: see util/v8-flags.ts (each of --processes runs this too).
  const v8Flags = applyV8Flags(gatewayV8Flags(config));
  if (cluster.isPrimary && config.cluster.processes > 1) {
    return runPrimary({
      processes: config.cluster.processes,
      nodeId: config.cluster.nodeId,
      clusterSecret: config.cluster.secret,
      workerPoolSize: env.WORKER_POOL_SIZE === undefined ? undefined : config.workerPoolSize,
      cores: availableParallelism(),
      logger: createLogger({ level: config.logLevel }),
    });
  }
  let overrides: GatewayOverrides = {};
  let internal: Server | undefined;
  if (cluster.isWorker) ({ config, overrides, internal } = await asClusterProcess(config));
  const gateway = await createGateway(config, overrides).catch(exitIfClusterProcess);
  const { logger } = gateway;
  await gateway.app.listen({ port: config.port, host: config.host }).catch(exitIfClusterProcess);
  internal?.on('request', (req, res) => gateway.app.routing(req, res));
  const address = gateway.app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info(
    { event: 'listening', port, host: config.host, publicUrl: config.publicUrl, providers: config.providers, vad: config.vadEngine, v8Flags, ...(cluster.isWorker ? { process: Number(env[PROCESS_INDEX_ENV]), pid: process.pid, node: config.cluster.nodeId, internalUrl: config.cluster.nodeUrl } : {}) },
    `voice gateway listening on http://${config.host}:${String(port)} (providers: ${config.providers.join(', ')})`,
  );
  if (!config.twilio.authToken && !config.twilio.sharedKeySecret) logger.warn({ event: 'unsigned_twilio' }, 'TWILIO_AUTH_TOKEN is not set: Twilio webhooks are accepted unsigned');
  if (!config.telnyx.publicKey) logger.warn({ event: 'unsigned_telnyx' }, 'TELNYX_PUBLIC_KEY is not set: Telnyx webhooks are accepted unsigned');
  if (config.telnyx.bidirectionalCodec === 'L16') {
    logger.warn({ event: 'texml_l16' }, 'TELNYX_BIDIRECTIONAL_CODEC=L16 applies to Call Control; TeXML <Stream> takes PCMU, PCMA or G722 back, so TeXML calls are answered in PCMU');
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        // Under --processes the primary forwards the signal, and a process manager may signal the
        // whole group too: a second one is not an order to hurry (the primary SIGKILLs for that).
        if (cluster.isWorker) return;
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
          // A cluster process's IPC channel to the primary would keep it alive.
          if (cluster.isWorker) process.disconnect();
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
    // Under --processes a terminal's Ctrl-C reaches the whole process group; the primary turns it
    // into one SIGTERM per process, so a process ignores SIGINT rather than count it as a second signal.
    process.on('SIGINT', () => (cluster.isWorker ? undefined : stop('SIGINT')));
  });
}

/**
 * One of `serve --processes N`'s gateway processes: its own internal listener (the other processes
 * forward API requests for its calls there; the public port is shared, so it cannot be reached by
 * it), and, without Redis, the primary's grant store and call registry over IPC.
 */
/**
 * A gateway process of `--processes` that cannot start (its port taken, a store down) exits at once:
 * its IPC channel and half-made gateway would otherwise keep it alive, and the primary counts quick
 * deaths to stop a crash loop. A single process throws as before (the CLI prints it, exit code 1).
 */
function exitIfClusterProcess(err: unknown): never {
  if (!cluster.isWorker) throw err;
  process.stderr.write(`voice-gateway (process ${String(process.env[PROCESS_INDEX_ENV])}): ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}

/** prom-client's own per-process wait is 5 s; a scrape waits a little longer for the primary's answer. */
const METRICS_TIMEOUT_MS = 6000;

async function asClusterProcess(config: Config): Promise<{ config: Config; overrides: GatewayOverrides; internal: Server }> {
  const internal = createServer();
  // exclusive: a port of this process's own (port 0 in a cluster process is otherwise shared).
  await new Promise<void>((resolve, reject) => {
    internal.once('error', reject);
    internal.listen({ port: 0, host: config.host, exclusive: true }, () => resolve());
  });
  internal.unref();
  const address = internal.address();
  const internalPort = typeof address === 'object' && address ? address.port : 0;
  const nodeUrl = new URL(config.cluster.nodeUrl);
  nodeUrl.port = String(internalPort);
  const withUrl: Config = { ...config, cluster: { ...config.cluster, nodeUrl: nodeUrl.origin } };
  const logger = createLogger({ level: config.logLevel });
  const metrics = createMetrics({ defaultMetrics: true });
  // The primary's AggregatorRegistry asks each process for this registry's metrics; prom-client
  // answers those requests once an AggregatorRegistry exists in the process (its constructor listens).
  AggregatorRegistry.setRegistries([metrics.registry]);
  new AggregatorRegistry();
  const ipc = new IpcClient(process as unknown as ConstructorParameters<typeof IpcClient>[0]);
  const overrides: GatewayOverrides = {
    logger,
    metrics,
    processes: {
      grantStore: new IpcGrantStore(ipc, { errors: metrics.streamGrantStoreErrorsTotal, logger }),
      registryStore: new IpcRegistryStore(ipc),
      metricsText: () => ipc.callWithin<string>(METRICS_TIMEOUT_MS, 'metrics'),
    },
  };
  return { config: withUrl, overrides, internal };
}
