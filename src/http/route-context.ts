/**
 * What every route plugin is handed: the app's dependencies plus the stream tokens and the media URL
 * base, and the one way a route rejects a request at the edge. Its own module so the routes do not
 * import app.ts, which imports them.
 */
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { CallManager } from '../calls/call-manager.js';
import type { CallRegistry } from '../calls/call-registry.js';
import type { TelnyxCallControl } from '../carriers/telnyx/call-control.js';
import type { CallControl } from '../carriers/call-control.js';
import type { CarrierLegs } from '../carriers/telnyx/legs.js';
import type { CallRecords } from '../store/call-records.js';
import type { GatewayError } from '../errors.js';
import type { StreamTokens } from './security/stream-tokens.js';
import type { GrantStore } from '../store/grant-store.js';

export interface AppDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly calls: CallManager;
  readonly tokens?: StreamTokens;
  /** REDIS_URL: the store one-time grants (stream and browser session tokens) share across nodes. */
  readonly grantStore?: GrantStore;
  /** Worker pool up and the like; draining is checked separately. */
  readonly isReady?: () => boolean;
  readonly telnyxCallControl?: TelnyxCallControl;
  /** The call log; without it the API lists live calls only. */
  readonly callRecords?: CallRecords;
  /** Outbound calls, hangup, DTMF, carrier status folding. */
  readonly callControl?: CallControl;
  /** Hangs up Telnyx Call Control legs when their call ends on our side. */
  readonly legs?: CarrierLegs;
  readonly now?: () => number;
  /** REDIS_URL: which node holds each live call (listing and forwarding across nodes). */
  readonly registry?: CallRegistry;
  /** `serve --processes N`: /metrics answers with every process's metrics, aggregated by the primary. */
  readonly metricsText?: () => Promise<string>;
}

export type RouteContext = AppDeps & { readonly tokens: StreamTokens; readonly wsBase: string };

/** Reject at the edge: 403, a reason in the log (never the secret), a metric. */
export function rejectEdge(
  ctx: RouteContext,
  request: FastifyRequest,
  route: string,
  err: GatewayError,
  reason: string,
): GatewayError {
  ctx.metrics.webhookRejectedTotal.inc({ route, reason });
  request.log.warn({ event: 'edge_rejected', route, reason, ip: request.ip }, err.message);
  return err;
}
