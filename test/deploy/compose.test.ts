/**
 * The shipping files hold together (Docker is not run here, so this reads them): every compose
 * service has an image or a build and a health check; the gateways' environment is a configuration
 * loadConfig accepts and shares REDIS_URL and DATABASE_URL; nginx upgrades WebSockets on both media
 * paths; Prometheus scrapes both nodes (promtool checks the file); Grafana gets the dashboard we ship;
 * the Dockerfile is multi-stage, non-root, health-checked on /health, skips onnxruntime's CUDA download.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { PROMTOOL, requireTool } from '../support/requirements.js';

const DEPLOY = 'deploy';
const read = (path: string) => readFileSync(path, 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string> | string[];
  healthcheck?: { test?: unknown };
  volumes?: string[];
}
const compose = parse(read(join(DEPLOY, 'docker-compose.yml')), { merge: true }) as { services: Record<string, Service> };
const services = Object.entries(compose.services);
const gateways = services.filter(([name]) => name.startsWith('gateway-'));

/** Compose's `${VAR:-default}` / `${VAR}` interpolation, with no variables set (the defaults). */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g, (_m, _name: string, fallback: string | undefined) => fallback ?? '');
}

function envOf(s: Service): Record<string, string> {
  const raw = s.environment ?? {};
  const pairs = Array.isArray(raw) ? raw.map((kv) => kv.split(/=(.*)/s).slice(0, 2) as [string, string]) : Object.entries(raw);
  return Object.fromEntries(pairs.map(([k, v]) => [k, interpolate(String(v))]));
}

describe('deploy/docker-compose.yml', () => {
  it('has two gateway nodes, nginx, Redis, PostgreSQL, Prometheus and Grafana', () => {
    expect(gateways.map(([n]) => n).sort()).toEqual(['gateway-a', 'gateway-b']);
    for (const name of ['nginx', 'redis', 'postgres', 'prometheus', 'grafana']) expect(compose.services[name], name).toBeDefined();
  });

  it.each(services)('%s has an image or a build, and a health check', (_name, s) => {
    expect(s.image !== undefined || s.build !== undefined).toBe(true);
    expect(s.healthcheck?.test).toBeDefined();
  });

  it.each(gateways)('%s: its environment loads through loadConfig and shares Redis and PostgreSQL', (_name, s) => {
    const env = envOf(s);
    const config = loadConfig(env);
    expect(config.media.redisUrl).toMatch(/^redis:\/\/redis:6379/);
    expect(config.calls.databaseUrl).toMatch(/^postgres:\/\/gateway:[^@]+@postgres:5432\/voice_gateway$/);
    expect(config.host).toBe('0.0.0.0');
    expect(config.apiTokens.length).toBeGreaterThan(0);
    // The container's stop grace outlives the drain deadline.
    const grace = /^(\d+)s$/.exec(String((s as { stop_grace_period?: string }).stop_grace_period));
    expect(Number(grace?.[1]) * 1000).toBeGreaterThan(config.shutdownDeadlineMs);
    // Both nodes probe /ready.
    expect(JSON.stringify(s.healthcheck?.test)).toContain('/ready');
  });

  it('mounts files that exist: nginx.conf, Prometheus config and rules, the Grafana dashboard and provisioning', () => {
    for (const [, s] of services) {
      for (const v of s.volumes ?? []) {
        const host = v.split(':')[0];
        if (host.startsWith('.')) expect(existsSync(resolve(DEPLOY, host)), host).toBe(true);
      }
    }
    expect(compose.services.grafana.volumes).toContain('./grafana/voice-gateway.json:/var/lib/grafana/dashboards/voice-gateway.json:ro');
  });
});

describe('deploy/nginx.conf', () => {
  // Comments out: a commented-out directive must not count.
  const conf = read(join(DEPLOY, 'nginx.conf')).replace(/#[^\n]*/g, '');
  const location = (path: string) => {
    const m = new RegExp(`location ${path.replace(/\//g, '\\/')} \\{([^}]*)\\}`).exec(conf);
    return m?.[1] ?? '';
  };

  it.each(['/twilio/media', '/telnyx/media'])('proxies WebSocket upgrades on %s to both gateways', (path) => {
    const block = location(path);
    expect(block).toContain('proxy_pass http://gateways;');
    expect(block).toContain('proxy_http_version 1.1;');
    expect(block).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(block).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    expect(block).toMatch(/proxy_read_timeout \d+s;/);
  });

  it('maps Connection from Upgrade and balances over both gateway services', () => {
    expect(conf).toMatch(/map \$http_upgrade \$connection_upgrade \{[^}]*default upgrade;[^}]*'' +close;/);
    expect(conf).toMatch(/server gateway-a:8080/);
    expect(conf).toMatch(/server gateway-b:8080/);
    expect(location('/')).toContain('X-Forwarded-For');
  });
});

describe('deploy/prometheus/prometheus.yml', () => {
  const prom = parse(read(join(DEPLOY, 'prometheus/prometheus.yml'))) as { scrape_configs: { static_configs: { targets: string[] }[] }[]; rule_files: string[] };

  it('scrapes both gateway nodes directly and loads the alert rules', () => {
    const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    expect(targets.sort()).toEqual(['gateway-a:8080', 'gateway-b:8080']);
    expect(prom.rule_files).toEqual(['alerts.yml']);
  });

  const promtool = requireTool(PROMTOOL);
  it.skipIf(!promtool.path)('promtool check config accepts it (rules included)', async () => {
    const out = await promisify(execFile)(promtool.path!, ['check', 'config', 'prometheus.yml'], { cwd: join(DEPLOY, 'prometheus'), timeout: 30_000 });
    expect(out.stdout + out.stderr).toContain('SUCCESS');
  });
});

describe('Dockerfile', () => {
  const file = read('Dockerfile');

  it('builds in one stage and runs dist/ with production dependencies only, as a non-root user', () => {
    expect(file.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(file).toMatch(/npm prune --omit=dev/);
    expect(file).toMatch(/COPY --from=build .*node_modules/);
    expect(file).toMatch(/^USER node$/m);
    expect(file).toMatch(/ONNXRUNTIME_NODE_INSTALL=skip/);
    expect(file).toMatch(/python3 make g\+\+/);
  });

  it('is health-checked on /health and starts `serve`', () => {
    expect(file).toMatch(/^HEALTHCHECK [\s\S]*\/health/m);
    expect(file).toMatch(/^CMD \["node", "dist\/cli\/bin\.js", "serve"\]$/m);
    expect(existsSync(join(dirname('.'), 'package-lock.json'))).toBe(true);
  });
});
