/**
 * The Grafana dashboard and the Prometheus alerts query only metrics the gateway really exports, with
 * labels it really sets: a renamed metric or label fails here, not silently on an operator's screen.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/observability/metrics.js';

const metrics = createMetrics({ defaultMetrics: true });
afterAll(() => metrics.close());

/** Every series name the registry can expose, with the label names each may carry. */
function exported(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const m of metrics.registry.getMetricsAsArray()) {
    const { name, labelNames, type } = m as unknown as { name: string; labelNames: readonly string[]; type?: string };
    const labels = new Set(labelNames);
    const kind = type ?? (m.constructor.name.toLowerCase());
    out.set(name, labels);
    if (kind === 'histogram') {
      out.set(`${name}_bucket`, new Set([...labels, 'le']));
      out.set(`${name}_sum`, labels);
      out.set(`${name}_count`, labels);
    }
    if (kind === 'summary') {
      out.set(`${name}_sum`, labels);
      out.set(`${name}_count`, labels);
    }
  }
  return out;
}

/** Metric selectors in a PromQL expression: name and the label names it matches on. */
function selectors(expr: string): { name: string; labels: string[] }[] {
  const out: { name: string; labels: string[] }[] = [];
  for (const m of expr.matchAll(/\b(voice_gateway_[a-z0-9_]+)(\{([^}]*)\})?/g)) {
    const labels = m[3] ? [...m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map((l) => l[1]) : [];
    out.push({ name: m[1], labels });
  }
  return out;
}

/** Labels that come from Prometheus (the scrape), not from the gateway. */
const SCRAPE_LABELS = new Set(['job', 'instance']);

function checkExpr(where: string, expr: string, names: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  for (const s of selectors(expr)) {
    const labels = names.get(s.name);
    if (!labels) {
      problems.push(`${where}: ${s.name} is not a metric the gateway exports`);
      continue;
    }
    for (const l of s.labels) if (!labels.has(l) && !SCRAPE_LABELS.has(l)) problems.push(`${where}: ${s.name} has no label '${l}'`);
  }
  return problems;
}

interface Panel {
  type: string;
  title: string;
  description?: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

describe('deploy/ observability assets', () => {
  const names = exported();

  it('the dashboard queries only exported metrics and labels, and covers what operators need', () => {
    const dash = JSON.parse(readFileSync('deploy/grafana/voice-gateway.json', 'utf8')) as { panels: Panel[]; templating: { list: { query?: unknown }[] } };
    const panels = dash.panels.filter((p) => p.type !== 'row');
    const problems: string[] = [];
    const queried = new Set<string>();
    for (const p of panels) {
      expect(p.description, `panel '${p.title}' says what it means`).toBeTruthy();
      expect(p.targets?.length, `panel '${p.title}' has a query`).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        problems.push(...checkExpr(`panel '${p.title}'`, t.expr, names));
        for (const s of selectors(t.expr)) queried.add(s.name.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    for (const v of dash.templating.list) if (v.query) problems.push(...checkExpr('variable', JSON.stringify(v.query), names));
    expect(problems).toEqual([]);
    // The list: calls, frames in/out/dropped, pipeline and reply latency, pacing jitter,
    // event-loop delay, VAD fallbacks, per-provider errors, breaker state and switches, WebRTC sessions and concealment.
    for (const need of [
      'voice_gateway_calls_active', 'voice_gateway_calls_total', 'voice_gateway_frames_in_total', 'voice_gateway_frames_out_total',
      'voice_gateway_frames_dropped_total', 'voice_gateway_pipeline_frame_latency_seconds', 'voice_gateway_provider_latency_seconds',
      'voice_gateway_egress_frame_jitter_seconds', 'voice_gateway_event_loop_lag_seconds', 'voice_gateway_vad_fallbacks_total',
      'voice_gateway_provider_errors_total', 'voice_gateway_circuit_breaker_state', 'voice_gateway_provider_switches_total',
      'voice_gateway_webrtc_sessions_active', 'voice_gateway_webrtc_packets_concealed_total',
    ]) {
      expect(queried, `a panel shows ${need}`).toContain(need);
    }
  });

  it('the alert rules query only exported metrics and labels', () => {
    const text = readFileSync('deploy/prometheus/alerts.yml', 'utf8');
    const exprs = [...text.matchAll(/expr: \|\n((?: {10}.*\n)+)|expr: (.*)\n/g)].map((m) => m[1] ?? m[2]);
    const alerts = [...text.matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    expect(exprs).toHaveLength(alerts.length);
    const problems = exprs.flatMap((e, i) => checkExpr(`alert ${alerts[i]}`, e, names));
    expect(problems).toEqual([]);
  });

  it('every alert has a promtool unit test that expects it to fire', () => {
    const alerts = [...readFileSync('deploy/prometheus/alerts.yml', 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    const tests = readFileSync('deploy/prometheus/alerts.test.yml', 'utf8');
    for (const a of alerts) {
      const firing = new RegExp(`alertname: ${a}\\n\\s+exp_alerts:\\n\\s+- exp_labels`);
      expect(tests, `${a} has a firing case`).toMatch(firing);
      expect(tests, `${a} has a quiet case`).toMatch(new RegExp(`alertname: ${a}\\n\\s+exp_alerts: \\[\\]`));
    }
  });
});
