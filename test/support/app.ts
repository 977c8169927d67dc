/** An in-process gateway for inject()-style HTTP tests: energy VAD, no worker pool, captured logs. */
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.js';
import { createGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';

export interface InjectGateway {
  gateway: Gateway;
  logs: Record<string, unknown>[];
  rawLogs: string[];
}

export async function injectGateway(env: Record<string, string>, now?: () => number): Promise<InjectGateway> {
  const config = loadConfig({ VAD_ENGINE: 'energy', LOG_LEVEL: 'debug', SHUTDOWN_DEADLINE_MS: '0', CALL_RECORD_PATH: ':memory:', ...env });
  const rawLogs: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        rawLogs.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  const gateway = await createGateway(config, { logger: createLogger({ level: 'debug', destination }), metrics: createMetrics(), now });
  await gateway.app.ready();
  return { gateway, logs, rawLogs };
}
