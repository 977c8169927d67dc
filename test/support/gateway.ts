/** Starts a real gateway on a loopback port for end-to-end tests, capturing its JSON logs. */
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { freePort } from '../../src/util/net.js';

export interface TestGateway {
  readonly gateway: Gateway;
  readonly baseUrl: string;
  readonly logs: Record<string, unknown>[];
  readonly rawLogs: string[];
  close(): Promise<void>;
}

export { freePort };

export async function startTestGateway(env: Record<string, string> = {}): Promise<TestGateway> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${String(port)}`;
  const config = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: baseUrl,
    LOG_LEVEL: 'debug',
    WORKER_POOL_SIZE: '1',
    SHUTDOWN_DEADLINE_MS: '0',
    // Each test gateway keeps its own call log in memory, not in the repo's ./data.
    CALL_RECORD_PATH: ':memory:',
    ...env,
  });
  const rawLogs: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        rawLogs.push(line);
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          /* not JSON: kept in rawLogs */
        }
      }
      cb();
    },
  });
  const logger = createLogger({ level: config.logLevel, destination });
  const gateway = await createGateway(config, { logger, metrics: createMetrics() });
  await gateway.app.listen({ port, host: '127.0.0.1' });
  return { gateway, baseUrl, logs, rawLogs, close: () => gateway.close(0) };
}

export async function metricValue(gateway: Gateway, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = gateway.metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const data = await metric.get();
  let total = 0;
  for (const v of data.values) {
    const l = v.labels as Record<string, string | number>;
    if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) total += v.value;
  }
  return total;
}
