/**
 * The calls API: the call log (live calls merged with finished ones from the store) and, through
 * ./call-control.ts, placing calls, hanging up and sending DTMF. Everything under /api/v1 needs an
 * API token (requireApiToken).
 *
 * GET /api/v1/calls?state=live|ended|all&limit=1..500&cursor=...  newest first;
 *   live = dialing and live calls, ended = ended and failed ones. `nextCursor` continues the listing.
 * GET /api/v1/calls/:callId  one record, live or stored.
 */
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors.js';
import { liveRecord, type CallRecord, type RecordState } from '../../store/call-record.js';
import type { RouteContext } from '../route-context.js';
import type { CallSnapshot } from '../../calls/call-types.js';
import { requireApiToken } from './edge.js';
import { registerCallControlRoutes } from './call-control.js';


const STATES: Record<string, readonly RecordState[]> = {
  live: ['dialing', 'live'],
  ended: ['ended', 'failed'],
  all: ['dialing', 'live', 'ended', 'failed'],
};
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

/**
 * The listing's query: a closed list of names and of `state` values. Without it `?state=__proto__`
 * found Object.prototype in STATES and answered 500. Ajv (fastify's validator) checks it; the route
 * turns a failure into our 400 naming the parameter.
 */
const LIST_QUERY = {
  type: 'object',
  properties: {
    state: { type: 'string', enum: Object.keys(STATES) },
    limit: { type: 'string', maxLength: 4 },
    cursor: { type: 'string', maxLength: 400 },
  },
  additionalProperties: false,
} as const;

/** Unknown names are refused, not silently dropped (fastify's Ajv would strip them otherwise). */
function checkQueryNames(query: unknown): void {
  if (!query || typeof query !== 'object') return;
  for (const name of Object.keys(query)) {
    if (!Object.hasOwn(LIST_QUERY.properties, name)) {
      throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', `unknown query parameter '${name.slice(0, 40)}' (known: state, limit, cursor)`);
    }
  }
}

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  if (!/^\d{1,4}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_LIMIT) {
    throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', `'limit' must be a whole number from 1 to ${String(MAX_LIMIT)}, got '${raw.slice(0, 20)}'`);
  }
  return Number(raw);
}

export function registerCallsApi(app: FastifyInstance, ctx: RouteContext): void {
  const onRequest = requireApiToken(ctx);

  const registry = ctx.registry;
  /** With the call registry (REDIS_URL) a live record says which node holds it (`node`). */
  const onNode = (r: CallRecord, node: string | undefined): CallRecord => (registry && node !== undefined ? { ...r, node } : r);

  /** A live call's fresh record, or the stored one (from the shared log when there is one). */
  const recordOf = async (callId: string, stored?: CallRecord, remote?: Map<string, { nodeId: string; record: Record<string, unknown> }>): Promise<CallRecord | undefined> => {
    const call = ctx.calls.get(callId);
    if (call) return onNode(liveRecord(call.snapshot(), stored ?? (await ctx.callRecords?.get(callId))), registry?.nodeId);
    const held = remote ? remote.get(callId) : await registry?.remoteOwner(callId);
    if (held) return onNode(liveRecord(held.record as unknown as CallSnapshot, stored ?? (await ctx.callRecords?.get(callId))), held.nodeId);
    return stored ?? (await ctx.callRecords?.get(callId));
  };

  app.get<{ Querystring: { state?: string; limit?: string; cursor?: string } }>('/api/v1/calls', {
    onRequest,
    preValidation: async (request) => checkQueryNames(request.query),
    schema: { querystring: LIST_QUERY },
    attachValidation: true,
  }, async (request) => {
    if (request.validationError) {
      const v = request.validationError.validation[0] as { instancePath?: string; params?: Record<string, unknown> } | undefined;
      const name = v?.instancePath?.replace(/^\//, '') ?? '';
      throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', `query parameter '${name || 'query'}' is not valid: ${request.validationError.message.slice(0, 200)}`);
    }
    const q = request.query;
    const stateName = q.state ?? 'all';
    const states = Object.hasOwn(STATES, stateName) ? STATES[stateName] : undefined;
    if (!states) throw new GatewayError('GW_ERR_HTTP_BAD_REQUEST', `'state' must be live, ended or all, got '${stateName.slice(0, 20)}'`);
    const limit = parseLimit(q.limit);
    const records = ctx.callRecords;
    // Other nodes' live calls (REDIS_URL); a registry that cannot answer lists this node's only.
    const remote = new Map((stateName !== 'ended' && registry ? await registry.remoteCalls() : []).map((e) => [e.callId, e]));
    if (!records) {
      const local = stateName === 'ended' ? [] : ctx.calls.list().map((c) => onNode(liveRecord(c.snapshot(), undefined), registry?.nodeId));
      const others = [...remote.values()].map((e) => onNode(liveRecord(e.record as unknown as CallSnapshot, undefined), e.nodeId));
      const live = [...local, ...others].sort((x, y) => (x.createdAt < y.createdAt ? 1 : -1));
      return { calls: live.slice(0, limit), nextCursor: null };
    }
    // Calls that started this instant are still in the recorder's batch: list() writes it first.
    const page = await records.list({ states, limit, cursor: q.cursor });
    const calls = await Promise.all(page.records.map(async (r) => (await recordOf(r.callId, r, remote)) ?? r));
    if (remote.size === 0 || q.cursor !== undefined) return { calls, nextCursor: page.nextCursor };
    // Other nodes' live calls this node's log does not hold (no shared DATABASE_URL) head the first page.
    const seen = new Set(calls.map((c) => c.callId));
    const others = [...remote.values()].filter((e) => !seen.has(e.callId)).map((e) => onNode(liveRecord(e.record as unknown as CallSnapshot, undefined), e.nodeId));
    const merged = [...others, ...calls].sort((x, y) => (x.createdAt < y.createdAt ? 1 : -1));
    return { calls: merged.slice(0, limit), nextCursor: page.nextCursor };
  });

  app.get<{ Params: { callId: string } }>('/api/v1/calls/:callId', { onRequest }, async (request) => {
    const record = await recordOf(request.params.callId);
    if (!record) throw new GatewayError('GW_ERR_CALL_NOT_FOUND', `'${request.params.callId}'`);
    return record;
  });

  registerCallControlRoutes(app, ctx, onRequest);
}
